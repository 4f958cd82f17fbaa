"""Two builds of the cython kernel side by side, quiet and beside one busy process.

Usage: .venv/bin/python benchmarks/carve_ab.py --kernel OTHER/_carve*.so [--sizes 64,128,256]
           [--scene dense] [--rounds 2] [--threads 0] [--other-threads N]

The installed kernel ("this") and another build ("other", e.g. an older commit built in a
scratch checkout:
    git worktree add /tmp/old REV && cd /tmp/old && ../main/.venv/bin/python setup.py build_ext --inplace
then --kernel /tmp/old/fastcore/_carve.cpython-*.so) carve camdeck bench's frames in one
process, runs interleaved, so the machine's drift hits both alike. Per grid: the quiet median
and p90, then the same beside a child process spinning on one core (fastcore.bench.busy_core),
and busy p90 / quiet median (issue 16 asks for at most 2x at 64^3 and 128^3). Grids are
allocated as fastcore.carve allocates them (empty_grid: cache-line aligned). Both builds must
give the same grid up to pixel-boundary voxels; the count that differ is reported. --kernel
may name the installed build itself: with --other-threads 1 that compares the kernel on two
threads with the kernel on one.
"""
from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import statistics
import sys
import time

import numpy as np

REPS = {64: 300, 128: 150, 256: 40}


def load(path: str):
    loader = importlib.machinery.ExtensionFileLoader("_carve", path)
    spec = importlib.util.spec_from_file_location("_carve", path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def timed(mods: dict, ims, coef, out, threads: dict, reps: int) -> dict:
    from camdeck.fastcore.validation import U8_TO_FLOAT
    times = {name: [] for name in mods}
    for _ in range(reps):
        for name, mod in mods.items():
            t0 = time.perf_counter()
            mod.carve_u8(ims, coef, out[name], U8_TO_FLOAT, threads[name])
            times[name].append(time.perf_counter() - t0)
    result = {}
    for name, t in times.items():
        t.sort()
        result[name] = (statistics.median(t) * 1e3, t[int(0.9 * (len(t) - 1))] * 1e3)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", required=True, help="the other build's _carve*.so")
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--scene", default="dense")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="0: each build's default")
    ap.add_argument("--other-threads", type=int, default=None, help="threads for the other build (default: --threads)")
    args = ap.parse_args(argv)
    threads = {"this": args.threads,
               "other": args.threads if args.other_threads is None else args.other_threads}
    from camdeck.fastcore import _carve, empty_grid
    from camdeck.fastcore.bench import GRID_EXTENT_M, busy_core, make_bench_frame
    try:
        other = load(args.kernel)
    except (ImportError, OSError) as err:
        print(f"carve_ab: --kernel {args.kernel}: {err}; fix: give a built _carve*.so", file=sys.stderr)
        return 2
    mods = {"this": _carve, "other": other}
    frame = make_bench_frame(scene=args.scene)
    ims = [np.ascontiguousarray(im) for im in frame.images]
    K = np.ascontiguousarray(np.broadcast_to(frame.K, (2, 3, 3)))
    print(f"load average {os.getloadavg()[0]:.2f}; scene {args.scene}; ms per frame")
    for _ in range(args.rounds):
        for N in (int(s) for s in args.sizes.split(",")):
            coef = _carve.coefficients(K, np.ascontiguousarray(frame.R), np.ascontiguousarray(frame.t),
                                       np.asarray(frame.grid_center, float), N, GRID_EXTENT_M / N)
            out = {name: empty_grid(N) for name in mods}       # as fastcore.carve allocates
            reps = REPS.get(N, 20)
            quiet = timed(mods, ims, coef, out, threads, reps)
            with busy_core():
                busy = timed(mods, ims, coef, out, threads, reps)
            differ = int(np.count_nonzero(out["this"] != out["other"]))
            for name in mods:
                (qm, qp), (bm, bp) = quiet[name], busy[name]
                print(f"{name:5s} {N:3d}^3  quiet median {qm:6.2f} p90 {qp:6.2f} | busy median {bm:6.2f}"
                      f" p90 {bp:6.2f} | busy p90 / quiet median {bp / qm:4.2f}"
                      + (f"  ({differ} voxels differ, {differ / N ** 3:.1e})" if differ and name == "other" else ""),
                      flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
