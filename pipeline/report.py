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
import shlex

from hashtrail.pipeline.index import clip_runs
from hashtrail.pipeline.index.still_time import MAX_ALSO
from hashtrail.pipeline.store import Store

# ``paths``: every path the media was seen at (a moved folder, a zip and its unpacked copy), ``path`` first;
# ``account_source``: where the account came from (tweets, manifest, pattern, folder);
# ``screen_name``, ``tweet_text``, ``url``: from imported CSVs, where known; ``retweet_of``: the retweeted tweet
# ``via``: how a member is linked (plain, or through a hard edit: caption removed, rotation, ...), with
# ``via_media`` / ``via_transform`` naming its best hard-edit match when it has no plain one
MEMBER_FIELDS = ("media_id", "path", "account", "post_id", "kind", "distance", "via", "via_media", "via_transform",
                 "posted_at", "delay_s", "duration_s", "frames", "matches", "paths", "account_source", "screen_name",
                 "tweet_text", "url", "is_retweet", "retweet_of", "release")
OPTIONAL_MEMBER_FIELDS = ("fast_repost",)  # present when asked for (--window)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 file', '2 files', '1,204 media': counts as a reader writes them."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def took(seconds: float, done: int, unit: str = "files") -> str:
    """'in 3.2 s (410 files/s)'; no rate when nothing was done or the time is too short to mean one."""
    if done == 0 or seconds < 0.05:
        return f"in {seconds:.1f} s"
    rate = done / seconds  # a rate is a unit per second, never a count: '1.0 files/s', not '1 files/s'
    return f"in {seconds:.1f} s ({rate:,.0f} {unit}/s)" if rate >= 10 else f"in {seconds:.1f} s ({rate:.1f} {unit}/s)"


def short_path(member: dict) -> str:
    """Path relative to the scanned root, for tables (JSON and CSV keep it absolute)."""
    root = member.get("root")
    return os.path.relpath(member["path"], root) if root and member["path"].startswith(root) else member["path"]


def delays_after(members: list[dict], first_seen: str | None) -> list[dict]:
    """Each member with ``delay_s``: seconds after ``first_seen`` (None where a time is unknown)."""
    start = dt.datetime.fromisoformat(first_seen) if first_seen else None
    return [{**m, "delay_s": int((dt.datetime.fromisoformat(m["posted_at"]) - start).total_seconds())
             if start and m.get("posted_at") else None} for m in members]


def with_history(cluster: dict) -> dict:
    """Add first_seen, first_account and each member's delay after it.

    Members come from the store in post-time order (unknown times last), so
    the first dated member is who posted the media first; ``delay_s`` is how
    long after that each repost came.
    """
    dated = [m for m in cluster["members"] if m.get("posted_at")]
    first = dated[0] if dated else None
    members = delays_after(cluster["members"], first["posted_at"] if first else None)
    head = {k: v for k, v in cluster.items() if k != "members"}
    return {**head, "first_seen": first["posted_at"] if first else None,
            "first_account": first["account"] if first else None, "members": members}


def with_frames(store: Store, cluster: dict) -> dict:
    """Add which frames matched, for members that are videos or animations, and the kinds present.

    Each member's ``matches`` lists the other members it matched frame by
    frame, from its own side: how many of its frames matched, and example
    [its time, their time] pairs in seconds (None for a still). A clip
    matched to a long video by an ordered run also has ``offset_s`` (their
    time - its time) and ``cut``: where the shorter lies in the longer
    (``{"clip", "of", "start_s", "end_s"}``, pipeline/index/clip_runs.py).
    A still matched to a long video has them too (its closest frame's time,
    start_s = end_s), and ``also_at``: the other times in the video it fits
    nearly as well (pipeline/index/still_time.py), else None. A member's
    details are kept for its 16 closest partners (video_pairs.MATCHES_KEPT)
    and for those that count it among theirs; an incremental update adds
    its own new pairs' 16 closest, so after updates a member can list more.
    """
    ids = {m["media_id"] for m in cluster["members"]}
    duration = {m["media_id"]: m.get("duration_s") for m in cluster["members"]}
    by_member: dict[int, list[dict]] = {}
    for fm in store.frame_matches(sorted(ids)):
        if fm["media_a"] not in ids or fm["media_b"] not in ids:
            continue
        offset = fm.get("offset_s")
        cut = clip_runs.cut(offset, fm["media_a"], duration[fm["media_a"]], fm["media_b"], duration[fm["media_b"]])
        for me, other, mine, of_mine, theirs, of_theirs, flip in (
                ("media_a", "media_b", "frames_a", "of_a", "frames_b", "of_b", False),
                ("media_b", "media_a", "frames_b", "of_b", "frames_a", "of_a", True)):
            by_member.setdefault(fm[me], []).append({
                "media_id": fm[other], "frames_matched": fm[mine], "frames": fm[of_mine],
                "their_frames_matched": fm[theirs], "their_frames": fm[of_theirs],
                "times": [[b, a] for a, b in fm["times"]] if flip else fm["times"],
                "offset_s": None if offset is None else (-offset if flip else offset), "cut": cut,
                "also_at": fm.get("also_at")})
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


