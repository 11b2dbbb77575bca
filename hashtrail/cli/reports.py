"""Commands that report what the database holds: clusters, show, status, match, import, accounts."""
from __future__ import annotations

import json
import os

import click

from hashtrail.cli import FORMATS, _open, _settings, db_option, main
from hashtrail.pipeline import report
from hashtrail.pipeline.store import Store


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
    bits of a member from the cluster's representative (its lowest media id).

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
        from hashtrail.pipeline.coordination import (
            Posts,
            fast_reposts_by_cluster,
            flag_fast_reposts,
            parse_window,
        )

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
    store = _open(db)
    found = report.cluster_report(store, cluster)
    if window:
        from hashtrail.pipeline.coordination import flag_fast_reposts, parse_window

        found = flag_fast_reposts(found, parse_window(window))
    set_aside = {r["cluster"]: r for r in store.ignored()}.get(cluster)
    found["ignored"] = set_aside is not None
    if fmt == "json":
        click.echo(json.dumps(found))
    else:
        click.echo(report.cluster_detail(found), nl=False)
        if set_aside:
            click.echo(f"set aside with 'hashtrail ignore' ({set_aside['reason'] or 'no reason given'}): it is left "
                       "out of clusters, graph and groups; 'hashtrail unignore' brings it back")


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
    A match through a hard edit says so: via caption removed or rotation
    (or mirror, crop window where switched on), with the variants that met.

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
    from hashtrail.pipeline.archive.file_list import (
        FILE_LIST,
        is_file_list,
        read_file_list,
    )
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
