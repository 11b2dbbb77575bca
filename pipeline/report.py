"""Turn store query results into what users read: tables, JSON lines, CSV.

Pure functions from dicts to text, so the CLI stays thin and every format is
testable without a terminal.
"""
from __future__ import annotations

import csv
import io
import json
import os

from .store import Store

MEMBER_FIELDS = ("path", "account", "post_id", "kind", "distance")


def short_path(member: dict) -> str:
    """Path relative to the scanned root, for tables (JSON and CSV keep it absolute)."""
    root = member.get("root")
    return os.path.relpath(member["path"], root) if root and member["path"].startswith(root) else member["path"]


def clusters_with_members(store: Store, min_accounts: int, limit: int | None) -> list[dict]:
    summaries = store.cluster_summaries(min_accounts=min_accounts, limit=limit)
    members = store.cluster_members([s["cluster"] for s in summaries])
    return [{**s, "members": [{k: m[k] for k in (*MEMBER_FIELDS, "root")} for m in members[s["cluster"]]]}
            for s in summaries]


def _public(cluster: dict) -> dict:
    return {**cluster, "members": [{k: m[k] for k in MEMBER_FIELDS} for m in cluster["members"]]}


def as_json_lines(items: list[dict]) -> str:
    return "".join(json.dumps(_public(item)) + "\n" for item in items)


def clusters_csv(clusters: list[dict]) -> str:
    """One row per member, so spreadsheets and pandas get a flat table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["cluster", "size", "accounts", *MEMBER_FIELDS])
    for c in clusters:
        for m in c["members"]:
            writer.writerow([c["cluster"], c["size"], c["accounts"], *(m[k] for k in MEMBER_FIELDS)])
    return out.getvalue()


def clusters_table(clusters: list[dict], max_members: int = 5) -> str:
    if not clusters:
        return "no clusters of 2 or more media (run 'hashtrail scan PATH' first?)\n"
    lines = []
    for c in clusters:
        lines.append(f"cluster {c['cluster']}: {c['size']} media, {c['accounts']} accounts")
        for m in c["members"][:max_members]:
            lines.append(f"  d={_d(m['distance']):>2}  {m['account'] or '-':<16.16}  {short_path(m)}")
        if len(c["members"]) > max_members:
            lines.append(f"  ... {len(c['members']) - max_members} more: hashtrail show {c['cluster']}")
    return "\n".join(lines) + "\n"


def cluster_detail(cluster: dict) -> str:
    lines = [f"cluster {cluster['cluster']}: {cluster['size']} media, {cluster['accounts']} accounts",
             "distance = pHash bits from the representative (first member); 0 for byte-identical copies"]
    by_account: dict[str, int] = {}
    for m in cluster["members"]:
        by_account[m["account"] or "-"] = by_account.get(m["account"] or "-", 0) + 1
    lines.append("accounts: " + ", ".join(f"{a} ({n})" for a, n in sorted(by_account.items(), key=lambda x: -x[1])))
    for m in cluster["members"]:
        size = f"{m['width']}x{m['height']}" if m.get("width") else "?"
        lines.append(f"  d={_d(m['distance']):>2}  {m['format'] or '?':<5} {size:>11}  "
                     f"{m['account'] or '-':<16.16}  post {m['post_id'] or '-':<20}  {short_path(m)}")
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