def span(start_s: float, end_s: float) -> str:
    """17:01-17:31 / 1:02:03-1:02:33: a stretch of a video, to the second (17:01 when it has no length)."""
    return whole_clock(start_s) if start_s == end_s else f"{whole_clock(start_s)}-{whole_clock(end_s)}"


def whole_clock(seconds: float) -> str:
    """17:01 / 1:02:03: an instant of a video, to the second."""
    minutes, rest = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def cut_text(cut: dict | None, me, also_at: list | None = None) -> str:
    """'clip = 17:01-17:31 of #12' (from the clip's side) or '#13 = its 17:01-17:31' (from the long one's).

    A still's cut has no length: 'still = 17:01 of #12', and with ``also_at``
    the other times it fits as well: 'still = 17:01 of #12, also fits 12:05, 41:10'.
    """
    if not cut:
        return ""
    still = cut["start_s"] == cut["end_s"]
    where = span(cut["start_s"], cut["end_s"])
    text = f"{'still' if still else 'clip'} = {where} of #{cut['of']}" if cut["clip"] == me \
        else f"#{cut['clip']} = its {where}"
    return text + (f", {also_text(also_at)}" if also_at else "")


def also_text(also_at: list | None, at_most: int = 3) -> str:
    """'also fits 12:05, 41:10': other times a still fits as well as the one given ('' if none).

    A picture shown at many places (a studio shot) lists the first few:
    'also fits 12:05, 41:10, 43:00 and 97 more' (JSON's ``also_at`` has up to 100).
    """
    if not also_at:
        return ""
    more = f" and {len(also_at) - at_most}{'+' if len(also_at) >= MAX_ALSO else ''} more" \
        if len(also_at) > at_most else ""
    return "also fits " + ", ".join(whole_clock(x) for x in also_at[:at_most]) + more


def matches_text(member: dict, at_most: int | None = None) -> str:
    """'3/8 frames ~ #12 (0:04.0=0:01.2, ...)' for a table line; '' for plain stills.

    A clip matched to a long video adds where it was cut: 'clip = 17:01-17:31 of #12'.
    """
    parts = []
    matches = sorted(member.get("matches") or (), key=lambda m: (-m["frames_matched"], m["media_id"]))
    for m in matches[:at_most]:
        times = ", ".join(f"{clock(a)}={clock(b)}" for a, b in m["times"][:3])
        where = cut_text(m.get("cut"), member.get("media_id"), m.get("also_at"))
        parts.append(f"{m['frames_matched']}/{m['frames']} frames ~ #{m['media_id']} ({times})"
                     + (f", {where}" if where else ""))
    if at_most is not None and len(matches) > at_most:
        parts.append(f"{len(matches) - at_most} more in --format json")
    return "; ".join(parts)


def _kinds_text(kinds: dict | None) -> str:
    if not kinds or set(kinds) == {"image"}:
        return ""
    return " (" + ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items())) + ")"


def _who(account: str | None) -> str:
    return account or "an unknown account"


def _poster(member: dict, width: int = 16) -> str:
    """'userid @screen_name', 'RT userid' for a retweet, '-' when unknown, cut to ``width``."""
    name = member.get("account") or "-"
    if member.get("screen_name"):
        name = f"{name[:8]} @{member['screen_name']}"
    if member.get("is_retweet"):
        name = f"RT {name}"
    return f"{name:<{width}.{width}}"


def _elsewhere(member: dict) -> str:
    others = len(member.get("paths") or ()) - 1
    return f"  (also at {others} other {'path' if others == 1 else 'paths'})" if others > 0 else ""


