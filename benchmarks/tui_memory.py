"""Resident memory of the real ``camdeck tui`` over a long session (issue 12, Deliver 6).

Starts ``camdeck tui`` in a detached tmux session (80x24 by default; tmux drains its output
and shows the benchmark the screen) on the built-in simulated rig (a fresh data folder; no
user or site config), and plays an operator:
- the Cameras tab streams its preview most of the time;
- every ``--tabs-every-s`` it visits Recording, Calibration and Monitoring (a few seconds
  each) and comes back;
- at each ``--recon-at-min`` it runs a live reconstruction on the Reconstruction tab for
  ``--recon-s`` seconds (4, r ... r), saves the grid (s: the file proves the job ran) and
  goes back to the Cameras tab. A job that stops with an error (on a busy machine the stereo
  pairing can give up) is started again, and the report counts the restarts.
RSS (VmRSS of the TUI process plus any children) is sampled every ``--interval-s``. The
report gives RSS at start (the first sample), at the end, the maximum, and the least-squares
slope in MB per hour, over all samples and over those after the first ``--warmup-min``.
Samples miss what happens between them, so the report also gives the TUI process's true peak
(VmHWM) over the whole run and over each reconstruction (the kernel's peak is reset when one
starts, through /proc/PID/clear_refs; ``null`` where that is refused).

    python benchmarks/tui_memory.py [--minutes 60] [--interval-s 30] [--json out.json]

The machine may be shared: the report records the load average at start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from camdeck.fileio.atomic import write_text_atomic

MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` and of its descendants, bytes (0 once it has exited)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def peak_rss_bytes(pid: int) -> int | None:
    """VmHWM of ``pid`` alone (the most it has held since it started or since reset_peak)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def reset_peak(pid: int) -> bool:
    """Start ``pid``'s VmHWM again from its current RSS (Linux >= 4.0); False where refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) points, in MB per hour (None with < 2 points)."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 3600.0


class TmuxTui:
    """``camdeck tui`` in a detached tmux session of a given size (tmux drains its output).

    tmux gives the benchmark the screen as the operator sees it (``screen()``), so it can
    tell a reconstruction that runs from one that stopped with an error.
    """

    def __init__(self, argv: list[str], cols: int, rows: int, env: dict[str, str], cwd: str) -> None:
        self.socket = f"camdeck-memory-{os.getpid()}"
        command = "exec env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + \
            " ".join(shlex.quote(a) for a in argv)
        self._tmux("new-session", "-d", "-s", "tui", "-x", str(cols), "-y", str(rows), "-c", cwd, command)
        self._tmux("set-option", "-t", "tui", "remain-on-exit", "on")
        self.pid = int(self._tmux("display-message", "-p", "-t", "tui", "#{pane_pid}").strip())

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True,
                              text=True).stdout

    def keys(self, *keys: str, gap_s: float = 0.3) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "tui", "-l", key)
            time.sleep(gap_s)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "tui")

    def alive(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "tui", "#{pane_dead}").strip() == "0"

    def close(self, wait_s: float = 30.0) -> None:
        """Quit with q (y if a confirm asks), else SIGTERM, else SIGKILL; then end the tmux server."""
        try:
            if self.alive():
                self.keys("q", "y")
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self.alive():
                time.sleep(0.2)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if self.alive():
                    os.kill(self.pid, sig)
                    time.sleep(2)
        finally:
            subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def recon_state(screen: str) -> str:
    """The Reconstruction tab's state ("running", "idle", ...), "+ error" when one is shown."""
    state = "?"
    for line in screen.splitlines():
        side = line.split("│")[-1]      # the figures column, right of the slice panel
        words = side.split()
        if len(words) >= 2 and words[0] == "state":
            state = words[1]
    return state + (" + error" if "error:" in screen else "")


def plan(minutes: float, tabs_every_s: float, recon_at_min: list[float], recon_s: float) -> list[tuple[float, str]]:
    """The operator's script: (second, action) sorted by time."""
    events = [(m * 60.0, "recon") for m in recon_at_min if m * 60.0 + recon_s < minutes * 60.0]
    busy = [(t, t + recon_s + 30.0) for t, _ in events]
    t = tabs_every_s
    while t < minutes * 60.0 - 30.0:
        if not any(a - 30.0 <= t <= b for a, b in busy):
            events.append((t, "tabs"))
        t += tabs_every_s
    return sorted(events)


