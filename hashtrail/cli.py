"""hashtrail's command line: one click group over the pipeline.

Commands mirror pipeline functions; each docstring is its --help. Errors the
pipeline raises (``HashtrailError``, ``ConfigError``) become one-line messages
with exit code 1, never tracebacks.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import signal
import sys

import click

from hashtrail import __version__, config
from hashtrail.api import os_error_message
from hashtrail.pipeline import report
from hashtrail.pipeline.report import plural
from hashtrail.pipeline.archive.walk import check_paths
from hashtrail.pipeline.errors import HashtrailError
from hashtrail.pipeline.scan import ScanInterrupted
from hashtrail.pipeline.scan import scan as run_scan
from hashtrail.pipeline.store import Store

FORMATS = click.Choice(["table", "json", "csv"])


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (HashtrailError, config.ConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # e.g. the database's folder does not exist or is not writable
            if exc.errno == errno.EPIPE:
                raise  # `hashtrail clusters | head`: click ends quietly
            raise click.ClickException(os_error_message(exc)) from None


class _Bar:
    """Progress on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def start(self, total: int) -> None:
        if sys.stderr.isatty() and total:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True,
                                         show_eta=True)
            self.bar.__enter__()

    def advance(self, n: int) -> None:
        if self.bar:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _interruptible():
    """SIGINT (Ctrl-C) and SIGTERM (systemd, ``timeout``, ``kill``) stop a scan cleanly.

    Both raise KeyboardInterrupt (named after the signal) in this process;
    the scan then stops its pool, marks itself interrupted and keeps its
    results. Signals that arrive during that cleanup are ignored, so a
    second Ctrl-C cannot leave pool processes behind.
    """
    main_pid = os.getpid()

    def interrupt(signum, frame):
        if os.getpid() != main_pid:  # a forked pool child that has not set its own handlers yet
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _warn(message: str) -> None:
    click.echo(f"\nwarning: {message}", err=True)


def _settings(**overrides) -> config.Settings:
    return config.load().replace(**overrides)


def _open(db: str | None, create: bool = False) -> Store:
    return Store(_settings(db=db).db, create=create)


db_option = click.option("--db", type=click.Path(dir_okay=False), default=None,
                         help="SQLite file [default: $HASHTRAIL_DB or ./hashtrail.db]")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hashtrail")
def main():
    """Find media reused across accounts in information-operations archives.

    \b
    Typical session:
      hashtrail scan ira_media/              # fingerprint every image, GIF and video
      hashtrail clusters --min-accounts 2    # media posted by 2+ accounts
      hashtrail show 17                      # one cluster in detail
      hashtrail status                       # counts and failures

    Settings come from config/default.toml; each can be overridden by an
    environment variable HASHTRAIL_<NAME>, e.g. HASHTRAIL_DB=ira.db.
    """


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
              help="With --wait: give up (exit 1) after this many seconds")
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

    check_paths(paths)  # before the database is created
    settings = _settings(db=db)
    check_writer(settings)  # a writer holding another database: refuse before creating this one
    store = Store(settings.db)
    with _Bar("enqueueing") as bar:
        summary = run_enqueue(list(paths), settings, store, bar, retry_failed=retry_failed, warn=_warn)
    click.echo(summary.line())
    if wait:
        with _Bar(f"job {summary.job}") as bar:
            counts = wait_for(store, summary.job, bar, settings, timeout_s=timeout, warn=_warn)
        click.echo(f"job {summary.job} done: {counts.get('ok', 0)} fingerprinted, {counts.get('failed', 0)} failed, "
                   f"{counts.get('skipped', 0)} skipped")


def _celery_worker(queue: str, name: str, concurrency: int, loglevel: str) -> None:
    from hashtrail.workers.app import app

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
@click.option("--min-accounts", "-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Only clusters posted by at least K distinct accounts")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
              help="json: one cluster per line; csv: one member per row")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="At most N clusters")
@click.option("--show-ignored", is_flag=True, help="Include clusters set aside with 'hashtrail ignore'")
@click.option("--across-releases", is_flag=True,
              help="Only media reused across releases (campaigns: ira, iranian, china_052020, ...)")
@click.option("--release", default=None, metavar="NAME", help="Only clusters with media of this release")
@click.option("--window", "-w", default=None, metavar="DURATION",
              help="Flag fast reposts (within this time of another account's post) and sort by them")
