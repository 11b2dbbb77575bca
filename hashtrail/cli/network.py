"""Commands about coordination: the account network, groups, timelines, clusters set aside."""
from __future__ import annotations

import json
import os

import click

from hashtrail.cli import FORMATS, _open, _settings, db_option, main
from hashtrail.pipeline import report
from hashtrail.pipeline.report import plural
from hashtrail.pipeline.store import Store


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
        if unknown and not set_aside:
            raise click.ClickException("no cluster has those ids: 'hashtrail clusters' lists them")
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
    if not done:
        raise click.ClickException("none of those clusters was set aside: 'hashtrail ignore --list' lists them")
