"""The TUI over a thin link: key-to-screen latency, preview rate and bytes per second.

Spawns the real ``camdeck tui`` (the default simulated rig, the Cameras tab streaming) on a
pseudo-terminal of a fixed size and plays the terminal itself: a small VT emulator reads the
pty master at a fixed byte rate (a token bucket: what an SSH link over poor Wi-Fi lets
through), keeps the screen, and answers the queries a real terminal answers (cursor
position, synchronized-output support). Then:

- key to screen: with the preview streaming, press ``p`` (pause) and time until "paused" is
  on the emulated screen; press ``p`` again, let it stream a while, repeat;
- preview rate: preview frames reaching the emulated screen in each second, with the mode the
  link meter shows each second; the median, p10 and p90 of the per-second counts. A frame
  counts when a screen update (benchmarks/vt_screen.py) paints half-block cells or shows a
  new frame number ('#123', the side panel's: with every frame at the top level, once a
  second below it). The simulated scene is still, so partial redraw paints few cells of a
  frame, or none; ``--motion N`` steps the exposure (``e``, ``E``) N times a second meanwhile,
  which repaints the picture (each step also rebuilds the simulated sensor's state: on a
  small machine that, not the link, caps the rate);
- bytes/s: what the app writes per second on each tab while nobody types.

    python benchmarks/tui_thin_link.py --rate 32k [--trials 10] [--size 80x24]
    python benchmarks/tui_thin_link.py --rate 8k --trials 10
    python benchmarks/tui_thin_link.py --rate fast --fps-seconds 10 --idle-seconds 5

The machine's load average is printed with every result: the figures are wall-clock times.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))   # run as a script or loaded by the tests
from vt_screen import Screen  # noqa: E402  (the terminal emulator)
class ThinLink:
    """``camdeck tui`` on a pty whose output is read at ``rate`` bytes per second (0: as fast as it comes).

    Args:
        cols, rows: the terminal size.
        rate: bytes per second the link carries; 0 means unlimited.
        env: extra environment for the app (TERM, COLORTERM, XDG folders ...).
        argv: extra arguments after ``tui``.
    """

    def __init__(self, cols: int, rows: int, rate: float, env: dict[str, str], argv: list[str] = ()) -> None:
        self.rate = rate
        self.lock = threading.Lock()
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen = Screen(cols, rows, self._reply, self._count_frame)
        self.preview_frames = 0    # screen updates that showed a new preview frame
        self._frame_seq: int | None = None
        self.bytes_read = 0
        self._tail = b""
        self._watch: tuple[Callable[[list[str]], bool], threading.Event, list[float]] | None = None
        self.pid = os.fork()
        if self.pid == 0:   # the child: a session of its own with the pty as controlling terminal
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.close(self.master)
            os.execve(sys.executable, [sys.executable, "-m", "camdeck.console.cli.app", "tui", *argv],
                      {**os.environ, **env})
        os.close(slave)
        self.running = True
        self.thread = threading.Thread(target=self._pump, daemon=True, name="thin-link")
        self.thread.start()

    def _count_frame(self, screen: Screen, blocks: bool) -> None:
        seq = frame_number(screen.text())
        if blocks or (seq is not None and seq != self._frame_seq):
            self.preview_frames += 1
        self._frame_seq = seq

    def _reply(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _pump(self) -> None:
        bucket, last = 0.0, time.monotonic()
        burst = max(64.0, self.rate * 0.005)     # a link lends next to nothing after a pause
        while self.running:
            now = time.monotonic()
            bucket = min(burst, bucket + self.rate * (now - last)) if self.rate else 65536.0
            last = now
            if bucket < 1:
                time.sleep(max(0.001, (1 - bucket) / self.rate))
                continue
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self.master, int(bucket))
            except OSError:   # EIO: the app exited
                break
            if not data:
                break
            if self.rate:
                bucket -= len(data)
            # A terminal answers "where is the cursor" once it has taken everything before the
            # query; it has here (the bytes are read). Answering before this slow Python screen
            # has parsed them keeps the emulator's own speed out of the link being measured.
            scan = self._tail + data
            for _ in range(scan.count(b"\x1b[6n")):
                self._reply(b"\x1b[1;1R")
            self._tail = scan[-3:]
            with self.lock:
                self.screen.feed(data)
                self.bytes_read += len(data)
                watch = self._watch
                if watch is not None and watch[0](self.screen.shown()):
                    watch[2].append(time.monotonic())
                    self._watch = None
                    watch[1].set()
        self.running = False

    def text(self) -> list[str]:
        """The screen as the terminal shows it (synchronized updates appear whole)."""
        with self.lock:
            return self.screen.shown()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float) -> float | None:
        """Wait until ``predicate(screen rows)`` holds; the monotonic time it first did, or None."""
        event, stamp = threading.Event(), []
        with self.lock:
            if predicate(self.screen.shown()):
                return time.monotonic()
            self._watch = (predicate, event, stamp)
        if not event.wait(timeout):
            with self.lock:
                self._watch = None
            return None
        return stamp[0]

    def press(self, key: str, predicate: Callable[[list[str]], bool], timeout: float = 60.0) -> float | None:
        """Type ``key`` and return the seconds until ``predicate`` holds on screen (None: timed out)."""
        event, stamp = threading.Event(), []
        with self.lock:
            self._watch = (predicate, event, stamp)
            t0 = time.monotonic()
            os.write(self.master, key.encode())
        if not event.wait(timeout):
            with self.lock:
                self._watch = None
            return None
        return stamp[0] - t0

    def bytes_per_s(self, seconds: float) -> float:
        b0, t0 = self.bytes_read, time.monotonic()
        time.sleep(seconds)
        return (self.bytes_read - b0) / (time.monotonic() - t0)

    def preview_rate(self, seconds: int, motion_keys_per_s: float = 0.0) -> list[tuple[int, str]]:
        """Preview frames shown on screen in each of ``seconds`` whole seconds, with the mode
        the link meter showed at the end of that second ('15fps tc').

        Args:
            seconds: whole seconds to count.
            motion_keys_per_s: step the exposure this many times a second meanwhile (six thirds
                of a stop down with ``e``, six up with ``E``, again): the simulated scene is
                still, and a frame that changes no cell paints nothing. 0: leave it still.
        """
        stop = threading.Event()
        mover = None
        if motion_keys_per_s:
            def move() -> None:
                keys, due = ("e" * 6 + "E" * 6), time.monotonic()
                while not stop.is_set():
                    for key in keys:
                        os.write(self.master, key.encode())
                        due += 1.0 / motion_keys_per_s
                        if stop.wait(max(0.0, due - time.monotonic())):
                            return

            mover = threading.Thread(target=move, daemon=True, name="motion")
            mover.start()
            time.sleep(2.0)        # the level settles on the moving picture first
        per_second = []
        with self.lock:
            frames = self.preview_frames
        due = time.monotonic()
        try:
            for _ in range(seconds):
                due += 1.0
                time.sleep(max(0.0, due - time.monotonic()))
                with self.lock:
                    now_frames, rows = self.preview_frames, self.screen.shown()
                per_second.append((now_frames - frames, meter(rows)))
                frames = now_frames
        finally:
            stop.set()
            if mover is not None:
                mover.join(5)
        return per_second

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self.running = False
        self.thread.join(5)
        os.close(self.master)


def paused(rows: list[str]) -> bool:
    return any("paused" in row for row in rows)


def streaming(rows: list[str]) -> bool:
    return any("streaming" in row for row in rows)


SEQ_RE = re.compile(r"#(\d+)")


def frame_number(rows: list[str]) -> int | None:
    """The frame number the side panel shows ('#123'), or None."""
    for row in rows:
        match = SEQ_RE.search(row)
        if match:
            return int(match.group(1))
    return None


MODE_RE = re.compile(r"\d+(?:\.\d+)?fps [\w-]+")


def meter(rows: list[str]) -> str:
    """The link meter's preview mode as shown on screen ('' when none is shown)."""
    for row in reversed(rows):
        match = MODE_RE.search(row)
        if match:
            return match.group(0)
    return ""


