"""hashtrail's command line: one click group over the pipeline.

Commands mirror pipeline functions; each docstring is its --help. Errors the
pipeline raises (``HashtrailError``, ``ConfigError``) become one-line messages
with exit code 1, never tracebacks.
"""
from __future__ import annotations

import errno
import json
import os
import sys

import click

from hashtrail import __version__, config
from hashtrail.api import os_error_message
from hashtrail.pipeline import report
from hashtrail.pipeline.errors import HashtrailError
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
      hashtrail scan ira_media/              # fingerprint every image
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
    """Fingerprint every image under PATHS and cluster near-duplicates.

    Walks directories recursively and decides what a file is by its content,
    not its name. Files already scanned and unchanged are not read again, so
    re-running a scan resumes or updates it; files gone from a scanned folder
    are marked missing and leave the clusters. Files that cannot be
    fingerprinted are recorded as failed, with the reason ('hashtrail status').

    Example: hashtrail scan ira_tweet_media/ --db ira.db --workers 2
    """
    settings = _settings(db=db, workers=workers)
    store = Store(settings.db)
    try:
        with _Bar("fingerprinting") as bar:
            summary = run_scan(list(paths), settings, store, progress=bar, retry_failed=retry_failed)
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

    Example: hashtrail enqueue /data/ira_media --wait
    """
    from hashtrail.workers.enqueue import enqueue as run_enqueue
    from hashtrail.workers.enqueue import wait as wait_for

    settings = _settings(db=db)
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

    Example: HASHTRAIL_BROKER_URL=redis://db-host:6379/0 hashtrail worker -n gpu1@%h
    """
    _celery_worker("fingerprint", name, concurrency, loglevel)


@main.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
def writer(loglevel):
    """Run the single writer: the only process that writes the database.

    Consumes the 'store' queue, saves each batch of results in one
    transaction, and re-clusters when no file is pending. Run exactly one,
    on the host that holds HASHTRAIL_DB (SQLite must be on a local disk).

    Example: HASHTRAIL_DB=/data/ira.db hashtrail writer
    """
    _celery_worker("store", "writer@%h", 1, loglevel)


@main.command()
@db_option
@click.option("--min-accounts", "-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Only clusters posted by at least K distinct accounts")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
              help="json: one cluster per line; csv: one member per row")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="At most N clusters")
