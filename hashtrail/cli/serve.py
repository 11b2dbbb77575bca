"""``hashtrail serve``: the read-only web browser of the evidence."""
from __future__ import annotations

import click

from hashtrail.cli import _settings, _warn, db_option, main
from hashtrail.pipeline.store import DatabaseUnavailable, Store


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
    try:
        app = create_app(settings.db, settings)
    except DatabaseUnavailable:  # made by an older hashtrail: upgraded (additively) as 'status' would, then served
        Store(settings.db, create=False).close()
        click.echo(f"upgraded {settings.db} to this hashtrail's schema (new tables and columns only)", err=True)
        app = create_app(settings.db, settings)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:  # before the banner: a port in use must not look like a running server
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                                       "(another hashtrail serve? pass --port)") from None
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
