"""Time from SIGHUP to a clean stop of a manual recording via `camdeck jobs stop` (issue 12, item 5).

    .venv/bin/python benchmarks/jobs_sighup_stop.py [--runs 7] [--record-s 3] [--config PATH] [--json]

Each run, in a fresh data folder: ``camdeck record --manual`` on the default simulated recorder
rig (the built-in config: two 1280x720 Pi-like cameras; ``--config`` for another) starts as the
session leader of a new pty, records ``--record-s`` seconds, then the pty master is closed (what
sshd does when the link drops; the kernel sends SIGHUP). At once a new process runs
``camdeck jobs stop ID``; the figure is the wall time from closing the master to that command
returning 0, i.e. the record says "stopped" and the data file is written. It includes the
``camdeck jobs stop`` start-up (Python, typer), the stop request, SIGTERM, the encoders
draining and the final data file. To tell the command's own start-up from the stop itself,
each run also times the same ``camdeck jobs stop ID`` once more, on the job now stopped (it
reads the record and returns): ``cli_overhead_s``.

Every run is checked, not timed: the recording process exits 0, the data file says
"complete (stopped by the operator)", and every frame of both .h264 files decodes (PyAV).
Prints median and p90 (and min, max) over the runs; ``--json`` prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CAMDECK = [sys.executable, "-c", "from camdeck.console.cli.app import main; main()"]


def _drain(fd: int, stop: threading.Event) -> None:
    while not stop.is_set():
        if select.select([fd], [], [], 0.05)[0]:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return


def _frames(pts: Path) -> int:
    try:
        return len(pts.read_text().splitlines()) - 1
    except OSError:
        return 0


def _decoded(path: Path) -> int:
    import av

    with av.open(str(path), format="h264") as container:
        return sum(1 for _ in container.decode(video=0))


def one_run(work: Path, record_s: float, config: str | None) -> dict:
    data, out = work / "data", work / "rec"
    extra = ["--config", config] if config else []
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.chdir(work)
            os.execv(sys.executable, CAMDECK + ["record", "--manual", "--session", "b", "--out", str(out),
                                                "--data-dir", str(data)] + extra)
        finally:
            os._exit(127)
    stop_drain = threading.Event()
    drain = threading.Thread(target=_drain, args=(master, stop_drain), daemon=True)
    drain.start()
    pts = out / "b_camera_1.pts.txt"
    deadline = time.monotonic() + 120
    while _frames(pts) < 1:
        if time.monotonic() > deadline or os.waitpid(pid, os.WNOHANG)[0]:
            raise SystemExit("the recording did not start")
        time.sleep(0.05)
    time.sleep(record_s)
    job_id = next(p.stem for p in (data / "jobs").glob("record-*.json") if not p.name.endswith(".stop.json"))
    stop_drain.set()
    drain.join()
    t_hangup = time.perf_counter()
    os.close(master)                                     # SIGHUP
    done = subprocess.run(CAMDECK + ["jobs", "stop", job_id, "--data-dir", str(data)] + extra, cwd=work,
                          capture_output=True, text=True, timeout=300)
    t_end = time.perf_counter()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    text = (out / "b_data.txt").read_text()
    frames = [_frames(out / f"b_camera_{i}.pts.txt") for i in (1, 2)]
    decoded = [_decoded(out / f"b_camera_{i}.h264") for i in (1, 2)]
    # a loaded machine may drop more than record.max_drop_pct: then the take is "complete with
    # drops (stopped by the operator)" and exits 1, which is still a clean stop
    # (`camdeck jobs stop` then says the job did not end well, exit 1, as the recorder does)
    with_drops = code == 1 and "complete with drops (stopped by the operator)" in text
    clean = code == 0 and "complete (stopped by the operator)" in text or with_drops
    ok = done.returncode == (1 if with_drops else 0) and clean and frames == decoded and min(frames) > 0
    if not ok:
        raise SystemExit(f"run failed: jobs stop {done.returncode} {done.stderr.strip()!r}, recorder exit {code}, "
                         f"frames {frames} decoded {decoded}")
    t_again = time.perf_counter()
    again = subprocess.run(CAMDECK + ["jobs", "stop", job_id, "--data-dir", str(data)] + extra, cwd=work,
                           capture_output=True, text=True, timeout=300)
    overhead = time.perf_counter() - t_again
    state = "failed" if with_drops else "stopped"           # a take over the drop limit did not end well
    if again.returncode != (1 if with_drops else 0) or f"not running ({state})" not in again.stdout:
        raise SystemExit(f"second jobs stop: {again.returncode} {again.stdout!r} {again.stderr!r}")
    return {"sighup_to_stopped_s": t_end - t_hangup, "cli_overhead_s": overhead, "frames": frames}


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--record-s", type=float, default=3.0, help="seconds recorded before the hang-up")
    parser.add_argument("--config", default=None, help="config file (default: the built-in simulated rig)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="camdeck-sighup-") as tmp:
            runs.append(one_run(Path(tmp), args.record_s, args.config))
        if not args.json:
            r = runs[-1]
            print(f"run {i + 1}: SIGHUP -> stopped {r['sighup_to_stopped_s']:.3f} s "
                  f"(of which CLI start-up about {r['cli_overhead_s']:.3f} s), frames {r['frames']}, all decodable")
    totals = [r["sighup_to_stopped_s"] for r in runs]
    summary = {"runs": len(runs), "record_s": args.record_s, "config": args.config or "built-in simulated rig",
               "median_s": statistics.median(totals), "p90_s": _p90(totals), "min_s": min(totals), "max_s": max(totals),
               "cli_overhead_median_s": statistics.median(r["cli_overhead_s"] for r in runs),
               "cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"SIGHUP -> clean stop via camdeck jobs stop, {len(runs)} runs: median {summary['median_s']:.3f} s, "
              f"p90 {summary['p90_s']:.3f} s (min {summary['min_s']:.3f}, max {summary['max_s']:.3f}); "
              f"CLI start-up median {summary['cli_overhead_median_s']:.3f} s; "
              f"{summary['cpus']} CPUs, load average {summary['load_average_1m']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
