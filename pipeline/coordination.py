"""Coordination: accounts that posted the same media within a time window of each other.

Researchers of coordinated behaviour look for accounts posting the same thing
within seconds or minutes (the QUT coordination-network-toolkit's symmetric
window, CooRTweet's 10 s), not for accounts that ever shared a picture: at
archive scale a few viral pictures, logos and blank frames link nearly
everyone. Here the shared object is a near-duplicate cluster, so re-edited
copies count as the same post.

Two posts co-occur when they are members of one cluster, by two different
accounts, at most ``window_s`` apart: the window is symmetric around each
post, not fixed bins. The posts of each cluster are sorted once and paired
by two pointers, so a viral cluster costs what its co-occurring pairs cost,
never all its pairs.

An edge's weight is the number of distinct clusters the two accounts
co-posted (with the number of co-posting pairs beside it), and it carries
its evidence: cluster ids, both post ids and times, and the delay.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

from hashtrail.pipeline.errors import HashtrailError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_EVIDENCE = 50  # co-posts kept per edge (the counts are always complete)


class BadWindow(HashtrailError):
    """A time window that is not a duration such as 60s, 10m, 2h or 1d."""


def parse_window(text: str) -> float:
    """'60s', '10m', '2h', '1d', '1.5h' or plain seconds, as seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text).lower())
    if not found:
        raise BadWindow(f"window {text!r} is not a duration: use e.g. 10s, 60s, 10m, 2h, 1d")
    seconds = float(found[1]) * UNITS[found[2] or "s"]
    if seconds <= 0:
        raise BadWindow("the window must be longer than 0 s")
    return seconds


@dataclasses.dataclass
class Posts:
    """Clustered posts, one row each: which cluster, which account, when (epoch seconds), which post."""

    cluster: np.ndarray  # int64
    account: np.ndarray  # int64 code into ``names``
    time_s: np.ndarray  # float64, NaN when unknown
    post: list  # post id strings (None where unknown)
    media: np.ndarray  # int64 media ids
    names: list  # account code -> account

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> "Posts":
        """From (cluster_id, account, post_id, posted_at ISO, media_id) rows."""
        names, codes = np.unique(np.array([r[1] or "" for r in rows], dtype=object), return_inverse=True)
        stamps = np.array([(r[3] or "NaT")[:19] for r in rows], dtype="datetime64[s]")
        times = stamps.astype("int64").astype(np.float64)
        times[np.isnat(stamps)] = np.nan
        return cls(np.array([r[0] for r in rows], dtype=np.int64), codes.astype(np.int64), times,
                   [r[2] for r in rows], np.array([r[4] for r in rows], dtype=np.int64), list(names))


@dataclasses.dataclass
class Edge:
    source: str
    target: str
    weight: int  # distinct clusters co-posted within the window
    co_posts: int  # pairs of posts within the window
    clusters: list
    first: str | None  # the earliest and latest co-posting post
    last: str | None
    median_delay_s: float | None
    evidence: list  # up to MAX_EVIDENCE co-posts: cluster, both posts and times, the delay
    delays: np.ndarray = dataclasses.field(repr=False, default=None)  # every co-post's delay, for groups

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("source", "target", "weight", "co_posts", "clusters", "first", "last",
                                             "median_delay_s", "evidence")}