def clusters_with_members(store: Store, min_accounts: int, limit: int | None, include_ignored: bool = False,
                          across_releases: bool = False, release: str | None = None) -> list[dict]:
    """Clusters with their members, history and frame matches; set-aside clusters only when asked."""
    summaries = store.cluster_summaries(min_accounts=min_accounts, limit=limit, include_ignored=include_ignored,
                                        across_releases=across_releases, release=release)
    members = store.cluster_members([s["cluster"] for s in summaries])
    return [with_frames(store, with_history({**s, "members": members[s["cluster"]]})) for s in summaries]


def public(cluster: dict) -> dict:
    """A cluster with the member keys of ``clusters --format json`` (and of the Python API)."""
    return {**cluster, "members": [{**{k: m.get(k) for k in MEMBER_FIELDS},
                                    **{k: m[k] for k in OPTIONAL_MEMBER_FIELDS if k in m}}
                                   for m in cluster["members"]]}


def cluster_report(store: Store, cluster_id: int) -> dict:
    """One cluster with its history and frame matches, every member field kept (``show``)."""
    return with_frames(store, with_history(store.cluster(cluster_id)))


def _cell(value):
    if isinstance(value, list) and all(isinstance(v, str) for v in value):  # paths
        return ";".join(value) or None
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
        retweets = f", {c['retweets']} retweets" if c.get("retweets") else ""
        if (c.get("releases") or 0) > 1:
            names = sorted({m.get("release") or "?" for m in c["members"]})
            retweets += f", {c['releases']} releases ({', '.join(names)})"
        lines.append(f"cluster {c['cluster']}: {c['size']} media{_kinds_text(c.get('kinds'))}, "
                     f"{c['accounts']} accounts{retweets}{first}")
        for m in c["members"][:max_members]:
            lines.append(f"  {delay_text(m.get('delay_s')):>8}  d={_d(m['distance']):>2}  {_poster(m)}  "
                         f"{short_path(m)}{_elsewhere(m)}")
        if len(c["members"]) > max_members:
            lines.append(f"  ... {len(c['members']) - max_members} more: hashtrail show {c['cluster']}")
    return "\n".join(lines) + "\n"


def cluster_detail(cluster: dict) -> str:
    retweets = f", {cluster['retweets']} of them retweets" if cluster.get("retweets") else ""
    lines = [f"cluster {cluster['cluster']}: {cluster['size']} media{_kinds_text(cluster.get('kinds'))}, "
             f"{cluster['accounts']} accounts{retweets}"]
    if cluster.get("first_seen"):
        lines.append(f"first seen {cluster['first_seen']} from {_who(cluster['first_account'])}; members in post order, "
                     "with the delay after the first post")
    lines.append("d = pHash bits from the representative (lowest media id); 0: the same pHash (byte-identical "
                 "or re-encoded copies); 'via' = a member linked only through a hard edit")
    if cluster.get("window_s") is not None:
        lines.append(f"FAST = posted within {cluster['window_s']:g} s after another account's post of it "
                     f"({cluster['fast_reposts']} of {cluster['size']})")
    by_account: dict[str, int] = {}
    for m in cluster["members"]:
        by_account[m["account"] or "-"] = by_account.get(m["account"] or "-", 0) + 1
    lines.append("accounts: " + ", ".join(f"{a} ({n})" for a, n in sorted(by_account.items(), key=lambda x: -x[1])))
    for m in cluster["members"]:
        size = f"{m['width']}x{m['height']}" if m.get("width") else "?"
        length = f" {clock(m['duration_s'])}" if m.get("duration_s") is not None else ""
        fast = " FAST" if m.get("fast_repost") else "     " if cluster.get("window_s") is not None else ""
        lines.append(f"  {delay_text(m.get('delay_s')):>8}{fast}  d={_d(m['distance']):>2}  #{m['media_id']:<6} "
                     f"{m['format'] or '?':<5} {size:>11}{length}  "
                     f"{_poster(m, 24)}  post {m['post_id'] or '-':<20}  {short_path(m)}")
        if m.get("retweet_of"):
            lines.append(f"            retweet of {m['retweet_of']}")
        if m.get("tweet_text"):
            text = " ".join(m["tweet_text"].split())
            lines.append(f"            \"{text[:100]}{'...' if len(text) > 100 else ''}\"")
        if m.get("url"):
            lines.append(f"            {m['url']}")
        for other in (m.get("paths") or [])[1:]:
            lines.append(f"            also at {other}")
        if m.get("via") not in (None, "plain"):
            lines.append(f"            via {m['via']}: {m['via_transform']}")
        if m.get("matches"):
            lines.append(f"            frames: {matches_text(m, at_most=3)}")
    return "\n".join(lines) + "\n"


