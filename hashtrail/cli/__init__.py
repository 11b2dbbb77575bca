"""hashtrail's command line: one click group over the pipeline.

The group, its error handling and the helpers live here; the commands, by
idea, in ``scanning`` (scan, enqueue, worker, writer, cluster, forget,
demo), ``reports`` (clusters, show, status, match, import, accounts),
``network`` (graph, groups, timeline, ignore, unignore) and ``serve``.
Commands mirror pipeline functions; each docstring is its --help. Errors the
pipeline raises (``HashtrailError``, ``ConfigError``) become one-line messages
with exit code 1, never tracebacks.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys

import click

from hashtrail import __version__, config
from hashtrail.api import os_error_message
from hashtrail.api import settings as _settings  # the CLI reads settings as the API does
from hashtrail.pipeline.errors import HashtrailError
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


# the commands register themselves on ``main`` when imported
from hashtrail.cli import network, reports, scanning, serve  # noqa: E402,F401

if __name__ == "__main__":
    main()