@click.option("--suggest-ignore", is_flag=True,
              help="List likely noise instead: clusters posted by a large share of all accounts, flat or logo-like")
def clusters(db, min_accounts, fmt, limit, show_ignored, across_releases, release, suggest_ignore, window):
    """List clusters of near-duplicate media, most accounts first.

    Each cluster holds 2 or more media; distance is the pHash distance in
    bits of a member from the cluster's representative (its first member).

    \b
    Example:
      hashtrail clusters --min-accounts 3 --format json | jq .size
    """
    store = _open(db)
    if suggest_ignore:
        candidates = store.ignore_candidates(limit=limit or 50)
        if fmt == "json":
            click.echo("".join(json.dumps(c) + "\n" for c in candidates), nl=False)
        elif not candidates:
            click.echo("no cluster looks like noise (none posted by most accounts, none flat)")
        else:
            for c in candidates:
                click.echo(f"cluster {c['cluster']}: {c['size']} media, {c['accounts']} accounts: {c['why']}")
            ids = " ".join(str(c["cluster"]) for c in candidates[:10])
            click.echo(f"\nto set them aside: hashtrail ignore {ids} --reason '...'")
        return
    if window:
        from hashtrail.pipeline.coordination import (Posts, fast_reposts_by_cluster, flag_fast_reposts,
                                                     parse_window)

        seconds = parse_window(window)
        counts = fast_reposts_by_cluster(Posts.from_rows(store.clustered_posts(True, show_ignored)), seconds)
        found = report.clusters_with_members(store, min_accounts, None, show_ignored, across_releases, release)
        found = sorted((flag_fast_reposts(c, seconds) for c in found),
                       key=lambda c: (-counts.get(c["cluster"], 0), -c["accounts"], c["cluster"]))[:limit]
    else:
        found = report.clusters_with_members(store, min_accounts, limit, show_ignored, across_releases, release)
    if fmt == "json":
        click.echo(report.as_json_lines(found), nl=False)
    elif fmt == "csv":
        click.echo(report.clusters_csv(found), nl=False)
    else:
        click.echo(report.clusters_table(found), nl=False)


@main.command()
@db_option
@click.option("--rebuild", is_flag=True, help="recompute every cluster from all fingerprints")
def cluster(db, rebuild):
    """Bring the clusters up to date with the fingerprints.

    scan, and the writer at the end of each job, do this themselves; run it
    after an interrupted job, or with --rebuild to recompute everything.
    New media join existing clusters, or merge two (the merged cluster keeps
    the older id); clusters they do not touch keep their ids, so notes kept
    about a cluster stay valid. When files went missing, were re-read, or
    the thresholds changed, the update is a rebuild by itself.

    \b
    Examples:
      hashtrail cluster --db ira.db
      hashtrail cluster --rebuild --db ira.db
    """
    from hashtrail.pipeline.scan import update_clusters

    settings = _settings(db=db)
    store = _open(db)
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


@main.command()
@click.argument("cluster", type=int)
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--window", "-w", default=None, metavar="DURATION",
              help="Flag fast reposts: posted within this time after another account's post (e.g. 60s)")
def show(cluster, db, fmt, window):
    """Show one cluster: its members, their accounts and distances.

    For videos and GIFs it also says which frames matched and at what time
    (0:04.0=0:01.2: this member at 4.0 s is the other at 1.2 s).

    \b
    Example:
      hashtrail show 17
    """
    found = report.cluster_report(_open(db), cluster)
    if window:
        from hashtrail.pipeline.coordination import flag_fast_reposts, parse_window

        found = flag_fast_reposts(found, parse_window(window))
    if fmt == "json":
        click.echo(json.dumps(found))
    else:
        click.echo(report.cluster_detail(found), nl=False)


@main.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(db, fmt):
    """Counts of fingerprinted, failed and skipped files, and why files failed.

    A media seen at several paths (a moved folder, a zip and its unpacked
    copy) counts once. Also: the scanned roots and which are gone ('hashtrail
    forget'), where accounts came from (tweets CSV, manifest, path), why
    files were skipped, and which files of an imported media file list no
    scan has seen.

    \b
    Example:
      hashtrail status --format json | jq .failed
    """
    store = _open(db)
    counts = store.status_counts()
    if fmt == "json":
        click.echo(json.dumps(counts))
    else:
        click.echo(report.status_text(counts, db=os.path.abspath(store.path)), nl=False)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