def pending_note(counts: dict, db: str | None = None) -> str | None:
    """What ``pending`` means right now, in words, and how to resume."""
    pending, last = counts.get("pending"), counts.get("last_scan")
    if not pending or not last:
        return None
    roots = last["roots"] if isinstance(last["roots"], list) else json.loads(last["roots"] or "[]")
    db_flag = f" --db {shlex.quote(db)}" if db else ""
    if last["mode"] == "distributed":
        command = f"hashtrail enqueue {shlex.join(roots)}{db_flag}"
        return (f"pending: {pending:,} files sent to the workers with no result stored yet. While job "
                f"{last['id']} runs they are being fingerprinted; if no worker or writer is running, or a batch "
                f"was lost, run the same enqueue again to resume them:\n  {command}")
    command = f"hashtrail scan {shlex.join(roots)}{db_flag}"
    if last.get("interrupted_at"):
        why = f"scan {last['id']} was interrupted ({last['interrupted_by']} at {last['interrupted_at']})"
    else:
        why = f"scan {last['id']} is running, or was killed without a trace (power loss, SIGKILL)"
    return (f"pending: {pending:,} files were found but not fingerprinted yet: {why}. Run the same scan "
            f"again to resume (files already done are not read again):\n  {command}")


def status_text(counts: dict, max_failures: int = 20, db: str | None = None) -> str:
    lines = [f"fingerprinted {counts['fingerprinted']}, failed {counts['failed']}, "
             f"skipped {counts['skipped']}" + (f", pending {counts['pending']}" if counts.get("pending") else "")
             + (f", missing {counts['missing']}" if counts.get("missing") else "")
             + f"; {counts['clusters']} clusters"]
    for kind, by_status in sorted(counts["by_kind"].items()):
        lines.append(f"  {kind:<10} " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
    last = counts.get("last_scan")
    if last:
        if last.get("finished_at"):
            state = f"finished {last['finished_at']}"
        elif last.get("interrupted_at"):
            state = f"interrupted by {last['interrupted_by']} {last['interrupted_at']}"
        else:
            state = "running" if last["mode"] == "distributed" else "running (or killed without a trace)"
        lines.append(f"last {'job' if last['mode'] == 'distributed' else 'scan'} {last['id']} ({last['mode']}): "
                     f"started {last['started_at']}, {state}")
    note = pending_note(counts, db)
    if note:
        lines.append(note)
    if len(counts.get("releases") or ()) > 1:
        lines.append("releases: " + ", ".join(f"{r['release']} {r['media']:,}" for r in counts["releases"]))
    skips = counts.get("skipped_reasons") or []
    if skips:
        lines.append(f"skipped ({counts['skipped']:,}), why:")
        lines.extend(f"  {s['files']:>6,}  {s['reason']}" for s in skips[:max_failures])
    if counts.get("copies"):
        lines.append(f"  {counts['copies']} more files are copies of these media at other paths (counted once)")
    for r in counts.get("roots") or ():
        gone = "" if r["exists"] else "  GONE: hashtrail forget " + r["root"]
        archives = f"  ({len(r['gone_archives'])} zips gone, e.g. {r['gone_archives'][0]})" if r["gone_archives"] else ""
        copies = f", {r['copies']} copies of media seen elsewhere" if r.get("copies") else ""
        lines.append(f"root {r['root']}: {r['files']} files, {r['fingerprinted']} fingerprinted{copies}"
                     f"{gone}{archives}")
    who = counts.get("attribution")
    if who and any(who.values()):
        lines.append(f"accounts from: tweets CSV {who['tweets']}, manifest {who['manifest']}, "
                     f"pattern {who['pattern']}, folder {who['folder']}, none {who['none']}"
                     + (f"; {who['disagree']} where the CSV names another account than account_pattern "
                        "(a wrong pattern?)" if who["disagree"] else ""))
    listed = counts.get("file_list")
    if listed and listed["listed"]:
        lines.append(f"media file list: {listed['listed']} listed, {listed['not_seen']} not seen by any scan")
        for path in listed["not_seen_files"][:max_failures]:
            lines.append(f"  not seen: {path}")
        if listed["not_seen"] > max_failures:
            lines.append(f"  ... {listed['not_seen'] - max_failures} more (--format json lists all)")
    if counts.get("ignored_clusters"):
        lines.append(f"{plural(counts['ignored_clusters'], 'cluster')} set aside ('hashtrail ignore --list')")
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


def delay_text(seconds: int | None) -> str:
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


def matches_table(matches: list[dict], query: str, thresholds) -> str:
    """``hashtrail match`` for a reader: a legend, then one line per stored media, best first."""
    if not matches:
        return f"no stored media near {query}\n"
    lines = [f"{plural(len(matches), 'stored media', 'stored media')} near {query}, best first",
             f"p, d, q: bits apart in pHash64 (match <= {thresholds.phash}), dHash64 (<= {thresholds.dhash}) "
             f"and pHash256 (<= {thresholds.phash256}); 0 0 0 is the same picture",
             f"{'p':>2} {'d':>2} {'q':>3}  {'cluster':<7}  {'posted (UTC)':<16}  {'account':<16}  path"]
    for m in matches:
        posted = (m.get("posted_at") or "")[:16].replace("T", " ") or "-"
        via = "" if m.get("via", "plain") == "plain" else f"  via {m['via']} ({m['transform']})"
        lines.append(f"{m['phash_distance']:>2} {m['dhash_distance']:>2} {m['phash256_distance']:>3}  "
                     f"{m['cluster_id'] or '-':<7}  {posted:<16}  {m['account'] or '-':<16.16}  {m['path']}{via}")
        if m["frames"] > 1 or m["their_frames"] > 1:
            pairs = ", ".join(f"{clock(a)}={clock(b)}" for a, b in m["times"][:5])
            more = f", +{len(m['times']) - 5} more" if len(m["times"]) > 5 else ""
            lines.append(f"{'':>11}frames: {m['frames_matched']}/{m['frames']} of this file match "
                         f"{m['their_frames_matched']}/{m['their_frames']} of that one "
                         f"(this file's time = that one's: {pairs}{more})")
            if m.get("cut"):
                where = span(m["cut"]["start_s"], m["cut"]["end_s"])  # a still: the time of its frame
                also = f", {also_text(m.get('also_at'))}" if m.get("also_at") else ""
                lines.append(f"{'':>11}" + (f"this file = {where} of that one{also}" if m["cut"]["clip"] == "query"
                                             else f"that one = {where} of this file{also}"))
    return "\n".join(lines) + "\n"


def accounts_report(store: Store, top: int = 3, include_retweets: bool = False) -> list[dict]:
    """Per account: media posted, retweets among them, media shared with others, who it shares most with."""
    partners: dict[str, list[tuple[str, int]]] = {}
    for edge in store.account_edges(include_retweets=include_retweets):
        partners.setdefault(edge["source"], []).append((edge["target"], edge["weight"]))
        partners.setdefault(edge["target"], []).append((edge["source"], edge["weight"]))
    out = []
    for row in store.account_summaries(include_retweets=include_retweets):
        best = sorted(partners.get(row["account"], []), key=lambda p: (-p[1], p[0]))[:top]
        out.append({**row, "shares_most_with": [{"account": a, "clusters": n} for a, n in best]})
    return out


def accounts_table(rows: list[dict]) -> str:
    if not rows:
        return "no accounts (run 'hashtrail scan PATH' first?)\n"
    lines = [f"{'account':<24} {'media':>6} {'RTs':>5} {'shared':>6}  shares most with"]
    for r in rows:
        name = r["account"] if not r.get("screen_name") else f"{r['account'][:12]} @{r['screen_name']}"
        best = ", ".join(f"{p['account'][:16]} ({p['clusters']})" for p in r["shares_most_with"]) or "-"
        lines.append(f"{name:<24.24} {r['media']:>6} {r.get('retweets') or 0:>5} {r['shared_media']:>6}  {best}")
    return "\n".join(lines) + "\n"


def accounts_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["account", "screen_name", "media", "retweets", "shared_media", "first_post", "shares_most_with"])
    for r in rows:
        writer.writerow([r["account"], r.get("screen_name"), r["media"], r.get("retweets"), r["shared_media"],
                         r["first_post"],
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
