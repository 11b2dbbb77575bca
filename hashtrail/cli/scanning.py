"""Commands that read media and keep the clusters: scan, enqueue, the workers, cluster, forget, demo."""
from __future__ import annotations

import os
import shlex
import signal
import sys
import time

import click

from hashtrail.cli import _Bar, _interruptible, _open, _settings, _warn, db_option, main
from hashtrail.pipeline import report
from hashtrail.pipeline.archive import zips
from hashtrail.pipeline.archive.walk import check_paths
from hashtrail.pipeline.report import plural
from hashtrail.pipeline.scan import ScanInterrupted
from hashtrail.pipeline.scan import scan as run_scan
from hashtrail.pipeline.store import Store


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@db_option
@click.option("--workers", "-w", type=click.IntRange(min=0), default=None,
              help="Processes to fingerprint with [default: one per core]")
@click.option("--retry-failed", is_flag=True, help="Read files that failed before again (e.g. after raising a limit)")
def scan(paths, db, workers, retry_failed):
    """Fingerprint every image, GIF and video under PATHS and cluster near-duplicates.

    Walks directories recursively and decides what a file is by its content,
    not its name. Files already scanned and unchanged are not read again, so
    re-running a scan resumes or updates it; files gone from a scanned folder
    are marked missing and leave the clusters. Files that cannot be
    fingerprinted are recorded as failed, with the reason ('hashtrail status').

    \b
    Example:
      hashtrail scan ira_tweet_media/ --db ira.db --workers 2
    """
    check_paths(paths)  # before the database is created
    settings = _settings(db=db, workers=workers)
    store = Store(settings.db)
    resume = f"hashtrail scan {shlex.join(os.path.abspath(p) for p in paths)} --db {shlex.quote(os.path.abspath(settings.db))}"
    try:
        with _interruptible(), _Bar("fingerprinting") as bar:
            summary = run_scan(list(paths), settings, store, progress=bar, retry_failed=retry_failed)
    except ScanInterrupted as exc:
        click.echo(f"\n{exc}:\n  {resume}", err=True)
        sys.exit(128 + signal.Signals[exc.by].value)  # 130 for Ctrl-C, 143 for SIGTERM, as shells expect
    except KeyboardInterrupt as exc:  # still walking: no scan was recorded
        click.echo(f"\ninterrupted by {exc or 'SIGINT'} while listing the files: nothing was recorded", err=True)
        sys.exit(128 + signal.Signals[str(exc) or "SIGINT"].value)
    finally:
        store.close()
    click.echo(summary.line())


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@db_option
@click.option("--wait", is_flag=True, help="Show progress until every file has a result, then exit 0")
@click.option("--retry-failed", is_flag=True, help="Send files that failed before again")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="Give up (exit 1) after this many seconds: bounds the whole command (sending, waiting "
                   "for room in Redis, and --wait)")
def enqueue(paths, db, wait, retry_failed, timeout):
    """Send every new or changed file under PATHS to the Celery workers.

    Records the job in the database, then sends batches of
    celery_batch_size files to the 'fingerprint' queue on
    HASHTRAIL_BROKER_URL, keeping at most max_queued_batches waiting. Running
    it again is the resume: only files without a result are sent. Needs a
    writer ('hashtrail writer') and one or more workers ('hashtrail worker').

    \b
    Example:
      hashtrail enqueue /data/ira_media --wait
    """
    from hashtrail.workers.enqueue import enqueue as run_enqueue
    from hashtrail.workers.enqueue import wait as wait_for
    from hashtrail.workers.writer_beacon import check_writer

    deadline = None if timeout is None else time.monotonic() + timeout
    check_paths(paths)  # before the database is created
    settings = _settings(db=db)
    check_writer(settings)  # a writer holding another database: refuse before creating this one
    store = Store(settings.db)
    with _Bar("enqueueing") as bar:
        summary = run_enqueue(list(paths), settings, store, bar, retry_failed=retry_failed, warn=_warn,
                              deadline=deadline)
    click.echo(summary.line())
    if wait:
        with _Bar(f"job {summary.job}") as bar:
            counts = wait_for(store, summary.job, bar, settings, warn=_warn, deadline=deadline)
        click.echo(f"job {summary.job} done: {counts.get('ok', 0)} fingerprinted, {counts.get('failed', 0)} failed, "
                   f"{counts.get('skipped', 0)} skipped")


def _celery_worker(queue: str, name: str, concurrency: int, loglevel: str) -> None:
    from hashtrail.workers.app import app
    from hashtrail.workers.broker_watch import ROLES, client_name

    # named on Redis, so 'enqueue --wait' can tell a connected worker that takes nothing (celery#8030)
    app.conf.broker_transport_options = {**app.conf.broker_transport_options,
                                         "client_name": client_name(ROLES[queue])}
    os.environ["HASHTRAIL_POOL_PROCESSES"] = str(concurrency)  # join shards share the cores (workers/tasks.py)
    app.worker_main(["worker", "-Q", queue, "-n", name, "-c", str(concurrency), "-l", loglevel,
                     "--without-gossip", "--without-mingle"])