@click.option("--threshold", type=click.IntRange(0, 64), default=None,
              help="pHash64 bits (default: phash_threshold); dHash and pHash256 keep theirs")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def match(file, db, threshold, fmt):
    """List stored media near FILE (query by example), best match first.

    FILE is one image, GIF or video (to compare a zip's members, scan it).
    It is fingerprinted as a scan would (it need not be in the database)
    and compared with every stored image, video and GIF under the
    clustering rule. FILE may be a video or GIF: the output says how many
    of its frames matched, and at what times (this file's = the stored one's).

    \b
    Examples:
      hashtrail match suspicious_meme.jpg --format json
      hashtrail match clip.mp4
    """
    from hashtrail.pipeline.index.search import match_file

    settings = _settings(db=db, phash_threshold=threshold)
    matches = match_file(_open(db), file, settings)
    if fmt == "json":
        click.echo("".join(json.dumps(m) + "\n" for m in matches), nl=False)
    else:
        from hashtrail.pipeline.index.cluster import Thresholds

        click.echo(report.matches_table(matches, file, Thresholds.from_settings(settings)), nl=False)


@main.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
def import_(files, db):
    """Import tweets CSVs, users CSVs or manifests: who posted what, and when.

    The kind is read from each file's header: a Twitter IO tweets CSV
    (tweetid, userid, ..., tweet_time, ...; split parts and .csv.gz are
    fine), a users CSV (userid, user_screen_name, ...), or a manifest
    (path, account, post_id, posted_at, platform, url) for other
    collections; or the release's media file list (a .txt, one file a
    line), so that 'status' says which listed files no scan has seen.

    A media whose post id (from its file name, <tweetid>-<mediakey>.jpg,
    wherever it sits) is an imported tweet takes the tweet's account, time
    and retweet mark; the path's account is the fallback. Post times date
    the media in clusters (first seen, delays); without a CSV they come
    from the tweet id itself. Bad rows are listed by file and line and
    skipped; each file's rows are counted as new, changed or unchanged.

    \b
    Examples:
      hashtrail import ira_tweets_csv_hashed_*.csv.gz ira_users_csv_hashed.csv
      hashtrail import ira_media_file_list_hashed.txt
    """
    from hashtrail.pipeline.archive.file_list import FILE_LIST, is_file_list, read_file_list
    from hashtrail.pipeline.archive.posts import Problem, UnknownCsv, read_csv
    from hashtrail.pipeline.store.history import Imported

    store = Store(_settings(db=db).db)
    refused = 0
    for path in files:
        try:
            kind, rows = (FILE_LIST, read_file_list(path)) if is_file_list(path) else read_csv(path)
        except UnknownCsv as exc:
            click.echo(f"error: {exc}", err=True)
            refused += 1
            continue
        done, bad, problems, chunk = Imported(), 0, [], []
        for row in rows:
            if isinstance(row, Problem):
                bad += 1
                if len(problems) < 20:  # a systematically bad column must not fill memory
                    problems.append(row)
                continue
            chunk.append(row)
            if len(chunk) >= 5000:
                done.add(store.import_rows(kind, chunk, os.path.dirname(os.path.abspath(path))))
                chunk = []
        done.add(store.import_rows(kind, chunk, os.path.dirname(os.path.abspath(path))))
        click.echo(f"{path}: {kind}, {done.text()}" + (f", {bad} bad rows skipped" if bad else ""))
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        if bad > len(problems):
            click.echo(f"  ... {bad - len(problems)} more", err=True)
    store.refresh_attribution()
    store.refresh_summaries()
    if refused:
        raise click.ClickException(f"{refused} of {len(files)} files were not imported (see above)")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@db_option