def parse_rate(text: str) -> float:
    """'32k' -> 32000, '8000' -> 8000, 'fast' -> 0 (unlimited)."""
    text = text.strip().lower()
    if text in ("fast", "0", "inf"):
        return 0.0
    scale = 1000.0 if text.endswith("k") else 1.0
    return float(text.rstrip("k")) * scale


def isolated_env(folder: Path, term: str = "xterm-256color", colorterm: str | None = "truecolor") -> dict[str, str]:
    env = {"TERM": term, "CAMDECK_DATA_DIR": str(folder / "data"), "XDG_CONFIG_HOME": str(folder / "config"),
           "XDG_STATE_HOME": str(folder / "state"), "XDG_DATA_HOME": str(folder / "share"),
           "CAMDECK_SYSCONFDIR": str(folder / "etc")}
    env["COLORTERM"] = colorterm or ""
    return env


def start(cols: int, rows: int, rate: float, folder: Path, settle_s: float, argv: list[str] = (),
          **env_kw) -> ThinLink:
    """Spawn the TUI and wait until the Cameras tab streams, then ``settle_s`` more seconds."""
    link = ThinLink(cols, rows, rate, isolated_env(folder, **env_kw), list(argv))
    if link.wait_for(streaming, 180) is None:
        link.close()
        raise SystemExit(f"the TUI did not start streaming within 180 s; screen:\n" + "\n".join(link.text()))
    time.sleep(settle_s)
    return link