class Session:
    """The running TUI, the clock of the run and the samples taken so far."""

    def __init__(self, tui: TmuxTui, interval_s: float) -> None:
        self.tui, self.interval_s = tui, interval_s
        self.t0 = time.monotonic()
        self.next_sample = self.t0 + interval_s
        self.samples: list[dict] = []
        self.phase = "preview"
        self.peaks: list[int] = []           # VmHWM read before each reset

    def phase_peak(self) -> int | None:
        """The TUI's peak RSS since the last call (or its start), bytes; starts the next phase.
        None when the kernel refuses to reset it (the run's peak is then the only figure)."""
        peak = peak_rss_bytes(self.tui.pid)
        if peak is not None:
            self.peaks.append(peak)
        return peak if reset_peak(self.tui.pid) else None

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, taking every sample that falls due meanwhile."""
        end = time.monotonic() + seconds
        while True:
            if not self.tui.alive():
                raise RuntimeError(f"camdeck tui exited after {self.elapsed():.0f} s:\n{self.tui.screen()}")
            now = time.monotonic()
            if now >= self.next_sample:
                rss = rss_bytes(self.tui.pid)
                self.samples.append(dict(t_s=round(now - self.t0, 1), rss_mb=round(rss / MB, 1), phase=self.phase))
                print(f"{now - self.t0:7.0f} s  {rss / MB:7.1f} MB  {self.phase}", flush=True)
                self.next_sample += self.interval_s
            if now >= end:
                return
            time.sleep(min(0.2, end - now))


def visit_tabs(session: Session, dwell_s: float) -> None:
    session.phase = "tabs"
    for key in ("2", "3", "5"):
        session.tui.keys(key, gap_s=0)
        session.wait(dwell_s)
    session.tui.keys("1", gap_s=0)
    session.phase = "preview"


def reconstruct(session: Session, seconds: float) -> dict:
    """Run the live reconstruction for ``seconds`` (restarting it if it stops with an error), save."""
    tui = session.tui
    session.phase_peak()                     # what came before is not the reconstruction's
    session.phase = "reconstruction"
    tui.keys("4", gap_s=1.0)
    tui.keys("r", gap_s=0)
    end = time.monotonic() + seconds
    states: dict[str, int] = {}
    restarts = 0
    while time.monotonic() < end:
        session.wait(min(10.0, max(0.0, end - time.monotonic())))
        state = recon_state(tui.screen())
        states[state] = states.get(state, 0) + 1
        if state.startswith("idle") and time.monotonic() < end - 10:
            restarts += 1          # it stopped (the pairing gave up on a busy machine): go on
            tui.keys("r", gap_s=0)
    if recon_state(tui.screen()).startswith(("running", "opening")):
        tui.keys("r", gap_s=0)
        session.wait(3.0)
    tui.keys("s", gap_s=0)                   # save the grid: a file that shows the job ran
    session.wait(2.0)
    peak = session.phase_peak()
    tui.keys("1", gap_s=0)
    session.phase = "preview"
    return dict(states_seen=states, restarts=restarts,
                peak_rss_mb=round(peak / MB, 1) if peak is not None else None)


def run(args: argparse.Namespace) -> dict:
    if shutil.which("tmux") is None:
        print("tui_memory: tmux not found; fix: install tmux (apt-get install tmux)", file=sys.stderr)
        raise SystemExit(2)
    work = tempfile.mkdtemp(prefix="camdeck-tui-memory-")
    data_dir = Path(work) / "data"
    data_dir.mkdir()
    env = dict(TERM="xterm-256color", COLORTERM="truecolor", CAMDECK_DATA_DIR=str(data_dir),
               CAMDECK_SYSCONFDIR=work, XDG_CONFIG_HOME=work, HOME=os.environ.get("HOME", work),
               PATH=os.environ.get("PATH", "/usr/bin:/bin"), LANG=os.environ.get("LANG", "C.UTF-8"))
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]     # e.g. another checkout, for a before/after pair
    if args.camdeck:
        argv = [*shlex.split(args.camdeck), "tui"]
    elif (camdeck := Path(sys.executable).with_name("camdeck")).exists():
        argv = [str(camdeck), "tui"]
    else:
        argv = [sys.executable, "-c", "import sys; from camdeck.console.cli.app import main; sys.exit(main())", "tui"]
    events = plan(args.minutes, args.tabs_every_s, args.recon_at_min, args.recon_s)
    load_start = os.getloadavg()
    session = Session(TmuxTui(argv, args.cols, args.rows, env, work), args.interval_s)
    actions: list[dict] = []
    try:
        for at_s, action in events:
            session.wait(max(0.0, at_s - session.elapsed()))
            record = dict(t_s=round(session.elapsed(), 1), action=action)
            if action == "tabs":
                visit_tabs(session, args.tab_dwell_s)
            else:
                record.update(reconstruct(session, args.recon_s))
            actions.append(record)
        session.wait(max(0.0, args.minutes * 60.0 - session.elapsed()))
        session.phase_peak()
    finally:
        session.tui.close()
    recon_dir = data_dir / "reconstruction"
    saved = sorted(p.name for p in recon_dir.glob("*")) if recon_dir.is_dir() else []
    points = [(s["t_s"], s["rss_mb"]) for s in session.samples]
    steady = [(t, v) for t, v in points if t >= args.warmup_min * 60.0]
    return dict(
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        tui_argv=argv, terminal=f"{args.cols}x{args.rows}", interval_s=args.interval_s, minutes=args.minutes,
        rss_start_mb=points[0][1] if points else None, rss_end_mb=points[-1][1] if points else None,
        rss_max_mb=max(v for _, v in points) if points else None,
        peak_rss_mb=round(max(session.peaks) / MB, 1) if session.peaks else None,
        slope_mb_per_h=slope_per_hour(points), slope_after_warmup_mb_per_h=slope_per_hour(steady),
        warmup_min=args.warmup_min, samples=session.samples, actions=actions, reconstruction_files=saved,
        load_average_start=load_start, load_average_end=os.getloadavg(), cpu_count=os.cpu_count(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval-s", type=float, default=30.0)
    parser.add_argument("--cols", type=int, default=80)
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--tabs-every-s", type=float, default=300.0, help="visit the other tabs this often")
    parser.add_argument("--tab-dwell-s", type=float, default=5.0, help="seconds on each visited tab")
    parser.add_argument("--recon-at-min", type=float, nargs="*", default=[10.0, 40.0],
                        help="minutes at which a reconstruction starts")
    parser.add_argument("--recon-s", type=float, default=180.0, help="how long each reconstruction runs")
    parser.add_argument("--warmup-min", type=float, default=5.0, help="left out of the steady-state slope")
    parser.add_argument("--camdeck", help="the command that runs camdeck (default: this interpreter's camdeck)")
    parser.add_argument("--json", type=Path, help="write the full report (every sample) here")
    args = parser.parse_args()
    report = run(args)
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=1))
    slope = report["slope_mb_per_h"]
    steady = report["slope_after_warmup_mb_per_h"]
    steady_text = f"{steady:+.1f} MB/h" if steady is not None else "too few samples"
    print(f"TUI RSS over {args.minutes:g} min ({report['terminal']}, sampled every {args.interval_s:g} s): "
          f"start {report['rss_start_mb']} MB, end {report['rss_end_mb']} MB, max {report['rss_max_mb']} MB; "
          f"slope {slope:+.1f} MB/h (after {args.warmup_min:g} min: {steady_text})"
          if slope is not None else f"too few samples: {report['samples']}")
    recon_peaks = [a.get("peak_rss_mb") for a in report["actions"] if a["action"] == "recon"]
    print(f"peak RSS (VmHWM): {report['peak_rss_mb']} MB over the run; during each reconstruction: "
          f"{', '.join(f'{p} MB' for p in recon_peaks) or 'none ran'}")
    print(f"reconstructions saved: {report['reconstruction_files'] or 'none'}; load average "
          f"{report['load_average_start'][0]:.1f} -> {report['load_average_end'][0]:.1f} on {report['cpu_count']} CPUs")


if __name__ == "__main__":
    main()