def forget(paths, db):
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
@db_option
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="At most N accounts")
@click.option("--include-retweets", is_flag=True, help="Count retweeted media as shared (not by default)")
def accounts(db, fmt, limit, include_retweets):
    """Per account: media posted, media shared with other accounts, top partners.

    Accounts that share the most media with others come first; "shares most
    with" counts the clusters two accounts both posted. Accounts are the
    attributed ones (tweets CSV, else manifest, else path); a retweet is
    not a share unless --include-retweets.

    \b
    Example:
      hashtrail accounts --format csv > accounts.csv
    """
    rows = report.accounts_report(_open(db), include_retweets=include_retweets)[:limit]
    if fmt == "json":
        click.echo("".join(json.dumps(r) + "\n" for r in rows), nl=False)
    elif fmt == "csv":
        click.echo(report.accounts_csv(rows), nl=False)
    else:
        click.echo(report.accounts_table(rows), nl=False)


def _network(store, window, min_weight, min_accounts, include_retweets, include_ignored, evidence):
    from hashtrail.pipeline.coordination import Posts, co_sharing_edges, parse_window

    seconds = parse_window(window) if window else None
    posts = Posts.from_rows(store.clustered_posts(include_retweets, include_ignored))
    return co_sharing_edges(posts, seconds, min_weight, evidence=evidence, min_accounts=min_accounts)


def network_options(command):
    """The options graph and groups share: the window and what counts."""
    for option in reversed([
        click.option("--window", "-w", default=None, metavar="DURATION",
                     help="Only posts within this time of each other (symmetric: 10s, 60s, 10m, 1d); "
                          "without it, accounts that ever posted media of one cluster"),
        click.option("--min-weight", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Only pairs of accounts that co-posted at least this many clusters"),
        click.option("--min-accounts", type=click.IntRange(min=2), default=2, show_default=True,
                     help="Only clusters posted by at least this many accounts"),
        click.option("--include-retweets", is_flag=True, help="Count retweets as posts (not reuse by default)"),
        click.option("--include-ignored", is_flag=True, help="Count clusters set aside with 'hashtrail ignore'"),
    ]):
        command = option(command)
    return command


@main.command()
@db_option
@network_options
@click.option("--format", "fmt", type=click.Choice(["csv", "gexf", "graphml", "json"]), default="csv",
              show_default=True, help="json: one edge per line with its evidence")
def graph(db, window, min_weight, min_accounts, include_retweets, include_ignored, fmt):
    """The account network: accounts that posted media of one cluster (within --window of each other).

    Weight is the number of distinct clusters two accounts co-posted, with
    the number of co-posting pairs of posts beside it. With --window the
    window is symmetric around each post (the QUT toolkit's convention), so
    a picture everybody posted over years links only the accounts that
    posted it close together. JSON lines carry the evidence per edge: the
    cluster ids, both post ids and times, and the delay. Clusters set aside
    with 'hashtrail ignore' and retweets are left out unless asked.

    \b
    Examples:
      hashtrail graph --window 60s --min-weight 2 --format gexf > ira.gexf
      hashtrail graph --window 10m --format json | jq .evidence[0]
      hashtrail graph --format csv > ever_shared.csv
    """
    from hashtrail.pipeline import network_report

    store = _open(db)
    edges = _network(store, window, min_weight, min_accounts, include_retweets, include_ignored, fmt == "json")
    if fmt == "json":
        click.echo(network_report.edges_json_lines(edges), nl=False)
    elif fmt == "csv":
        click.echo(network_report.edges_csv(edges), nl=False)
    else:
        accounts = store.account_summaries(include_retweets=include_retweets)
        text = network_report.edges_gexf(edges, accounts) if fmt == "gexf" else \
            network_report.edges_graphml(edges, accounts)
        click.echo(text, nl=False)


@main.command()
@db_option
@network_options
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
              help="json: one group per line; csv: one account per row")
def groups(db, window, min_weight, min_accounts, include_retweets, include_ignored, fmt):
    """Coordinated groups: accounts linked by co-posts within --window, with their Louvain communities.

    A group is a connected component of the 'graph' network; each lists its
    accounts, the clusters they co-posted, its time span and the median
    delay between co-posts, and splits into Louvain communities (networkx,
    fixed seed) where it is large enough to.

    \b
    Examples:
      hashtrail groups --window 60s --min-weight 2
      hashtrail groups --window 10m --format csv > groups.csv
    """
    from hashtrail.pipeline import network_report
    from hashtrail.pipeline.coordination import coordinated_groups

    if not window:
        raise click.UsageError("groups needs --window (e.g. --window 60s): accounts that ever shared a picture "
                               "are not a coordinated group")
    found = coordinated_groups(_network(_open(db), window, min_weight, min_accounts, include_retweets,
                                        include_ignored, False))
    if fmt == "json":
        click.echo("".join(json.dumps(g) + "\n" for g in found), nl=False)
    elif fmt == "csv":
        click.echo(network_report.groups_csv(found), nl=False)
    else:
        click.echo(network_report.groups_table(found, window), nl=False)