@main.command()
@click.option("--name", "-n", default="worker@%h", show_default=True,
              help="Node name, distinct per worker (%h is the host name)")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              help="Processes [default: one per core]")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
def worker(name, concurrency, loglevel):
    """Run a fingerprint worker (Celery) on this host; run as many as you like.

    Consumes the 'fingerprint' queue on HASHTRAIL_BROKER_URL and sends results
    to the writer; it never opens the database. If this host sees the media
    under another path than the host that ran 'enqueue', set
    HASHTRAIL_PATH_MAP='/path/on/enqueue/host=/path/here'.

    \b
    Example:
      HASHTRAIL_BROKER_URL=redis://db-host:6379/0 hashtrail worker -n gpu1@%h
    """
    _celery_worker("fingerprint", name, concurrency, loglevel)


@main.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
def writer(loglevel):
    """Run the single writer: the only process that writes the database.

    Consumes the 'store' queue, saves each batch of results in one
    transaction, and re-clusters when no file is pending. Run exactly one,
    on the host that holds HASHTRAIL_DB (SQLite must be on a local disk).

    It announces the database it holds (id and absolute path) on the
    broker, so 'enqueue' refuses at once when it opened another file.

    \b
    Example:
      HASHTRAIL_DB=/data/ira.db hashtrail writer
    """
    from hashtrail.workers.writer_beacon import Beacon

    beacon = Beacon(_settings())
    beacon.start()
    try:
        _celery_worker("store", "writer@%h", 1, loglevel)
    finally:
        beacon.stop()


@main.command()
@db_option
@click.option("--rebuild", is_flag=True, help="recompute every cluster from all fingerprints")
@click.option("--distributed", is_flag=True,
              help="run a rebuild's join on the fingerprint workers (HASHTRAIL_BROKER_URL), shard by shard")
@click.option("--shards", type=click.IntRange(min=1), default=None,
              help="with --distributed: tasks to split the join into [default: one per worker process]")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="with --distributed: give up (exit 1, clusters unchanged) after this many seconds")
@click.option("--exact", is_flag=True, default=None,
              help="find every pair within the thresholds (1.6x the join's time); by default the join "
                   "misses ~2% of the pairs at exactly the pHash threshold (HASHTRAIL_JOIN_EXACT=1 keeps it on)")
