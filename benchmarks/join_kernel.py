"""The multi-index join alone, this tree's against an earlier revision's, on the same codes in one run.

The shared machine's load changes by the minute, so both kernels run on the
same random codes one after the other, and CPU seconds (all threads) are
reported beside wall seconds. The earlier kernel is read from git
(``git show REV:pipeline/index/multi_index.py``) and imported on its own.

    python benchmarks/join_kernel.py --n 3000000 --against f0859c4
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hashtrail.pipeline.index import multi_index

ROOT = Path(__file__).resolve().parent.parent


def kernel_at(revision: str):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:pipeline/index/multi_index.py"],
                            check=True, capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="join-kernel-"))
    path = folder / f"multi_index_{revision}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # numba's cache pickles the module by name
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="uniform random 64-bit pHash and dHash codes")
    parser.add_argument("--against", default="main", help="git revision of the other kernel")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    p = rng.integers(0, 2**64, args.n, dtype=np.uint64)
    d = rng.integers(0, 2**64, args.n, dtype=np.uint64)
    results = {}
    for name, module in (("this tree", multi_index), (args.against, kernel_at(args.against))):
        module.pairs_within(p[:5000], 16, d[:5000], 16)  # compile
        index = module.BlockIndex(p, d)
        wall, cpu = time.perf_counter(), time.process_time()
        i, _ = module.join(index, index, 16, 16)
        results[name] = (time.perf_counter() - wall, time.process_time() - cpu, len(i))
        print(f"{name}: n={args.n:,} self join {results[name][0]:.1f} s wall, {results[name][1]:.1f} CPU s, "
              f"{len(i):,} pairs", flush=True)
    (w0, c0, n0), (w1, c1, n1) = results.values()
    print(f"n={args.n} wall_s={w0:.1f} cpu_s={c0:.1f} against_wall_s={w1:.1f} against_cpu_s={c1:.1f} "
          f"cpu_speedup={c1 / c0:.2f} same_pairs={n0 == n1}")


if __name__ == "__main__":
    main()