@main.command()
@click.argument("cluster", type=int)
@db_option
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="The picture to write: .svg or .png")
def timeline(cluster, db, out):
    """Draw a cluster's spread: who posted it when (accounts by time, the first post in red).

    The same drawing as the cluster page of 'hashtrail serve'.

    \b
    Example:
      hashtrail timeline 17 --out spread.svg
    """
    from hashtrail.figures import spread_timeline

    kind = os.path.splitext(out)[1].lower().lstrip(".")
    if kind not in ("svg", "png"):
        raise click.BadParameter("the file must end in .svg or .png", param_hint="--out")
    found = report.cluster_report(_open(db), cluster)
    with open(out, "wb") as f:
        f.write(spread_timeline(found, kind))
    dated = sum(1 for m in found["members"] if m.get("posted_at"))
    click.echo(f"{out}: {plural(len(found['members']), 'post')} of cluster {cluster} ({dated:,} dated)")


@main.command()
@click.argument("clusters", nargs=-1, type=int)
@db_option
@click.option("--reason", default=None, help="Why it is not evidence (a logo, a blank frame, a viral picture)")
@click.option("--list", "show", is_flag=True, help="List the clusters set aside, with their reasons")
def ignore(clusters, db, reason, show):
    """Set clusters aside: they leave 'clusters', 'graph' and 'groups' (flags bring them back).

    Kept by cluster id in the database; when a later scan merges an ignored
    cluster into another, the ignore moves with it (and --list says so).
    'hashtrail clusters --suggest-ignore' lists likely candidates.

    \b
    Examples:
      hashtrail ignore 12 40 --reason "channel logo"
      hashtrail ignore --list
    """
    store = Store(_settings(db=db).db, create=False)
    if clusters:
        unknown = store.ignore_clusters(list(clusters), reason)
        set_aside = len(clusters) - len(unknown)
        click.echo(f"set aside {plural(set_aside, 'cluster')}" + (f"; not clusters: {', '.join(map(str, unknown))}"
                                                                   if unknown else ""))
    if show or not clusters:
        rows = store.ignored()
        if not rows:
            click.echo("no cluster is set aside")
        for r in rows:
            click.echo(f"cluster {r['cluster']}: {r['reason'] or '(no reason given)'}, since {r['at']}"
                       + (f"; {r['note']}" if r["note"] else ""))


@main.command()
@click.argument("clusters", nargs=-1, type=int, required=True)
@db_option
def unignore(clusters, db):
    """Bring clusters set aside with 'hashtrail ignore' back into every report.

    \b
    Example:
      hashtrail unignore 12
    """
    done = Store(_settings(db=db).db, create=False).unignore_clusters(list(clusters))
    click.echo(f"brought back {plural(done, 'cluster')}")


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback shows the archive to the network")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="Open the start page in a web browser")
def serve(db, host, port, open_browser):
    """Browse the evidence in a web browser: clusters, accounts, spread, thumbnails.

    A local, read-only web application over the database: the clusters with
    thumbnails and filters, each cluster's members in post order with a
    spread timeline and matched video frames, each account's media and
    co-sharing partners, and an upload form to match a file. Every page is
    also JSON (add .json). The database is opened read-only; thumbnails are
    cached in a folder beside it (DB-thumbs/).

    \b
    Example:
      hashtrail serve --db ira.db --open
    """
    import ipaddress
    import socket

    import uvicorn

    from hashtrail.web.app import create_app

    settings = _settings(db=db)
    app = create_app(settings.db, settings)
    try:
        loopback = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        loopback = False
    if not loopback:
        _warn(f"listening on {host}: anyone who can reach this address can browse the archive "
              "(there is no login); use the default 127.0.0.1 unless you mean it")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    click.echo(f"hashtrail serve: {url} (read-only view of {settings.db}); Ctrl-C stops it", err=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


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


if __name__ == "__main__":
    main()
