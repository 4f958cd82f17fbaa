"""The cython kernel with frames paced as a camera paces them, against frames back to back.

Usage: .venv/bin/python benchmarks/carve_paced.py [--sizes 64,128] [--scene dense]
           [--rates 0,30,10] [--threads 1,2] [--seconds 4]

`camdeck bench --contended` carves frame after frame, so its caller never sleeps. A live
reconstruction waits for its cameras between frames. Here the caller sleeps until the next
frame's time (rate 0: back to back), quiet and beside a child process spinning on one core
(fastcore.bench.busy_core). Per grid, rate and thread count it prints the median and p90 of
the carve alone, quiet and busy, and busy p90 / quiet median. Only figures from one run
compare: the machine's load is printed with them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from camdeck import fastcore
from camdeck.fastcore import U8_TO_FLOAT, _carve_module
from camdeck.fastcore.bench import GRID_EXTENT_M, busy_core, make_bench_frame


def carve_times(carve, frames: int, rate: float) -> tuple[float, float]:
    """Median and p90 (s) of `frames` carves, the caller sleeping to the next frame's time."""
    period = 1.0 / rate if rate else 0.0
    times = []
    due = time.perf_counter()
    carve()
    for _ in range(frames):
        due += period
        start = time.perf_counter()
        carve()
        times.append(time.perf_counter() - start)
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--scene", default="dense")
    parser.add_argument("--rates", default="0,30,10", help="frames per second; 0: back to back")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=4.0, help="per paced cell")
    args = parser.parse_args()
    kernel = _carve_module()
    frame = make_bench_frame(scene=args.scene)
    K = np.ascontiguousarray(np.broadcast_to(frame.K, (len(frame.images), 3, 3)))
    print(f"load average {os.getloadavg()[0]:.2f}; scene {args.scene}; ms per frame")
    for N in (int(n) for n in args.sizes.split(",")):
        coef = kernel.coefficients(K, np.ascontiguousarray(frame.R), np.ascontiguousarray(frame.t),
                                   np.asarray(frame.grid_center, float), N, GRID_EXTENT_M / N)
        out = fastcore.empty_grid(N)
        for threads in (int(t) for t in args.threads.split(",")):
            def carve():
                kernel.carve_u8(frame.images, coef, out, U8_TO_FLOAT, threads)
            for rate in (float(r) for r in args.rates.split(",")):
                frames = 300 if not rate else max(30, int(args.seconds * rate))
                quiet = carve_times(carve, frames, rate)
                with busy_core():
                    busy = carve_times(carve, frames, rate)
                label = "back to back" if not rate else f"{rate:g} fps"
                print(f"{N:3d}^3 {threads} thread{'s' if threads > 1 else ' '} {label:>12}  quiet median "
                      f"{quiet[0] * 1e3:6.2f} p90 {quiet[1] * 1e3:6.2f} | busy median {busy[0] * 1e3:6.2f} "
                      f"p90 {busy[1] * 1e3:6.2f} | busy p90 / quiet median {busy[1] / quiet[0]:5.2f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
