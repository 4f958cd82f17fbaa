"""Instruction counts of fastcore.carve on the bench scene, under valgrind's callgrind.

Wall-clock timings on a shared, busy machine are noise; instruction counts are not. This
driver renders camdeck bench's stereo frame (two 1920x1080 uint8 views, 1 m grid) once,
then re-runs itself under ``valgrind --tool=callgrind`` with instrumentation off until the
frame is loaded and every size has been warmed up; then, per section, it zeroes the
counters, calls the code ``--reps`` times and dumps (CALLGRIND_DUMP_STATS_AT through a tiny
ctypes helper compiled against <valgrind/callgrind.h>). Printed per call:

    front      check_carve_inputs + the projection coefficients (the Python validation front)
    carve N    the whole fastcore.carve(..., backend="cython", out=out) call, front included
    of which   inclusive counts of the kernel's pieces (tile maxima, row kernels, ...)

The kernel runs single-threaded (OMP_NUM_THREADS=1), so the counts are the total work.
Notes: valgrind hides AVX-512 from CPUID, so the x86-64-v3 (AVX2) target_clones run here.
Instruction counts drive the work outside the pixel loads (front, tile maps, per-row and
per-brick overhead), but check the voxel loop's changes in wall time too: an AVX2-gather
version of it ran 2.4x fewer instructions at 256^3 and was ~15% slower (gathers, one
instruction each, are slow on AMD and on Intel with the GDS microcode mitigation).

To compare with another build (e.g. HEAD built in a scratch checkout), pass its tree:
``--tree /tmp/head`` (fastcore is imported from there instead of this repository).

    python benchmarks/carve_callgrind.py [--sizes 64,128,256] [--reps 3] [--json]
                                         [--keep DIR]   # keep the callgrind.out.* files
                                         [--tree DIR]   # fastcore from another checkout

Needs valgrind (with its headers, /usr/include/valgrind/callgrind.h) and gcc; the
extension must be built (python setup.py build_ext --inplace).
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HELPER_C = r"""
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
"""

# Inclusive counts shown under each carve dump: (label, regex on callgrind function names).
PIECES = (
    ("kernel carve_u8", r"__pyx_p[fw]_8fastcore_6_carve_\d*carve_u8$"),
    ("tile maps", r"^cd_tile_(row|band_max)"),
    ("row projection", r"^cd_project_row"),
    ("memset", r"memset"),
)


def _child(args) -> None:
    import numpy as np

    sys.path.insert(0, args.tree)
    from camdeck import fastcore
    from camdeck.fastcore import _carve
    from camdeck.fastcore.validation import check_carve_inputs

    helper = ctypes.CDLL(args.helper)
    data = np.load(args.frame)
    images = [np.ascontiguousarray(data["im0"]), np.ascontiguousarray(data["im1"])]
    K, R, t, center = data["K"], data["R"], data["t"], data["center"]
    sizes = [int(s) for s in args.sizes.split(",")]
    outs = {N: np.empty((N, N, N), np.float32) for N in sizes}

    def carve(N):
        fastcore.carve(images, K, R, t, N, 1.0 / N, center, backend="cython", out=outs[N])

    def front(N):
        p = check_carve_inputs(images, K, R, t, N, 1.0 / N, center)
        if hasattr(_carve, "coefficients"):
            _carve.coefficients(p.K, p.R, p.t, p.grid_center, N, p.voxel_size)
        else:                # the kernel before the C coefficients
            p.projection_coefficients()

    for N in sizes:          # warm-up: imports, first touch, clone dispatch
        carve(N)
        front(N)
    helper.cg_start()
    for N in sizes[:1]:
        carve(N)             # warm the instrumented code cache
        front(N)
    sections = [("front", lambda: front(sizes[0]))] + [(f"carve {N}", (lambda N=N: carve(N))) for N in sizes]
    for label, fn in sections:
        helper.cg_zero()
        for _ in range(args.reps):
            fn()
        helper.cg_dump(label.encode())


def _build_helper(tmp: str) -> str:
    src = os.path.join(tmp, "cg_helper.c")
    lib = os.path.join(tmp, "cg_helper.so")
    with open(src, "w") as fh:
        fh.write(HELPER_C)
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", src, "-o", lib], check=True)
    return lib


def _save_frame(path: str) -> None:
    import numpy as np

    from camdeck.fastcore.bench import make_bench_frame

    fr = make_bench_frame()
    np.savez(path, im0=fr.images[0], im1=fr.images[1], K=fr.K, R=fr.R, t=fr.t, center=fr.grid_center)


def _parse_dump(path: str) -> tuple[str, int, dict]:
    """(label, total Ir, {piece: inclusive Ir}) of one callgrind dump."""
    with open(path) as fh:
        text = fh.read()
    label = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
    total = int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                               capture_output=True, text=True).stdout
    pieces = {}
    for name, pattern in PIECES:
        best = 0
        for line in annotated.splitlines():
            m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(?:\S+:)?(\S+)", line)
            if m and re.search(pattern, m.group(2)):
                best = max(best, int(m.group(1).replace(",", "")))
        pieces[name] = best
    return (label.group(1).strip() if label else os.path.basename(path)), total, pieces


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", help="copy the callgrind.out.* dumps into this folder")
    ap.add_argument("--tree", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="repository to import fastcore from (default: this one)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--helper", help=argparse.SUPPRESS)
    ap.add_argument("--frame", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind not found; fix: apt-get install valgrind", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory(prefix="camdeck-cg-") as tmp:
        helper = _build_helper(tmp)
        frame = os.path.join(tmp, "frame.npz")
        _save_frame(frame)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={tmp}/callgrind.out.%p", sys.executable, os.path.abspath(__file__),
               "--child", "--helper", helper, "--frame", frame, "--sizes", args.sizes, "--reps", str(args.reps),
               "--tree", os.path.abspath(args.tree)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr[-4000:], file=sys.stderr)
            return 1
        dumps = sorted(glob.glob(f"{tmp}/callgrind.out.*.*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        rows = []
        for path in dumps:
            label, total, pieces = _parse_dump(path)
            rows.append({"section": label, "ir_per_call": total // args.reps,
                         "pieces_per_call": {k: v // args.reps for k, v in pieces.items() if v}})
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for path in dumps:
                shutil.copy(path, args.keep)
    if args.json:
        print(json.dumps({"reps": args.reps, "rows": rows}))
        return 0
    for row in rows:
        print(f"{row['section']:<12} {row['ir_per_call']:>14,} Ir/call")
        for name, ir in row["pieces_per_call"].items():
            print(f"    {name:<18} {ir:>14,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