def key_to_screen(link: ThinLink, trials: int, stream_s: float) -> list[float]:
    """Seconds from ``p`` to "paused" on screen, ``trials`` times, streaming ``stream_s`` between."""
    times = []
    for _ in range(trials):
        took = link.press("p", paused, timeout=60)
        if took is None:
            raise SystemExit("'p' did not show 'paused' within 60 s")
        times.append(took)
        link.press("p", lambda rows: not paused(rows), timeout=60)
        time.sleep(stream_s)
    return times


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def p90(values: list[float]) -> float:
    return percentile(values, 0.9)


def preview_report(link: ThinLink, seconds: int, label: str, motion_keys_per_s: float) -> str:
    """One line: preview frames shown per second (median, p10, p90) and the modes the meter showed."""
    counts = link.preview_rate(seconds, motion_keys_per_s)
    fps = [n for n, _ in counts]
    modes: dict[str, int] = {}
    for _, mode in counts:
        modes[mode or "(none)"] = modes.get(mode or "(none)", 0) + 1
    shown = ", ".join(f"{mode} {n} s" for mode, n in sorted(modes.items(), key=lambda m: -m[1]))
    picture = f"exposure stepped {motion_keys_per_s:g}/s" if motion_keys_per_s else "still picture"
    return (f"{label}, {picture}: preview frames on screen median {statistics.median(fps):g} fps, p10 {percentile(fps, 0.1):g}, "
            f"p90 {percentile(fps, 0.9):g} over {seconds} s ({' '.join(map(str, fps))}); meter: {shown}; "
            f"{link.bytes_per_s(2.0) / 1000:.1f} KB/s; load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", default="32k", help="link rate in bytes/s: 32k, 8000, fast")
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--stream-seconds", type=float, default=3.0, help="streaming between two key presses")
    parser.add_argument("--settle-seconds", type=float, default=5.0)
    parser.add_argument("--fps-seconds", type=int, default=0, help="count preview frames painted this many seconds")
    parser.add_argument("--motion", type=float, default=0.0,
                        help="exposure steps per second while counting preview frames (default 0: a still picture)")
    parser.add_argument("--idle-seconds", type=float, default=0.0, help="measure bytes/s on each tab this long")
    parser.add_argument("--app-log", help="let the app log at INFO to this file (preview level changes)")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    rate = parse_rate(args.rate)
    label = "fast link" if not rate else f"{rate / 1000:g} KB/s"
    with tempfile.TemporaryDirectory() as folder:
        argv = ["-vv" if os.environ.get("THIN_LINK_DEBUG") else "-v", "--log-file", args.app_log] if args.app_log else []
        link = start(cols, rows, rate, Path(folder), args.settle_seconds, argv)
        try:
            if args.trials:
                times = key_to_screen(link, args.trials, args.stream_seconds)
                ms = [t * 1000 for t in times]
                print(f"{cols}x{rows} {label}: key to screen median {statistics.median(ms):.0f} ms, "
                      f"p90 {p90(ms):.0f} ms, max {max(ms):.0f} ms over {len(ms)} presses "
                      f"({', '.join(f'{m:.0f}' for m in ms)}); load average {os.getloadavg()[0]:.2f}")
            if args.fps_seconds:
                print(preview_report(link, args.fps_seconds, f"{cols}x{rows} {label}", args.motion))
            if args.idle_seconds:
                for key, name in (("1", "Cameras"), ("2", "Recording"), ("3", "Calibration"),
                                  ("4", "Reconstruction"), ("5", "Monitoring")):
                    os.write(link.master, key.encode())
                    time.sleep(3.0)
                    rate_bps = link.bytes_per_s(args.idle_seconds)
                    print(f"{cols}x{rows} {label}: idle on {name}: {rate_bps:.0f} bytes/s "
                          f"over {args.idle_seconds:g} s; load average {os.getloadavg()[0]:.2f}")
        finally:
            link.close()


if __name__ == "__main__":
    main()