def clusters(db, min_accounts, fmt, limit):
    """List clusters of near-duplicate media, most accounts first.

    Each cluster holds 2 or more media; distance is the pHash distance in
    bits of a member from the cluster's representative (its first member).

    Example: hashtrail clusters --min-accounts 3 --format json | jq .size
    """
    store = _open(db)
    found = report.clusters_with_members(store, min_accounts, limit)
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

    Example: hashtrail cluster --db ira.db
             hashtrail cluster --rebuild --db ira.db
    """
    from hashtrail.pipeline.scan import update_clusters

    settings = _settings(db=db)
    store = _open(db)
    done = update_clusters(store, settings, rebuild=rebuild)
    total = len(store.cluster_summaries())
    if done.rebuilt:
        click.echo(f"rebuilt from {done.new_rows:,} fingerprint rows in {done.seconds:.1f} s: {total:,} clusters")
    elif done.new_rows == 0 and done.changed == 0:
        click.echo(f"clusters are up to date: {total:,} clusters")
    else:
        click.echo(f"added {done.new_rows:,} new fingerprint rows in {done.seconds:.1f} s: {done.changed:,} clusters "
                   f"created, grown or merged; {total:,} clusters")


@main.command()
@click.argument("cluster", type=int)
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def show(cluster, db, fmt):
    """Show one cluster: its members, their accounts and distances.

    For videos and GIFs it also says which frames matched and at what time
    (0:04.0=0:01.2: this member at 4.0 s is the other at 1.2 s).

    Example: hashtrail show 17
    """
    found = report.cluster_report(_open(db), cluster)
    if fmt == "json":
        click.echo(json.dumps(found))
    else:
        click.echo(report.cluster_detail(found), nl=False)


@main.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(db, fmt):
    """Counts of fingerprinted, failed and skipped files, and why files failed.

    Example: hashtrail status --format json | jq .failed
    """
    counts = _open(db).status_counts()
    if fmt == "json":
        click.echo(json.dumps(counts))
    else:
        click.echo(report.status_text(counts), nl=False)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
@click.option("--threshold", type=click.IntRange(0, 64), default=None,
              help="pHash64 bits (default: phash_threshold); dHash and pHash256 keep theirs")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def match(file, db, threshold, fmt):
    """List stored media near FILE (query by example), best match first.

    FILE is fingerprinted as a scan would (it need not be in the database)
    and compared with every stored image, video and GIF under the
    clustering rule. FILE may be a video or GIF: the output says how many
    of its frames matched, and at what times (this file's = the stored one's).
    A match through a hard edit says so: via mirror, crop window, caption
    removed or rotation, with the variants that met ("query mirror_full ~ #12 full").

    Example: hashtrail match suspicious_meme.jpg --format json
             hashtrail match clip.mp4
    """
    from hashtrail.pipeline.index.search import match_file

    settings = _settings(db=db, phash_threshold=threshold)
    matches = match_file(_open(db), file, settings)
    if fmt == "json":
        click.echo("".join(json.dumps(m) + "\n" for m in matches), nl=False)
    elif not matches:
        click.echo("no stored media near this file")
    else:
        for m in matches:
            frames = ""
            if m["frames"] > 1 or m["their_frames"] > 1:
                times = ", ".join(f"{report.clock(a)}={report.clock(b)}" for a, b in m["times"])
                frames = f"  [{m['frames_matched']}/{m['frames']} frames: {times}]"
            via = "" if m["via"] == "plain" else f"  via {m['via']} ({m['transform']})"
            click.echo(f"p={m['phash_distance']:>2} d={m['dhash_distance']:>2} q={m['phash256_distance']:>3}  "
                       f"cluster {m['cluster_id'] or '-':<6} {m['account'] or '-':<16.16}  {m['path']}{frames}{via}")


@main.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
def import_(files, db):
    """Import tweets CSVs, users CSVs or manifests: who posted what, and when.

    The kind is read from each file's header: a Twitter IO tweets CSV
    (tweetid, userid, ..., tweet_time, ...; split parts and .csv.gz are
    fine), a users CSV (userid, user_screen_name, ...), or a manifest
    (path, account, post_id, posted_at, platform, url) for other
    collections. Post times then date the media in clusters (first seen,
    delays); without a CSV they come from the tweet id itself. Bad rows are
    listed by file and line and skipped; importing twice changes nothing.

    Example: hashtrail import ira_tweets_csv_hashed_*.csv.gz ira_users_csv_hashed.csv
    """
    from hashtrail.pipeline.archive.posts import Problem, UnknownCsv, read_csv

    store = Store(_settings(db=db).db)
    refused = 0
    for path in files:
        try:
            kind, rows = read_csv(path)
        except UnknownCsv as exc:
            click.echo(f"error: {exc}", err=True)
            refused += 1
            continue
        good, bad, problems, chunk = 0, 0, [], []
        for row in rows:
            if isinstance(row, Problem):
                bad += 1
                if len(problems) < 20:  # a systematically bad column must not fill memory
                    problems.append(row)
                continue
            chunk.append(row)
            if len(chunk) >= 5000:
                store.import_rows(kind, chunk, os.path.dirname(os.path.abspath(path)))
                good, chunk = good + len(chunk), []
        store.import_rows(kind, chunk, os.path.dirname(os.path.abspath(path)))
        good += len(chunk)
        click.echo(f"{path}: {kind}, {good} rows imported" + (f", {bad} bad rows skipped" if bad else ""))
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        if bad > len(problems):
            click.echo(f"  ... {bad - len(problems)} more", err=True)
    store.refresh_post_times()
    if refused:
        raise click.ClickException(f"{refused} of {len(files)} files were not imported (see above)")


@main.command()
@db_option
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="At most N accounts")
def accounts(db, fmt, limit):
    """Per account: media posted, media shared with other accounts, top partners.

    Accounts that share the most media with others come first; "shares most
    with" counts the clusters two accounts both posted.

    Example: hashtrail accounts --format csv > accounts.csv
    """
    rows = report.accounts_report(_open(db))[:limit]
    if fmt == "json":
        click.echo("".join(json.dumps(r) + "\n" for r in rows), nl=False)
    elif fmt == "csv":
        click.echo(report.accounts_csv(rows), nl=False)
    else:
        click.echo(report.accounts_table(rows), nl=False)


@main.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["csv", "gexf"]), default="csv", show_default=True)
@click.option("--min-weight", type=click.IntRange(min=1), default=1, show_default=True,
              help="Only pairs of accounts that share at least this many clusters")
def graph(db, fmt, min_weight):
    """The account co-sharing network: one edge per pair of accounts that
    posted media of one cluster, weighted by the number of such clusters.

    CSV (source, target, weight) loads in networkx or pandas; GEXF opens in
    Gephi, with each account's media counts as node attributes.

    Example: hashtrail graph --format gexf > ira.gexf
    """
    store = _open(db)
    edges = store.account_edges(min_weight)
    if fmt == "gexf":
        click.echo(report.graph_gexf(edges, store.account_summaries()), nl=False)
    else:
        click.echo(report.graph_csv(edges), nl=False)


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

    Example: hashtrail demo && hashtrail clusters --db hashtrail-demo/hashtrail.db
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
    click.echo("\nclusters posted by 2+ accounts:")
    click.echo(report.clusters_table(report.clusters_with_members(store, 2, 5)), nl=False)
    store.close()
    click.echo(f"\nnext: hashtrail clusters --db {db} --format json")
    click.echo(f"      hashtrail status --db {db}")


if __name__ == "__main__":
    main()
