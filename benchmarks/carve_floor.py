"""What a plain carve costs on this machine, side by side with the shipped kernel (issue 16).

Usage: .venv/bin/python benchmarks/carve_floor.py [--sizes 128,256] [--scene dense]
           [--reps 30] [--threads 2] [--json]

Issue 16 quotes a plain SIMD C kernel at 5.4-9.7 ms for the dense scene at 256^3 on "this
class of machine". This driver compiles benchmarks/carve_floor.c (gcc -O3 -march=native
-fopenmp), loads it with ctypes and times, interleaved in one process on camdeck bench's
frames (two 1920x1080 views):
    shipped   camdeck's cython kernel (fastcore._carve.carve_u8), culling and all
    write     only writing the N^3 float32 grid: the output floor
    project   both views projected (AVX-512), no pixel read: the arithmetic floor
    gather    the plain SIMD kernel: projection, AVX-512 gathers, min, /255, store
    scalar    projection, then scalar pixel loads (the shipped voxel loop without culling)
Each row gives the median and p90 ms per frame and the median over the shipped kernel's.
gather and scalar compute the real grid; "differ" is the fraction of their voxels that
differ from the shipped kernel's (the contract lets pixel-boundary voxels differ, ~1e-5).
Variants that need AVX-512 are left out on CPUs without it. Needs gcc.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
VARIANTS = {"write": 0, "project": 1, "gather": 2, "scalar": 3}


def build(tmp: pathlib.Path) -> ctypes.CDLL:
    lib = tmp / "carve_floor.so"
    subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-shared", "-fPIC",
                    str(HERE / "carve_floor.c"), "-o", str(lib)], check=True)
    dll = ctypes.CDLL(str(lib))
    dll.floor_carve.restype = ctypes.c_int
    dll.floor_carve.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    return dll


def padded(image: np.ndarray) -> np.ndarray:
    """The image in a buffer 64 bytes longer (gathers read 32-bit words at byte addresses)."""
    buf = np.zeros(image.size + 64, np.uint8)
    buf[:image.size] = image.ravel()
    return buf


def measure(N: int, scene: str, reps: int, threads: int, dll: ctypes.CDLL) -> dict:
    from camdeck.fastcore import _carve
    from camdeck.fastcore.bench import GRID_EXTENT_M, make_bench_frame
    from camdeck.fastcore.validation import U8_TO_FLOAT

    frame = make_bench_frame(scene=scene)
    H, W = frame.images[0].shape
    K = np.ascontiguousarray(np.broadcast_to(frame.K, (2, 3, 3)))
    coef = _carve.coefficients(K, np.ascontiguousarray(frame.R), np.ascontiguousarray(frame.t),
                               np.asarray(frame.grid_center, float), N, GRID_EXTENT_M / N)
    ims = [np.ascontiguousarray(im) for im in frame.images]
    bufs = [padded(im) for im in ims]
    outs = {name: np.empty((N, N, N), np.float32) for name in ["shipped", *VARIANTS]}

    def run(name: str) -> bool:
        if name == "shipped":
            _carve.carve_u8(ims, coef, outs[name], U8_TO_FLOAT, threads)
            return True
        rc = dll.floor_carve(VARIANTS[name], threads, bufs[0].ctypes.data, bufs[1].ctypes.data,
                             coef.ctypes.data, N, W, H, outs[name].ctypes.data)
        return rc == 0

    names = [name for name in outs if run(name)]          # warm-up; drops what this CPU can't run
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(reps):
        for name in names:
            t0 = time.perf_counter()
            run(name)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["shipped"])
    rows = []
    for name in names:
        t = sorted(times[name])
        row = {"variant": name, "median_ms": round(statistics.median(t) * 1e3, 2),
               "p90_ms": round(t[int(0.9 * (len(t) - 1))] * 1e3, 2),
               "x_shipped": round(statistics.median(t) / base, 2)}
        if name in ("gather", "scalar"):
            row["differ"] = float(np.count_nonzero(outs[name] != outs["shipped"]) / outs[name].size)
        rows.append(row)
    occupied = float(np.count_nonzero(outs["shipped"]) / outs["shipped"].size)
    return {"N": N, "scene": scene, "threads": threads, "occupied": round(occupied, 3), "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="128,256")
    ap.add_argument("--scene", default="dense")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(n % 16 or not 16 <= n <= 1024 for n in sizes):
        print("carve_floor: --sizes must be multiples of 16 from 16 to 1024", file=sys.stderr)
        return 2
    import camdeck.fastcore  # noqa: F401 - first: its OMP_WAIT_POLICY=passive must reach libgomp,
    # which the floor library loads; spinning OpenMP threads would steal the shipped kernel's CPU
    with tempfile.TemporaryDirectory() as tmp:
        try:
            dll = build(pathlib.Path(tmp))
        except (OSError, subprocess.CalledProcessError) as err:
            print(f"carve_floor: cannot build benchmarks/carve_floor.c ({err}); fix: install gcc", file=sys.stderr)
            return 2
        results = [measure(n, args.scene, args.reps, args.threads, dll) for n in sizes]
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"load_1min": load, "results": results}, indent=1))
        return 0
    print(f"load average {load:.2f}; {args.threads} threads; ms per frame")
    for res in results:
        print(f"{res['scene']} {res['N']}^3 ({res['occupied']:.1%} occupied)")
        for row in res["rows"]:
            extra = f"  differ {row['differ']:.1e}" if "differ" in row else ""
            print(f"  {row['variant']:8s} median {row['median_ms']:7.2f}  p90 {row['p90_ms']:7.2f}"
                  f"  x shipped {row['x_shipped']:5.2f}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
