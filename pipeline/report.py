"""Turn store query results into what users read: tables, JSON lines, CSV.

Pure functions from dicts to text, so the CLI stays thin and every format is
testable without a terminal.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os

from hashtrail.pipeline.store import Store

MEMBER_FIELDS = ("media_id", "path", "account", "post_id", "kind", "distance", "via", "via_media", "via_transform",
                 "posted_at", "delay_s", "duration_s", "frames", "matches")


def short_path(member: dict) -> str:
    """Path relative to the scanned root, for tables (JSON and CSV keep it absolute)."""
    root = member.get("root")
    return os.path.relpath(member["path"], root) if root and member["path"].startswith(root) else member["path"]


def with_history(cluster: dict) -> dict:
    """Add first_seen, first_account and each member's delay after it.

    Members come from the store in post-time order (unknown times last), so
    the first dated member is who posted the media first; ``delay_s`` is how
    long after that each repost came.
    """
    dated = [m for m in cluster["members"] if m.get("posted_at")]
    first = dated[0] if dated else None
    start = dt.datetime.fromisoformat(first["posted_at"]) if first else None
    members = [{**m, "delay_s": int((dt.datetime.fromisoformat(m["posted_at"]) - start).total_seconds())
                if start and m.get("posted_at") else None} for m in cluster["members"]]
    head = {k: v for k, v in cluster.items() if k != "members"}
    return {**head, "first_seen": first["posted_at"] if first else None,
            "first_account": first["account"] if first else None, "members": members}


def with_frames(store: Store, cluster: dict) -> dict:
    """Add which frames matched, for members that are videos or animations, and the kinds present.

    Each member's ``matches`` lists the other members it matched frame by
    frame, from its own side: how many of its frames matched, and example
    [its time, their time] pairs in seconds (None for a still).
    """
    ids = {m["media_id"] for m in cluster["members"]}
    by_member: dict[int, list[dict]] = {}
    for fm in store.frame_matches(sorted(ids)):
        if fm["media_a"] not in ids or fm["media_b"] not in ids:
            continue
        for me, other, mine, of_mine, theirs, of_theirs, flip in (
                ("media_a", "media_b", "frames_a", "of_a", "frames_b", "of_b", False),
                ("media_b", "media_a", "frames_b", "of_b", "frames_a", "of_a", True)):
            by_member.setdefault(fm[me], []).append({
                "media_id": fm[other], "frames_matched": fm[mine], "frames": fm[of_mine],
                "their_frames_matched": fm[theirs], "their_frames": fm[of_theirs],
                "times": [[b, a] for a, b in fm["times"]] if flip else fm["times"]})
    kinds: dict[str, int] = {}
    for m in cluster["members"]:
        kinds[m.get("kind") or "unknown"] = kinds.get(m.get("kind") or "unknown", 0) + 1
    members = [{**m, "matches": by_member.get(m["media_id"], [])} for m in cluster["members"]]
    return {**cluster, "kinds": kinds, "members": members}


def clock(seconds: float | None) -> str:
    """0:04.2 / 1:02:03.0: a frame's time as a video player shows it."""
    if seconds is None:
        return "still"
    minutes, rest = divmod(float(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes}:{rest:04.1f}"


def matches_text(member: dict, at_most: int | None = None) -> str:
    """'3/8 frames ~ #12 (0:04.0=0:01.2, ...)' for a table line; '' for plain stills."""
    parts = []
    matches = sorted(member.get("matches") or (), key=lambda m: (-m["frames_matched"], m["media_id"]))
    for m in matches[:at_most]:
        times = ", ".join(f"{clock(a)}={clock(b)}" for a, b in m["times"][:3])
        parts.append(f"{m['frames_matched']}/{m['frames']} frames ~ #{m['media_id']} ({times})")
    if at_most is not None and len(matches) > at_most:
        parts.append(f"{len(matches) - at_most} more in --format json")
    return "; ".join(parts)


def _kinds_text(kinds: dict | None) -> str:
    if not kinds or set(kinds) == {"image"}:
        return ""
    return " (" + ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items())) + ")"


def _who(account: str | None) -> str:
    return account or "an unknown account"