def cluster(db, rebuild, distributed, shards, timeout, exact):
    """Bring the clusters up to date with the fingerprints.

    scan, and the writer at the end of each job, do this themselves; run it
    after an interrupted job, or with --rebuild to recompute everything.
    New media join existing clusters, or merge two (the merged cluster keeps
    the older id); clusters they do not touch keep their ids, so notes kept
    about a cluster stay valid. When files went missing, were re-read, or
    the thresholds changed, the update is a rebuild by itself.

    The join searches its index one bit short of exact: every pair within
    15 bits of pHash is found, and 97.8% of those at exactly 16 (README
    "Clustering at scale" gives the measured recall). --exact finds them
    all; as it changes the rule, the next update without it rebuilds again.

    With --distributed, a rebuild's join (the part that grows with the
    square of the archive) runs as tasks on the fingerprint workers of every
    host; this process merges their pairs and writes the same clusters as
    without it. An update of new media stays local (it takes seconds).

    \b
    Examples:
      hashtrail cluster --db ira.db
      hashtrail cluster --rebuild --db ira.db
      hashtrail cluster --rebuild --distributed --timeout 3600 --db /data/ira.db
    """
    from hashtrail.pipeline.scan import update_clusters

    if not distributed and (shards is not None or timeout is not None):
        raise click.UsageError("--shards and --timeout go with --distributed")
    settings = _settings(db=db, join_exact=exact or None)
    store = _open(db)
    if distributed:
        from hashtrail.workers.join import cluster_distributed

        with _Bar("joining shards") as bar:
            shown = 0

            def progress(done, total):  # (0, n) once the shards are sent, then as they come in
                nonlocal shown
                if done == 0:
                    bar.start(total)
                bar.advance(done - shown)
                shown = done
            done, timings = cluster_distributed(store, settings, rebuild=rebuild, shard_count=shards,
                                                timeout_s=timeout, warn=_warn, progress=progress)
        if timings:
            click.echo(f"joined on the workers: {plural(timings.shards, 'shard')}, {timings.pairs:,} row pairs, "
                       f"{timings.column_bytes / 1e6:,.0f} MB of columns published")
        elif done.rebuilt or done.new_rows:
            click.echo("the update joined only the new rows, here (--rebuild distributes a full join)")
    else:
        done = update_clusters(store, settings, rebuild=rebuild)
    total = len(store.cluster_summaries())
    if done.rebuilt:
        click.echo(f"rebuilt from {plural(done.new_rows, 'fingerprint row')} in {done.seconds:.1f} s: "
                   f"{plural(total, 'cluster')}")
    elif done.new_rows == 0 and done.changed == 0:
        click.echo(f"clusters are up to date: {plural(total, 'cluster')}")
    else:
        click.echo(f"added {plural(done.new_rows, 'new fingerprint row')} in {done.seconds:.1f} s: "
                   f"{plural(done.changed, 'cluster')} created, grown or merged; {plural(total, 'cluster')}")
    if done.unavailable:
        click.echo(f"note: {plural(done.unavailable, 'hard-edit pair')} not joined: a file to check the pixels "
                   "against could not be read (moved or deleted?); a rebuild with the files back finds them", err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@db_option
@click.option("--even-if-present", is_flag=True,
              help="Forget paths that still exist too (a scan keeps those up to date; this drops them)")
def forget(paths, db, even_if_present):
    """Drop what the database holds of PATHS: roots, folders, zips or files that are gone.

    A moved or deleted folder cannot be scanned again, so its rows would
    stay, beside the rows of its new place. 'hashtrail status' lists the
    roots and says which are gone. The clusters are brought up to date
    afterwards (a rebuild: media went away; a cluster whose lowest media id
    was forgotten takes the next one's as its id).

    \b
    Examples:
      mv media media2 && hashtrail scan media2 && hashtrail forget media
      hashtrail forget releases/ira_tweet_media_hashed_3.zip
    """
    from hashtrail.pipeline.scan import update_clusters

    present = [p for p in paths if os.path.lexists(zips.split(p)[0] if zips.split(p) else p)]
    if present and not even_if_present:
        raise click.ClickException(
            f"{', '.join(present)} still {'exists' if len(present) == 1 else 'exist'}: forget drops what is gone "
            "(a scan keeps what is there up to date); add --even-if-present to drop it anyway")
    settings = _settings(db=db)
    store = _open(db)
    gone = {path: store.forget(path) for path in paths}
    for path, n in gone.items():
        click.echo(f"{path}: {n} {'row' if n == 1 else 'rows'} forgotten")
    if sum(gone.values()):
        update_clusters(store, settings)
        click.echo(f"{len(store.cluster_summaries()):,} clusters")
    unknown = [p for p, n in gone.items() if not n]
    if unknown:
        raise click.ClickException(f"nothing recorded at {', '.join(unknown)}: 'hashtrail status' lists the roots")


@main.command()
@click.argument("directory", default="hashtrail-demo", type=click.Path(file_okay=False))
@click.option("--workers", "-w", type=click.IntRange(min=0), default=None, help="Processes [default: one per core]")
def demo(directory, workers):
    """Build a small demo archive in DIRECTORY, scan it and show the clusters.

    The archive uses the layout of Twitter's information-operations releases
    (<part>/<userid>/images/<tweetid>-<key>.jpg) with pictures reposted by
    several accounts after typical edits, a video reposted as a smaller
    video, a GIF and a still frame, and a few broken files. The
    database is DIRECTORY/hashtrail.db.

    \b
    Example:
      hashtrail demo && hashtrail clusters --db hashtrail-demo/hashtrail.db
    """
    from hashtrail.pipeline.demo import build_demo_archive

    archive = os.path.join(directory, "archive")
    if not os.path.isdir(archive):
        written = build_demo_archive(archive)
        click.echo(f"built demo archive in {archive}: {written['images']} pictures, "
                   f"{written['reposts']} reposts, {written['videos']} videos and GIFs, "
                   f"{written['broken']} broken files")
    db = os.path.join(directory, "hashtrail.db")
    settings = _settings(db=db, workers=workers)
    store = Store(db)
    with _Bar("fingerprinting") as bar:
        summary = run_scan([archive], settings, store, progress=bar)
    click.echo(summary.line())
    shown = report.clusters_with_members(store, 2, 5)
    click.echo(f"\nthe {plural(len(shown), 'cluster')} posted by the most accounts "
               f"(of {plural(summary.cross_account_clusters, 'cluster')} posted by 2+ accounts):")
    click.echo(report.clusters_table(shown), nl=False)
    store.close()
    click.echo(f"\nall of them:   hashtrail clusters --db {db} --min-accounts 2")
    click.echo(f"one in detail: hashtrail show {shown[0]['cluster'] if shown else 1} --db {db}")
    click.echo(f"as JSON:       hashtrail clusters --db {db} --format json")
    click.echo(f"the files:     hashtrail status --db {db}")
    click.echo(f"look at them:  hashtrail serve --db {db} --open")
