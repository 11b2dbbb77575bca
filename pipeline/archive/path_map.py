"""Paths as recorded vs paths as one worker host sees them.

``enqueue`` records absolute paths on the host where it runs. A worker on
another machine may mount the same media elsewhere; ``path_map`` rewrites the
recorded prefix to the local one for reading, while results keep the
recorded path, so every host's results land on the same rows.
"""
from __future__ import annotations

import dataclasses

from hashtrail.pipeline.errors import HashtrailError


@dataclasses.dataclass(frozen=True)
class PathMap:
    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, spec: str) -> "PathMap":
        """``"FROM=TO;FROM2=TO2"``; the longest matching FROM wins."""
        pairs = []
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            if "=" not in part:
                raise HashtrailError(f"path_map entry {part!r} is not FROM=TO")
            source, target = (x.strip().rstrip("/") for x in part.split("=", 1))
            if not source or not target:
                raise HashtrailError(f"path_map entry {part!r} has an empty side")
            pairs.append((source, target))
        return cls(tuple(sorted(pairs, key=lambda p: -len(p[0]))))

    def to_local(self, path: str) -> str:
        for source, target in self.pairs:
            if path == source or path.startswith(source + "/"):
                return target + path[len(source):]
        return path