def clusters_with_members(store: Store, min_accounts: int, limit: int | None) -> list[dict]:
    summaries = store.cluster_summaries(min_accounts=min_accounts, limit=limit)
    members = store.cluster_members([s["cluster"] for s in summaries])
    return [with_frames(store, with_history({**s, "members": members[s["cluster"]]})) for s in summaries]


def public(cluster: dict) -> dict:
    """A cluster with the member keys of ``clusters --format json`` (and of the Python API)."""
    return {**cluster, "members": [{k: m.get(k) for k in MEMBER_FIELDS} for m in cluster["members"]]}


def cluster_report(store: Store, cluster_id: int) -> dict:
    """One cluster with its history and frame matches, every member field kept (``show``)."""
    return with_frames(store, with_history(store.cluster(cluster_id)))


def _cell(value):
    if isinstance(value, list):  # frame matches, flattened for a spreadsheet cell
        return matches_text({"matches": value}) or None
    return value


def as_json_lines(items: list[dict]) -> str:
    return "".join(json.dumps(public(item)) + "\n" for item in items)


def clusters_csv(clusters: list[dict]) -> str:
    """One row per member, so spreadsheets and pandas get a flat table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["cluster", "size", "accounts", "first_seen", "first_account", *MEMBER_FIELDS])
    for c in clusters:
        for m in c["members"]:
            writer.writerow([c["cluster"], c["size"], c["accounts"], c["first_seen"], c["first_account"],
                             *(_cell(m.get(k)) for k in MEMBER_FIELDS)])
    return out.getvalue()


def clusters_table(clusters: list[dict], max_members: int = 5) -> str:
    if not clusters:
        return "no clusters of 2 or more media (run 'hashtrail scan PATH' first?)\n"
    lines = []
    for c in clusters:
        first = f"; first seen {c['first_seen']} ({_who(c['first_account'])})" if c.get("first_seen") else ""
        lines.append(f"cluster {c['cluster']}: {c['size']} media{_kinds_text(c.get('kinds'))}, "
                     f"{c['accounts']} accounts{first}")
        for m in c["members"][:max_members]:
            lines.append(f"  {_delay(m.get('delay_s')):>8}  d={_d(m['distance']):>2}  {m['account'] or '-':<16.16}  "
                         f"{short_path(m)}")
        if len(c["members"]) > max_members:
            lines.append(f"  ... {len(c['members']) - max_members} more: hashtrail show {c['cluster']}")
    return "\n".join(lines) + "\n"


def cluster_detail(cluster: dict) -> str:
    lines = [f"cluster {cluster['cluster']}: {cluster['size']} media{_kinds_text(cluster.get('kinds'))}, "
             f"{cluster['accounts']} accounts"]
    if cluster.get("first_seen"):
        lines.append(f"first seen {cluster['first_seen']} from {_who(cluster['first_account'])}; members in post order, "
                     "with the delay after the first post")
    lines.append("d = pHash bits from the representative (lowest media id); 0 for byte-identical copies; "
                 "'via' = a member linked only through a hard edit (mirror, crop window, caption removed, rotation)")
    by_account: dict[str, int] = {}
    for m in cluster["members"]:
        by_account[m["account"] or "-"] = by_account.get(m["account"] or "-", 0) + 1
    lines.append("accounts: " + ", ".join(f"{a} ({n})" for a, n in sorted(by_account.items(), key=lambda x: -x[1])))
    for m in cluster["members"]:
        size = f"{m['width']}x{m['height']}" if m.get("width") else "?"
        length = f" {clock(m['duration_s'])}" if m.get("duration_s") is not None else ""
        lines.append(f"  {_delay(m.get('delay_s')):>8}  d={_d(m['distance']):>2}  #{m['media_id']:<6} "
                     f"{m['format'] or '?':<5} {size:>11}{length}  "
                     f"{m['account'] or '-':<16.16}  post {m['post_id'] or '-':<20}  {short_path(m)}")
        if m.get("via") not in (None, "plain"):
            lines.append(f"            via {m['via']}: {m['via_transform']}")
        if m.get("matches"):
            lines.append(f"            frames: {matches_text(m, at_most=3)}")
    return "\n".join(lines) + "\n"


def status_text(counts: dict, max_failures: int = 20) -> str:
    lines = [f"fingerprinted {counts['fingerprinted']}, failed {counts['failed']}, "
             f"skipped {counts['skipped']}" + (f", pending {counts['pending']}" if counts.get("pending") else "")
             + (f", missing {counts['missing']}" if counts.get("missing") else "")
             + f"; {counts['clusters']} clusters"]
    for kind, by_status in sorted(counts["by_kind"].items()):
        lines.append(f"  {kind:<10} " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
    last = counts.get("last_scan")
    if last:
        state = f"finished {last['finished_at']}" if last.get("finished_at") else "running"
        lines.append(f"last {'job' if last['mode'] == 'distributed' else 'scan'} {last['id']} ({last['mode']}): "
                     f"started {last['started_at']}, {state}")
    failures = counts["failures"]
    if failures:
        lines.append(f"failures ({len(failures)}):")
        for f in failures[:max_failures]:
            lines.append(f"  {f['path']}: {f['reason']}")
        if len(failures) > max_failures:
            lines.append(f"  ... {len(failures) - max_failures} more (--format json lists all)")
    return "\n".join(lines) + "\n"


def _d(distance) -> str:
    return "?" if distance is None else str(distance)


def _delay(seconds: int | None) -> str:
    """'first', '+45s', '+3h12m', '+2d4h', or '' when the post time is unknown."""
    if seconds is None:
        return ""
    if seconds == 0:
        return "first"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"+{days}d{hours % 24}h"
    if hours:
        return f"+{hours}h{minutes % 60:02d}m"
    return f"+{minutes}m" if minutes else f"+{seconds}s"


def accounts_report(store: Store, top: int = 3) -> list[dict]:
    """Per account: media posted, media shared with others, and who it shares most with."""
    partners: dict[str, list[tuple[str, int]]] = {}
    for edge in store.account_edges():
        partners.setdefault(edge["source"], []).append((edge["target"], edge["weight"]))
        partners.setdefault(edge["target"], []).append((edge["source"], edge["weight"]))
    out = []
    for row in store.account_summaries():
        best = sorted(partners.get(row["account"], []), key=lambda p: (-p[1], p[0]))[:top]
        out.append({**row, "shares_most_with": [{"account": a, "clusters": n} for a, n in best]})
    return out


def accounts_table(rows: list[dict]) -> str:
    if not rows:
        return "no accounts (run 'hashtrail scan PATH' first?)\n"
    lines = [f"{'account':<24} {'media':>6} {'shared':>6}  shares most with"]
    for r in rows:
        name = r["account"] if not r.get("screen_name") else f"{r['account'][:12]} @{r['screen_name']}"
        best = ", ".join(f"{p['account'][:16]} ({p['clusters']})" for p in r["shares_most_with"]) or "-"
        lines.append(f"{name:<24.24} {r['media']:>6} {r['shared_media']:>6}  {best}")
    return "\n".join(lines) + "\n"


def accounts_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["account", "screen_name", "media", "shared_media", "first_post", "shares_most_with"])
    for r in rows:
        writer.writerow([r["account"], r.get("screen_name"), r["media"], r["shared_media"], r["first_post"],
                         ";".join(f"{p['account']}:{p['clusters']}" for p in r["shares_most_with"])])
    return out.getvalue()


def graph_csv(edges: list[dict]) -> str:
    """The co-sharing network as an edge list: source, target, weight (clusters)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["source", "target", "weight"])
    writer.writerows([e["source"], e["target"], e["weight"]] for e in edges)
    return out.getvalue()


def graph_gexf(edges: list[dict], accounts: list[dict]) -> str:
    """The co-sharing network as GEXF, for Gephi (networkx writes it)."""
    import networkx as nx

    graph = nx.Graph()
    for a in accounts:
        graph.add_node(a["account"], label=a.get("screen_name") or a["account"], media=a["media"],
                       shared_media=a["shared_media"])
    for e in edges:
        graph.add_edge(e["source"], e["target"], weight=e["weight"])
    return "\n".join(nx.generate_gexf(graph)) + "\n"