def co_post_pairs(posts: Posts, window_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Row index pairs (i, j), i posted no later than j, of one cluster, by two accounts, within the window.

    ``window_s`` None: every pair of a cluster counts (no time condition, the
    old co-sharing graph), undated posts included.
    """
    if window_s is not None:
        dated = ~np.isnan(posts.time_s)
        rows = np.nonzero(dated)[0]
    else:
        rows = np.arange(len(posts.cluster))
    # whole seconds (post times have no finer grain), so that (cluster, time) packs into one int64 key
    time = np.where(np.isnan(posts.time_s), 0, posts.time_s).astype(np.int64)
    time -= time.min() if len(time) else 0
    order = rows[np.lexsort((time[rows], posts.cluster[rows]))]
    cl = posts.cluster[order]
    # per row: the first row past its window within its cluster (two pointers, vectorised)
    end_of_cluster = np.searchsorted(cl, cl, side="right")
    if window_s is None:
        ends = end_of_cluster
    else:
        key = (cl << 33) + time[order]  # media ids < 2^30, times < 2^33 s after the earliest
        ends = np.minimum(np.searchsorted(key, key + int(window_s), side="right"), end_of_cluster)
    counts = ends - np.arange(len(order)) - 1
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.repeat(np.arange(len(order)), counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    second = first + 1 + offset
    i, j = order[first], order[second]
    different = posts.account[i] != posts.account[j]
    return i[different], j[different]


def co_sharing_edges(posts: Posts, window_s: float | None, min_weight: int = 1, evidence: bool = False,
                     min_accounts: int = 2) -> list[Edge]:
    """The account network: one edge per pair of accounts with co-posts, strongest first.

    ``evidence``: keep up to MAX_EVIDENCE co-posts per edge (for JSON; the
    counts are complete either way). ``min_accounts``: only clusters posted
    by at least that many accounts count.
    """
    if min_accounts > 2:
        distinct = np.unique(np.column_stack([posts.cluster, posts.account]), axis=0)[:, 0]
        big, per = np.unique(distinct, return_counts=True)
        keep = np.isin(posts.cluster, big[per >= min_accounts])
        posts = Posts(posts.cluster[keep], posts.account[keep], posts.time_s[keep],
                      [p for p, k in zip(posts.post, keep) if k], posts.media[keep], posts.names)
    if window_s is None:  # ever shared: one post per (cluster, account), as the plain co-sharing graph counts
        _, first = np.unique(np.column_stack([posts.cluster, posts.account]), axis=0, return_index=True)
        first.sort()
        posts = Posts(posts.cluster[first], posts.account[first], posts.time_s[first],
                      [posts.post[k] for k in first.tolist()], posts.media[first], posts.names)
    i, j = co_post_pairs(posts, window_s)
    if len(i) == 0:
        return []
    a, b = np.minimum(posts.account[i], posts.account[j]), np.maximum(posts.account[i], posts.account[j])
    pair = a * len(posts.names) + b
    pairs, pair_index, co_posts = np.unique(pair, return_inverse=True, return_counts=True)
    cluster_of_pair = np.unique(np.column_stack([pair_index, posts.cluster[i]]), axis=0)
    weights = np.bincount(cluster_of_pair[:, 0], minlength=len(pairs))
    strong = np.flatnonzero(weights >= min_weight)
    clusters_by_pair = np.split(cluster_of_pair[:, 1], np.flatnonzero(np.diff(cluster_of_pair[:, 0])) + 1)
    # per pair, vectorised (an archive gives millions of edges): first and last co-post, median delay
    order = np.lexsort((posts.time_s[j], pair_index))
    grouped = pair_index[order]
    bounds = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])  # segment starts, one per pair
    first = np.minimum.reduceat(np.fmin(posts.time_s[i], posts.time_s[j])[order], bounds)
    last = np.maximum.reduceat(np.fmax(posts.time_s[i], posts.time_s[j])[order], bounds)
    delay = np.abs(posts.time_s[j] - posts.time_s[i])
    sorted_delay = delay[np.lexsort((delay, pair_index))]  # NaN (undated) sorts last within a pair
    dated = np.bincount(pair_index, weights=~np.isnan(delay), minlength=len(pairs)).astype(np.int64)
    low = bounds + np.maximum(dated - 1, 0) // 2
    high = bounds + np.maximum(dated, 1) // 2
    median = np.where(dated > 0, (sorted_delay[low] + sorted_delay[np.minimum(high, len(sorted_delay) - 1)]) / 2,
                      np.nan)
    median = np.where(dated % 2 == 1, sorted_delay[low], median)
    first_iso, last_iso = _iso_all(first), _iso_all(last)
    stops = np.r_[bounds[1:], len(order)]
    n = len(posts.names)
    edges = []
    for p in strong.tolist():
        found = []
        for k in (order[bounds[p]:min(stops[p], bounds[p] + MAX_EVIDENCE)] if evidence else ()):
            x, y = int(i[k]), int(j[k])
            found.append({"cluster": int(posts.cluster[x]),
                          "source_post": posts.post[x], "source_time": _iso(posts.time_s[x]),
                          "source_account": posts.names[posts.account[x]],
                          "target_post": posts.post[y], "target_time": _iso(posts.time_s[y]),
                          "target_account": posts.names[posts.account[y]],
                          "delay_s": None if np.isnan(delay[k]) else float(delay[k])})
        code = int(pairs[p])
        edges.append(Edge(posts.names[code // n], posts.names[code % n], int(weights[p]), int(co_posts[p]),
                          clusters_by_pair[p].tolist(), first_iso[p], last_iso[p],
                          None if np.isnan(median[p]) else float(median[p]), found,
                          sorted_delay[bounds[p]:bounds[p] + dated[p]]))
    edges.sort(key=lambda e: (-e.weight, -e.co_posts, e.source, e.target))
    return edges


def _iso_all(seconds: np.ndarray) -> list:
    """Epoch seconds as ISO strings, all at once (None for NaN)."""
    known = ~np.isnan(seconds)
    text = np.full(len(seconds), None, dtype=object)
    if known.any():
        text[known] = np.char.add(np.datetime_as_string(seconds[known].astype("int64").astype("datetime64[s]")),
                                  "+00:00")
    return text.tolist()


def _iso(seconds: float) -> str | None:
    if np.isnan(seconds):
        return None
    return np.datetime_as_string(np.datetime64(int(seconds), "s")) + "+00:00"


def coordinated_groups(edges: list[Edge], min_accounts: int = 2, louvain_seed: int = 1) -> list[dict]:
    """Connected components of the windowed network, each with its Louvain communities.

    A group lists its accounts, the clusters they co-posted, its time span and
    the median delay of its co-posts; largest groups first.
    """
    import networkx as nx

    graph = nx.Graph()
    for e in edges:
        graph.add_edge(e.source, e.target, weight=e.weight, edge=e)
    groups = []
    for component in nx.connected_components(graph):
        if len(component) < min_accounts:
            continue
        sub = graph.subgraph(component)
        inner = [d["edge"] for _, _, d in sub.edges(data=True)]
        clusters = sorted({c for e in inner for c in e.clusters})
        firsts = [e.first for e in inner if e.first]
        lasts = [e.last for e in inner if e.last]
        delays = np.concatenate([e.delays for e in inner if e.delays is not None] or [np.zeros(0)])
        communities = nx.community.louvain_communities(sub, weight="weight", seed=louvain_seed) \
            if len(component) > 2 else [set(component)]
        groups.append({"accounts": sorted(component), "size": len(component), "clusters": clusters,
                       "edges": len(inner), "co_posts": sum(e.co_posts for e in inner),
                       "first": min(firsts) if firsts else None, "last": max(lasts) if lasts else None,
                       "median_delay_s": float(np.median(delays)) if len(delays) else None,
                       "communities": sorted((sorted(c) for c in communities), key=lambda c: (-len(c), c))})
    groups.sort(key=lambda g: (-g["size"], -len(g["clusters"]), g["accounts"]))
    for number, g in enumerate(groups, 1):
        g["group"] = number
    return groups


def flag_fast_reposts(cluster: dict, window_s: float) -> dict:
    """Mark each member posted within ``window_s`` after a post of the same cluster by another account.

    Adds ``fast_repost`` (true/false, None when undated) to each member and
    ``fast_reposts`` (how many) and ``window_s`` to the cluster.
    """
    members = cluster["members"]
    times = [np.datetime64(m["posted_at"][:19], "s").astype(np.int64) if m.get("posted_at") else None
             for m in members]
    dated = sorted((t, k) for k, t in enumerate(times) if t is not None)
    fast = [None if t is None else False for t in times]
    for n, (t, k) in enumerate(dated):
        back = n - 1
        while back >= 0 and t - dated[back][0] <= window_s:
            if members[dated[back][1]].get("account") != members[k].get("account"):
                fast[k] = True
                break
            back -= 1
    flagged = [{**m, "fast_repost": f} for m, f in zip(members, fast)]
    return {**cluster, "fast_reposts": sum(1 for f in fast if f), "window_s": window_s, "members": flagged}


def fast_reposts_by_cluster(posts: Posts, window_s: float) -> dict[int, int]:
    """Co-posting pairs within the window, per cluster (for sorting clusters by coordination)."""
    i, _ = co_post_pairs(posts, window_s)
    clusters, counts = np.unique(posts.cluster[i], return_counts=True)
    return dict(zip(clusters.tolist(), counts.tolist()))
