"""The embedded scan: walk, record, fingerprint in a local pool, store, cluster.

The same steps serve the distributed mode (``workers/``): ``plan`` and
``prepare`` run where the job is started, ``fingerprint_batch`` where the
work is done, ``Store.save_results`` in the single writer and ``recluster``
(via ``finish_if_complete``) at the end. Every discovered file first gets a
``pending`` row in walk order, so media ids, and with them cluster ids, do
not depend on which worker finished first, and an interrupted scan resumes
where it stopped.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from typing import Iterable, Protocol

import numpy as np

from hashtrail.config import Settings
from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.archive.accounts import AccountRule, Attribution, file_name, media_key
from hashtrail.pipeline.archive.posts import snowflake_time
from hashtrail.pipeline.archive.releases import release_of
from hashtrail.pipeline.archive.walk import Found, check_paths, walk
from hashtrail.pipeline.errors import HashtrailError
from hashtrail.pipeline.index.cluster import Thresholds, cluster_with_details
from hashtrail.pipeline.index.incremental import add_to_clusters
from hashtrail.pipeline.local_pool import fingerprint_in_pool
from hashtrail.pipeline.media.fingerprint import FAILED, OK, SKIPPED
from hashtrail.pipeline.media.hashing import HASHER
from hashtrail.pipeline.video.keyframes import VIDEO_HASHER
from hashtrail.pipeline.media.kinds import ANIMATION, VIDEO
from hashtrail.pipeline.report import plural, took
from hashtrail.pipeline.store import Store

PENDING = "pending"
MISSING = "missing"


class ScanInterrupted(HashtrailError):
    """A scan stopped by SIGINT or SIGTERM. Its results so far are kept; the same scan resumes it."""

    def __init__(self, scan_id: int, by: str, pending: int, summary: "ScanSummary"):
        self.scan_id, self.by, self.pending, self.summary = scan_id, by, pending, summary
        super().__init__(f"scan {scan_id} interrupted by {by}: {summary.fingerprinted} fingerprinted, "
                         f"{pending} files left pending; run the same 'hashtrail scan' again to resume "
                         "(files already done are not read again)")


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, n: int) -> None: ...


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclasses.dataclass
class Plan:
    found: int
    todo: list[Found]
    unchanged: int
    reattributed: list[dict]  # unchanged files whose account or post id the current rule sees differently
    attempts: dict[str, int]  # pending files already sent to workers this many times (a resume)
    seen: list[str]  # every path walked, so rows of vanished files can be marked missing
    walked: list[str]  # where vanished files are looked for: given folders + "/", given archives + "!"
    superseded: list[str] = dataclasses.field(default_factory=list)  # truncated archives now read complete


@dataclasses.dataclass
class ScanSummary:
    files: int = 0
    unchanged: int = 0
    fingerprinted: int = 0
    failed: int = 0
    skipped: int = 0
    clusters: int = 0
    cross_account_clusters: int = 0
    clusters_rebuilt: bool = False  # all recomputed, rather than new media added
    seconds: float = 0.0

    def line(self) -> str:
        done = self.fingerprinted + self.failed + self.skipped
        return (f"{plural(self.files, 'file')}: {self.fingerprinted:,} fingerprinted, {self.failed:,} failed, "
                f"{self.skipped:,} skipped, {self.unchanged:,} unchanged; {plural(self.clusters, 'cluster')} "
                f"({self.cross_account_clusters:,} across accounts) {took(self.seconds, done)}")


RETRY_ALWAYS = (PENDING, MISSING)


def plan(paths: Iterable[str], store: Store, rule: AccountRule, retry_failed: bool = False) -> Plan:
    """Which files need work: new, changed, hashed by another hasher, unfinished,
    back after missing, or (``retry_failed``) failed before.

    Unchanged files are not read, but their account and post id are derived
    again, so a changed account rule applies to the whole archive.
    """
    paths = list(paths)
    check_paths(paths)  # every path, before any is walked or recorded
    known = store.known_files()
    from_manifest = store.manifest_paths()
    retry = RETRY_ALWAYS + ((FAILED,) if retry_failed else ())
    found = 0
    todo: list[Found] = []
    reattributed: list[dict] = []
    attempts: dict[str, int] = {}
    seen: list[str] = []
    for f in walk(paths):
        found += 1
        seen.append(f.path)
        if f.problem:
            todo.append(f)  # recorded as decided by the walk, never fingerprinted
            continue
        previous = known.get(f.path)
        same_file = previous is not None and (previous.size, previous.mtime_ns, previous.hasher) == (
            f.size, f.mtime_ns, VIDEO_HASHER if previous.kind == VIDEO and previous.status == OK else HASHER)
        # videos and animations an older hashtrail skipped unread are read now
        was_unread = previous is not None and previous.status == SKIPPED and previous.kind in (VIDEO, ANIMATION)
        if not same_file or previous.status in retry or was_unread:
            todo.append(f)
            if same_file and previous.status == PENDING:
                attempts[f.path] = previous.attempts  # a resume: keep counting lost deliveries
            continue
        if f.path in from_manifest:
            continue  # account and post come from the imported manifest, not from the path
        who = rule.attribute(f.path, f.root)
        row = path_attribution(f.path, who, f.root)
        if (row["account"], row["path_rule"], row["post_id"], f.root, row["name"], row["media_key"],
                row["release"]) != (previous.path_account, previous.path_rule, previous.post_id, previous.root,
                                    previous.name, previous.media_key, previous.release):
            reattributed.append({**row, "path": f.path, "root": f.root})
    superseded = _superseded_archives(seen, known)
    walked = [os.path.abspath(p).rstrip("/") + "/" for p in paths if os.path.isdir(p)]
    walked += [os.path.abspath(p) + zips.SEPARATOR for p in paths
               if os.path.isfile(p) and zips.is_archive(p)]
    return Plan(found, todo, found - len(todo), reattributed, attempts, seen, walked, superseded)


def _superseded_archives(seen: list[str], known: dict) -> list[str]:
    """Archives whose own row said "truncated" and which were now read whole (members only)."""
    seen_set = set(seen)
    archives = {located[0] for path in seen if (located := zips.split(path))}
    return sorted(a for a in archives if a not in seen_set and a in known and known[a].status == FAILED)


def prepare(store: Store, the_plan: Plan, rule: AccountRule, scan_id: int) -> None:
    """Record a plan before any work is sent: pending rows, new accounts, vanished files."""
    record_pending(store, the_plan.todo, rule, scan_id, the_plan.attempts)
    store.update_attribution(the_plan.reattributed)
    store.mark_missing(the_plan.walked, the_plan.seen)
    store.save([{"path": p, "status": MISSING, "reason": "the complete archive was read by a later scan"}
                for p in the_plan.superseded])
    store.refresh_attribution()  # imported tweets and manifests win over the path and the id


def path_attribution(path: str, who: Attribution, root: str = "") -> dict:
    """The media columns the path decides: its account (also kept as ``path_account``), post, name, release."""
    name = file_name(path)
    return {"account": who.account, "path_account": who.account, "path_rule": who.rule,
            "account_source": who.rule, "post_id": who.post_id, "posted_at": snowflake_time(who.post_id),
            "name": name, "media_key": media_key(name), "release": release_of(path, root)}


def pending_rows(todo: list[Found], rule: AccountRule, scan_id: int, attempts: dict[str, int]) -> list[dict]:
    """``pending`` media rows, in walk order, with account and post id.

    ``attempts`` is kept for files resumed while pending, reset otherwise.
    """
    rows = []
    for f in todo:
        who = rule.attribute(f.path, f.root)
        status, reason = f.problem or (PENDING, None)
        rows.append({"path": f.path, "root": f.root, "status": status, "reason": reason, "size": f.size,
                     "mtime_ns": f.mtime_ns, "hasher": HASHER, **path_attribution(f.path, who, f.root),
                     "is_retweet": None, "retweet_of": None, "scan_id": scan_id,
                     "attempts": attempts.get(f.path, 0)})
    return rows


def record_pending(store: Store, todo: list[Found], rule: AccountRule, scan_id: int,
                   attempts: dict[str, int] | None = None, chunk: int = 5000) -> None:
    for start in range(0, len(todo), chunk):
        store.save(pending_rows(todo[start:start + chunk], rule, scan_id, attempts or {}))


@dataclasses.dataclass
class Reclustered:
    rebuilt: bool  # everything recomputed (else: new media added to the clusters)
    new_rows: int  # fingerprint rows looked at as new
    changed: int  # clusters created, grown or merged
    seconds: float
    unavailable: int = 0  # hard-edit pairs left unjoined: a file to check them against could not be read


def update_clusters(store: Store, settings: Settings, rebuild: bool = False, rows_join=None) -> Reclustered:
    """Bring clusters up to date: add what is new, or rebuild when something old changed.

    The incremental path (pipeline/index/incremental.py) gives the same clusters
    as a rebuild; it is taken when every media and row of the last
    clustering is still there under the same rule. ``rows_join`` replaces
    a rebuild's row join (cluster.matching_rows), e.g. by the distributed
    one (workers/join.py); the update's join, proportional to the new rows, stays here.
    """
    started = time.perf_counter()
    t = Thresholds.from_settings(settings)
    checks: list = []  # the pixel check's outcome (pipeline/index/verification.py)
    if not rebuild and store.can_update_clusters(t):
        fp, new, ids = store.fingerprints_and_new(cached=True)
        new_media = store.unclustered_media()
        if not new.any() and not new_media:
            store.refresh_summaries()  # attribution may have changed (a rescan, an import) without new media
            return Reclustered(False, 0, 0, time.perf_counter() - started)
        update = add_to_clusters(fp, np.nonzero(new)[0], store.stored_clusters(), None, store.sha_of_new(),
                                 new_media, t, None, _pictures(store, settings), checks)
        store.update_clusters(update.assignments, update.frame_matches, t, _max_id(ids))
        store.record_verification(checks, rebuilt=False)
        store.save_fingerprint_cache(fp, ids)
        store.refresh_summaries()
        return Reclustered(False, update.new_rows, update.changed_clusters, time.perf_counter() - started,
                           sum(c.unavailable for c in checks))
    fp, _, ids = store.fingerprints_and_new()
    assignments, frame_matches = cluster_with_details(fp, store.sha_by_media(), t, _pictures(store, settings), checks,
                                                      rows_join)
    store.replace_clusters(assignments, frame_matches, t, _max_id(ids))
    store.record_verification(checks, rebuilt=True)
    store.save_fingerprint_cache(fp, ids)
    store.refresh_summaries()
    return Reclustered(True, len(fp.media_id), len({a.cluster_id for a in assignments}),
                       time.perf_counter() - started, sum(c.unavailable for c in checks))


def _max_id(ids: np.ndarray) -> int | None:
    """The largest fingerprint row id a clustering read (rows come in id order: the last)."""
    return int(ids[-1]) if len(ids) else None


def _pictures(store: Store, settings: Settings):
    """Verification pictures read back from the files the database names (pipeline/media/verify_pictures.py)."""
    from hashtrail.pipeline.media.verify_pictures import file_pictures
    return file_pictures(lambda ids: {m: r["path"] for m, r in store.media_rows(ids).items()}, settings)


def recluster(store: Store, settings: Settings) -> tuple[int, int, Reclustered]:
    """Update the clusters; returns (clusters, cross-account clusters, how)."""
    how = update_clusters(store, settings)
    summaries = store.cluster_summaries()
    return len(summaries), sum(1 for s in summaries if s["accounts"] >= 2), how


def finish_if_complete(store: Store, settings: Settings, recluster_needed: bool = True) -> list[int]:
    """Finish every recorded distributed job with no pending file left; returns their ids.

    The single writer calls this after each stored batch, so clusters are
    up to date when a job ends, whichever worker sent the last result. Jobs
    are judged one by one: a file left pending by another job never blocks
    this one, and a job is only considered once all its rows are recorded.
    """
    done = [job for job in store.unfinished_scans("distributed") if not store.has_pending(job)]
    if not done:
        return []
    clusters = cross = None
    if recluster_needed:
        clusters, cross, _ = recluster(store, settings)
    for job in done:
        counts = store.scan_counts(job)
        store.finish_scan(job, {"fingerprinted": counts.get("ok", 0), "failed": counts.get("failed", 0),
                                "skipped": counts.get("skipped", 0), "clusters": clusters,
                                "cross_account_clusters": cross})
    return done


def effective_workers(settings: Settings) -> int:
    """Configured workers, else the cores this process may use (not the host's, in a container)."""
    return settings.workers or len(os.sched_getaffinity(0)) or 1


def scan(paths: list[str], settings: Settings, store: Store, progress: Progress | None = None,
         retry_failed: bool = False) -> ScanSummary:
    """Fingerprint everything new under ``paths`` into ``store`` and re-cluster."""
    progress = progress or _NoProgress()
    started = time.perf_counter()
    rule = AccountRule.from_settings(settings)
    the_plan = plan(paths, store, rule, retry_failed)
    summary = ScanSummary(files=the_plan.found, unchanged=the_plan.unchanged)
    scan_id = store.start_scan([os.path.abspath(p) for p in paths], "embedded")
    try:
        _fingerprint_and_cluster(store, settings, the_plan, rule, scan_id, summary, progress)
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM as the CLI turns it into one
        by = str(exc) or "SIGINT"
        store.interrupt_scan(scan_id, by)  # the pool is stopped by now (fingerprint_in_pool's cleanup)
        raise ScanInterrupted(scan_id, by, store.pending_count(scan_id), summary) from None
    summary.seconds = time.perf_counter() - started
    store.finish_scan(scan_id, dataclasses.asdict(summary))
    return summary


def _fingerprint_and_cluster(store: Store, settings: Settings, the_plan: Plan, rule: AccountRule, scan_id: int,
                             summary: ScanSummary, progress: Progress) -> None:
    prepare(store, the_plan, rule, scan_id)
    walk_decided = [f for f in the_plan.todo if f.problem]
    for f in walk_decided:
        if f.problem[0] == FAILED:
            summary.failed += 1
        else:
            summary.skipped += 1
    items = [(f.path, f.root) for f in the_plan.todo if not f.problem]
    progress.start(len(items))
    # closing(): an interrupt raised here, outside the generator, still stops the pool at once
    with contextlib.closing(fingerprint_in_pool(items, settings, effective_workers(settings))) as batches:
        for results in batches:
            store.save_results(results)  # account, post id, scan id, size and mtime stay as recorded
            for r in results:
                if r["status"] == OK:
                    summary.fingerprinted += 1
                elif r["status"] == FAILED:
                    summary.failed += 1
                elif r["status"] == SKIPPED:
                    summary.skipped += 1
            progress.advance(len(results))
    summary.clusters, summary.cross_account_clusters, how = recluster(store, settings)
    summary.clusters_rebuilt = how.rebuilt
