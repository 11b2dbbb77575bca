"""Pictures of the evidence: a cluster's spread timeline (who posted it when).

Drawn with matplotlib's object API (no pyplot, so no global state between
web requests), as SVG or PNG. Shared by the web pages and the command line.
Names come from hostile archives: they are drawn as plain text, never
parsed as mathtext, and matplotlib escapes them in the SVG.
"""
from __future__ import annotations

import datetime as dt
import io

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
    order: list[str] = []
    for m in sorted(dated, key=lambda m: m["posted_at"]):
        if (m.get("account") or "") not in order:
            order.append(m.get("account") or "")
    shown = order[:max_accounts]
    rows = max(1, len(shown))
    fig = Figure(figsize=(8, 1.2 + 0.28 * rows), dpi=100)
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot()
    first_time = dt.datetime.fromisoformat(dated[0]["posted_at"]) if dated else None
    for m in dated:
        account = m.get("account") or ""
        if account not in shown:
            continue
        when = dt.datetime.fromisoformat(m["posted_at"])
        first = when == first_time
        ax.scatter([when], [shown.index(account)], s=60 if first else 30, color=FIRST if first else REPOST,
                   zorder=3, marker="D" if first else "o")
    ax.set_yticks(range(rows), [_label(next(m for m in dated if (m.get("account") or "") == a)) for a in shown]
                  if shown else [""])
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
    fig.savefig(out, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()
