"""Wall time of `camdeck --help` (target under 0.3 s), median over repeated runs.

Usage: .venv/bin/python benchmarks/cli_help.py [--runs 21] [--against OTHER/bin/camdeck]
Runs the installed console script (the same entry point an operator types) and, side by
side in the same run, a bare `python -c pass` so interpreter start-up can be told apart.
--against times another install's console script (e.g. an older checkout's venv) in the
same run, interleaved run by run, so a before/after ratio is not skewed by machine load.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def _time(argv: list[str], runs: int) -> list[float]:
    return [_once(argv) for _ in range(runs)]


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--against", metavar="EXE", help="another camdeck console script to time side by side")
    args = parser.parse_args()
    exe = shutil.which("camdeck", path=str(Path(sys.executable).parent)) or "camdeck"
    _time([exe, "--help"], 2)  # warm the page cache
    if args.against:
        _time([args.against, "--help"], 2)
    help_s, other_s = [], []
    for _ in range(args.runs):  # interleaved: both see the same machine load
        help_s.append(_once([exe, "--help"]))
        if args.against:
            other_s.append(_once([args.against, "--help"]))
    bare_s = _time([sys.executable, "-c", "pass"], args.runs)
    result = {
        "runs": args.runs,
        "camdeck_help_median_s": round(statistics.median(help_s), 4),
        "camdeck_help_p90_s": round(_p90(help_s), 4),
        "camdeck_help_min_s": round(min(help_s), 4),
        "python_bare_median_s": round(statistics.median(bare_s), 4),
    }
    if args.against:
        result.update({
            "against": args.against,
            "against_help_median_s": round(statistics.median(other_s), 4),
            "against_help_p90_s": round(_p90(other_s), 4),
            "ratio_median": round(statistics.median(help_s) / statistics.median(other_s), 3),
        })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
