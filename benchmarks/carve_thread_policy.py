"""The cython kernel's thread policy, quiet and beside one busy process (issue 16, Deliver 5).

Usage: .venv/bin/python benchmarks/carve_thread_policy.py [--sizes 64,128,256] [--runs 30]
           [--scene dense] [--policies spin,passive,one-thread] [--kernel PATH/_carve*.so]

Each policy runs in a fresh child interpreter (OpenMP reads its environment once, at start):
    spin         libgomp's own default wait (spins 300000 times before sleeping); an empty
                 OMP_WAIT_POLICY keeps camdeck.fastcore from setting passive (libgomp prints
                 one "Invalid value" line for it), one thread per core
    passive      what camdeck.fastcore sets: idle threads sleep at once, one thread per core
    one-thread   passive, num_threads=1 (cores - 1 on the 2-core target)
    three-threads, four-threads  passive, more threads than the 2-core target has cores (a
                 thread descheduled by a busy process holds less of the work)
    static-sched / dynamic-sched / guided-sched  passive, OMP_SCHEDULE set: only meaningful with
                 --kernel, a build whose brick loop is schedule('runtime') (the shipped one is
                 'dynamic')
--kernel loads that build of _carve instead of the installed one.
For each grid it prints the quiet median and p90 and, beside a child process spinning on one
core (fastcore.bench.busy_core), the busy median and p90 and busy p90 / quiet median.
The figures depend on the machine's load: the load average is printed with them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

POLICIES = {
    "spin": ({"OMP_WAIT_POLICY": ""}, 0),
    "passive": ({}, 0),
    "one-thread": ({}, 1),
    "three-threads": ({}, 3),
    "four-threads": ({}, 4),
    "static-sched": ({"OMP_SCHEDULE": "static"}, 0),
    "dynamic-sched": ({"OMP_SCHEDULE": "dynamic"}, 0),
    "guided-sched": ({"OMP_SCHEDULE": "guided"}, 0),
}

_CHILD = r"""
import json, sys, time
import numpy as np
from camdeck.fastcore import U8_TO_FLOAT, _carve_module
from camdeck.fastcore.bench import busy_core, make_bench_frame
from camdeck.fastcore.validation import check_carve_inputs
sizes, runs, scene, threads, kernel = json.loads(sys.argv[1])
if kernel:
    import importlib.util
    spec = importlib.util.spec_from_file_location("_carve", kernel)
    _carve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_carve)
else:
    _carve = _carve_module()
f = make_bench_frame(scene=scene)
rows = []
def timed(run):
    run()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter(); run(); times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 90))
for N in sizes:
    p = check_carve_inputs(f.images, f.K, f.R, f.t, N, f.grid_extent_m / N, f.grid_center)
    coef = _carve.coefficients(p.K, p.R, p.t, p.grid_center, N, p.voxel_size)
    out = np.empty((N, N, N), np.float32)
    run = lambda: _carve.carve_u8(p.images, coef, out, U8_TO_FLOAT, threads)
    med, p90 = timed(run)
    with busy_core():
        bmed, bp90 = timed(run)
    rows.append({"grid": N, "median_ms": round(med, 3), "p90_ms": round(p90, 3), "busy_median_ms": round(bmed, 3),
                 "busy_p90_ms": round(bp90, 3), "busy_p90_over_median": round(bp90 / med, 2),
                 "occupied": round(float(np.count_nonzero(out) / out.size), 4)})
print(json.dumps(rows))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,128,256")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--scene", default="dense")
    parser.add_argument("--policies", default="spin,passive,one-thread")
    parser.add_argument("--kernel", default="", help="a _carve build to load instead of the installed one")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    report = {"cpu_count": os.cpu_count(), "scene": args.scene, "runs": args.runs, "kernel": args.kernel or "installed",
              "policies": {}}
    for name in args.policies.split(","):
        env_extra, threads = POLICIES[name]
        env = {**os.environ, **env_extra}
        load = [round(x, 2) for x in os.getloadavg()]
        child = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([sizes, args.runs, args.scene, threads, args.kernel])],
                               env=env, stdout=subprocess.PIPE, text=True)
        if child.returncode:
            sys.exit(f"policy {name}: the child exited {child.returncode} (its stderr is above)")
        out = child.stdout
        report["policies"][name] = {"loadavg": load, "rows": json.loads(out)}
        print(name, load, out.strip(), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
