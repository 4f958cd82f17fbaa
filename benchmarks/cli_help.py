"""Wall time of `camdeck --help` (target under 0.3 s), median over repeated runs.

Usage: .venv/bin/python benchmarks/cli_help.py [--runs 21]
Runs the installed console script (the same entry point an operator types) and, side by
side in the same run, a bare `python -c pass` so interpreter start-up can be told apart.
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


def _time(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    exe = shutil.which("camdeck", path=str(Path(sys.executable).parent)) or "camdeck"
    _time([exe, "--help"], 2)  # warm the page cache
    help_s = _time([exe, "--help"], args.runs)
    bare_s = _time([sys.executable, "-c", "pass"], args.runs)
    result = {
        "runs": args.runs,
        "camdeck_help_median_s": round(statistics.median(help_s), 4),
        "camdeck_help_min_s": round(min(help_s), 4),
        "python_bare_median_s": round(statistics.median(bare_s), 4),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
