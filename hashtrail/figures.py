"""Pictures of the evidence: a cluster's spread timeline (who posted it when).

Drawn with matplotlib's object API (no pyplot, so no global state between
web requests), as SVG or PNG. Shared by the web pages and the command line.
Names come from hostile archives: they are drawn as plain text, never
parsed as mathtext, and matplotlib escapes them in the SVG.
"""
from __future__ import annotations

import datetime as dt
import io

from matplotlib import rc_context
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

FIRST, REPOST, UNDATED = "#c0392b", "#2c3e50", "#95a5a6"


def _label(member: dict) -> str:
    account = member.get("account") or "(unknown account)"
    name = member.get("screen_name")
    short = account if len(account) <= 20 else account[:16] + "…"
    return f"@{name} ({short})" if name and name != account else short


def spread_timeline(cluster: dict, fmt: str = "svg", max_accounts: int = 40) -> bytes:
    """One row per account, one dot per post, the first post in red; undated members are listed apart.

    ``cluster`` is a cluster as the JSON output gives it (members with
    account, posted_at). At most ``max_accounts`` rows, first posters first.
    """
    members = cluster["members"]
    dated = [m for m in members if m.get("posted_at")]
    order = list(dict.fromkeys(m.get("account") or "" for m in sorted(dated, key=lambda m: m["posted_at"])))
    shown = order[:max_accounts]
    rows = max(1, len(shown))
    height = 1.3 + 0.28 * rows
    fig = Figure(figsize=(9, height), dpi=100)
    # fixed margins (labels are at most ~30 characters): constrained layout costs more than the drawing
    fig.subplots_adjust(left=0.27, right=0.98, top=1 - 0.45 / height, bottom=0.55 / height)
    ax = fig.add_subplot()
    first_time = dt.datetime.fromisoformat(dated[0]["posted_at"]) if dated else None
    row_of = {a: k for k, a in enumerate(shown)}
    points = [(dt.datetime.fromisoformat(m["posted_at"]), row_of[m.get("account") or ""]) for m in dated
              if (m.get("account") or "") in row_of]
    reposts = [p for p in points if p[0] != first_time]
    firsts = [p for p in points if p[0] == first_time]
    for group, size, colour, marker in ((reposts, 30, REPOST, "o"), (firsts, 60, FIRST, "D")):
        if group:  # one call per group: a viral picture has thousands of posts
            ax.scatter([p[0] for p in group], [p[1] for p in group], s=size, color=colour, marker=marker, zorder=3)
    sample = {}
    for m in dated:
        sample.setdefault(m.get("account") or "", m)
    ax.set_yticks(range(rows), [_label(sample[a]) for a in shown] if shown else [""])
    for text in ax.get_yticklabels():
        text.set_parse_math(False)
    ax.invert_yaxis()
    ax.grid(axis="x", color="#dddddd", zorder=0)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    undated = len(members) - len(dated)
    hidden = len(order) - len(shown)
    notes = [f"cluster {cluster.get('cluster')}: {len(members)} media, {len(order)} dated accounts"]
    if first_time:
        notes.append(f"first post {first_time:%Y-%m-%d %H:%M:%S} UTC (red)")
    if hidden:
        notes.append(f"{hidden} more accounts not drawn")
    if undated:
        notes.append(f"{undated} without a post time")
    title = ax.set_title("; ".join(notes), fontsize=9, loc="left")
    title.set_parse_math(False)
    if not dated:
        ax.text(0.5, 0.5, "no member has a post time", transform=ax.transAxes, ha="center", va="center")
    out = io.BytesIO()
    with rc_context({"svg.fonttype": "none"}):  # names as <text> (escaped), searchable and small
        fig.savefig(out, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()
