"""What the coordination commands print: edge lists, Gephi and GraphML files, JSON lines, group tables.

Pure functions from edges and groups (pipeline/coordination.py) to text.
"""
from __future__ import annotations

import csv
import io
import json

from hashtrail.pipeline.coordination import Edge
from hashtrail.pipeline.report import plural

EDGE_COLUMNS = ("source", "target", "weight", "co_posts", "first", "last", "median_delay_s", "clusters")


def edges_csv(edges: list[Edge]) -> str:
    """source, target, weight (clusters), co_posts, first, last, median_delay_s, clusters (';'-joined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EDGE_COLUMNS)
    for e in edges:
        writer.writerow([e.source, e.target, e.weight, e.co_posts, e.first, e.last, e.median_delay_s,
                         ";".join(str(c) for c in e.clusters)])
    return out.getvalue()


def edges_json_lines(edges: list[Edge]) -> str:
    return "".join(json.dumps(e.as_dict()) + "\n" for e in edges)


def network(edges: list[Edge], accounts: list[dict]):
    """A networkx graph: accounts as nodes (with their media counts), edges with weight and co-posts."""
    import networkx as nx

    graph = nx.Graph()
    known = {a["account"]: a for a in accounts}
    for e in edges:
        for name in (e.source, e.target):
            if name not in graph:
                a = known.get(name, {})
                graph.add_node(name, label=a.get("screen_name") or name, media=a.get("media", 0),
                               shared_media=a.get("shared_media", 0))
        graph.add_edge(e.source, e.target, weight=e.weight, co_posts=e.co_posts,
                       median_delay_s=e.median_delay_s if e.median_delay_s is not None else -1.0,
                       clusters=";".join(str(c) for c in e.clusters[:200]))
    return graph


def edges_gexf(edges: list[Edge], accounts: list[dict]) -> str:
    import networkx as nx

    return "\n".join(nx.generate_gexf(network(edges, accounts))) + "\n"


def edges_graphml(edges: list[Edge], accounts: list[dict]) -> str:
    import networkx as nx

    return "\n".join(nx.generate_graphml(network(edges, accounts))) + "\n"


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h"


def window_text(window: str) -> str:
    """'60s' as given, a bare number with its unit ('10' -> '10 s')."""
    return f"{window} s" if str(window).strip().replace(".", "", 1).isdigit() else str(window)


def groups_table(groups: list[dict], window: str) -> str:
    if not groups:
        return f"no accounts co-posted media within {window_text(window)} of each other\n"
    lines = [f"{plural(len(groups), 'group')} of accounts that posted the same media within {window_text(window)}:"]
    for g in groups:
        span = f"{(g['first'] or '?')[:16]} to {(g['last'] or '?')[:16]}".replace("T", " ")
        lines.append(f"group {g['group']}: {plural(g['size'], 'account')}, {plural(len(g['clusters']), 'cluster')} "
                     f"co-posted ({g['co_posts']:,} co-posts), {span}, median delay {_delay(g['median_delay_s'])}")
        names = ", ".join(a[:16] for a in g["accounts"][:8])
        more = f" and {len(g['accounts']) - 8} more" if len(g["accounts"]) > 8 else ""
        lines.append(f"  accounts: {names}{more}")
        if len(g["communities"]) > 1:
            lines.append("  communities (Louvain): " + "; ".join(
                f"{len(c)}: {', '.join(a[:12] for a in c[:4])}{'...' if len(c) > 4 else ''}" for c in g["communities"][:5]))
        lines.append(f"  clusters: {', '.join(str(c) for c in g['clusters'][:12])}"
                     + (f" and {len(g['clusters']) - 12} more" if len(g["clusters"]) > 12 else ""))
    return "\n".join(lines) + "\n"


def groups_csv(groups: list[dict]) -> str:
    """One row per account: its group, the group's size, clusters, span and median delay, its community."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "account", "community", "group_size", "clusters", "co_posts", "first", "last",
                     "median_delay_s"])
    for g in groups:
        community = {a: n for n, c in enumerate(g["communities"], 1) for a in c}
        for a in g["accounts"]:
            writer.writerow([g["group"], a, community.get(a), g["size"], ";".join(map(str, g["clusters"])),
                             g["co_posts"], g["first"], g["last"], g["median_delay_s"]])
    return out.getvalue()
