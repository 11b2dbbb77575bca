"""The store's one clock: UTC timestamps to the second, as every table writes them."""
from __future__ import annotations

import datetime as dt


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
