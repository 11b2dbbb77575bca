"""Time spent inside the exact join, apart from the rest of a clustering (cluster_scale.py, incremental_scale.py).

The join grows with all rows; what surrounds it should grow only with the
new rows. Splitting the two is how the benchmarks show which one an
update's time is.
"""
from __future__ import annotations

import time

from hashtrail.pipeline.index import multi_index


class JoinClock:
    """Wall and CPU seconds spent inside ``multi_index.join`` while the block runs (the rest is everything else)."""

    def __enter__(self):
        self.wall = self.cpu = 0.0
        self._join = multi_index.join

        def timed(*args, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return self._join(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - started
                self.cpu += time.process_time() - cpu
        multi_index.join = timed
        return self

    def __exit__(self, *exc):
        multi_index.join = self._join
