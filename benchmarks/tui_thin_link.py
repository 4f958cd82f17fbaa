"""The TUI over a thin link: key-to-screen latency, preview rate and bytes per second.

Spawns the real ``camdeck tui`` (the default simulated rig, the Cameras tab streaming) on a
pseudo-terminal of a fixed size and plays the terminal itself: a small VT emulator reads the
pty master at a fixed byte rate (a token bucket: what an SSH link over poor Wi-Fi lets
through), keeps the screen, and answers the queries a real terminal answers (cursor
position, synchronized-output support). Then:

- key to screen: with the preview streaming, press ``p`` (pause) and time until "paused" is
  on the emulated screen; press ``p`` again, let it stream a while, repeat;
- preview rate: frames per second reaching the screen (the side panel numbers each frame);
- bytes/s: what the app writes per second on each tab while nobody types.

    python benchmarks/tui_thin_link.py --rate 32k [--trials 10] [--size 80x24]
    python benchmarks/tui_thin_link.py --rate 8k --trials 10
    python benchmarks/tui_thin_link.py --rate fast --fps-seconds 10 --idle-seconds 5

The machine's load average is printed with every result: the figures are wall-clock times.
"""
from __future__ import annotations

import argparse
import codecs
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

HALF_BLOCK = "\u2580"
SYNC_MODE = "2026"
# One token of terminal output: a CSI sequence, a string sequence (OSC, DCS, ... up to BEL or
# ST), another escape, one control character, or a run of printable text.
_TOKEN = re.compile(r"\x1b\[[\x20-\x3f]*[\x40-\x7e]|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"
                    r"|\x1b[()#%].|\x1b[^\[\]PX^_()#%]|[\x00-\x1a\x1c-\x1f]|[^\x00-\x1f]+")


class Screen:
    """Just enough of a VT100/xterm for Textual's output: cursor moves, text, erase, SGR,
    synchronized output, and the replies to the queries Textual and camdeck send.

    Args:
        cols, rows: the terminal size.
        reply: called with the bytes a terminal sends back (query answers).
    """

    def __init__(self, cols: int, rows: int, reply: Callable[[bytes], None]) -> None:
        self.cols, self.rows = cols, rows
        self.reply = reply
        self.chars = [[" "] * cols for _ in range(rows)]
        self.styles = [[""] * cols for _ in range(rows)]
        self.x = self.y = 0
        self.sgr = ""
        self.updates = 0           # completed synchronized updates (ESC[?2026l)
        self.dsr_answered = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._rest = ""

    def feed(self, data: bytes) -> None:
        """Apply terminal output; a sequence cut at the end of ``data`` waits for the next call."""
        text = self._rest + self._decoder.decode(data)
        pos, end = 0, len(text)
        while pos < end:
            match = _TOKEN.match(text, pos)
            if match is None:            # an escape sequence not complete yet
                break
            pos = match.end()
            token = match.group(0)
            first = token[0]
            if first != "\x1b" and first >= " ":
                self._put(token)
            elif first == "\x1b":
                if token[1:2] == "[":
                    self._csi(token[2:-1], token[-1])
            elif token == "\r":
                self.x = 0
            elif token == "\n":
                self.y = min(self.rows - 1, self.y + 1)
            elif token == "\b":
                self.x = max(0, self.x - 1)
        self._rest = text[pos:]

    def _put(self, run: str) -> None:
        y, x = self.y, self.x
        if y >= self.rows or x >= self.cols:
            return
        n = min(len(run), self.cols - x)
        self.chars[y][x:x + n] = run[:n]
        self.styles[y][x:x + n] = [self.sgr] * n
        self.x = min(self.cols, x + len(run))

    def _csi(self, params: str, final: str) -> None:
        private = params[:1] in ("?", ">", "<", "=")
        body = params.lstrip("?><=").rstrip("$ ")
        nums = [int(p) if p.isdigit() else 0 for p in body.split(";")] if body else []
        first = nums[0] if nums else 0
        if final in "Hf":
            row = nums[0] if nums else 1
            col = nums[1] if len(nums) > 1 else 1
            self.y = min(self.rows - 1, max(0, row - 1))
            self.x = min(self.cols - 1, max(0, col - 1))
        elif final == "A":
            self.y = max(0, self.y - max(1, first))
        elif final == "B":
            self.y = min(self.rows - 1, self.y + max(1, first))
        elif final == "C":
            self.x = min(self.cols - 1, self.x + max(1, first))
        elif final == "D":
            self.x = max(0, self.x - max(1, first))
        elif final == "G":
            self.x = min(self.cols - 1, max(0, first - 1))
        elif final == "K":
            start, end = {0: (self.x, self.cols), 1: (0, self.x + 1), 2: (0, self.cols)}.get(first, (0, 0))
            for x in range(start, end):
                self.chars[self.y][x], self.styles[self.y][x] = " ", self.sgr
        elif final == "J" and first in (2, 3):
            for y in range(self.rows):
                self.chars[y] = [" "] * self.cols
                self.styles[y] = [self.sgr] * self.cols
        elif final == "m" and not private:
            self.sgr = "" if body in ("", "0") else body
        elif final == "n" and first == 6:
            self.dsr_answered += 1     # answered by ThinLink as the bytes are read
        elif final == "p" and params.startswith("?") and params.endswith("$"):
            supported = 2 if body == SYNC_MODE else 0
            self.reply(f"\x1b[?{body};{supported}$y".encode())
        elif final == "l" and private and body == SYNC_MODE:
            self.updates += 1

    def text(self) -> list[str]:
        return ["".join(row) for row in self.chars]

    def picture_signature(self) -> int:
        """Hash of every half-block cell with its colours: changes when the preview does."""
        return hash(tuple((y, x, self.styles[y][x]) for y in range(self.rows) for x in range(self.cols)
                          if self.chars[y][x] == HALF_BLOCK))


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
        self.screen = Screen(cols, rows, self._reply)
        self.bytes_read = 0
        self._tail = b""
        self._watch: tuple[Callable[[list[str]], bool], threading.Event, list[float]] | None = None
        self._on_update: Callable[[Screen], None] | None = None
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
                updates = self.screen.updates
                self.screen.feed(data)
                self.bytes_read += len(data)
                watch = self._watch
                if watch is not None and watch[0](self.screen.text()):
                    watch[2].append(time.monotonic())
                    self._watch = None
                    watch[1].set()
                if self._on_update is not None and self.screen.updates != updates:
                    self._on_update(self.screen)
        self.running = False

    def text(self) -> list[str]:
        with self.lock:
            return self.screen.text()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float) -> float | None:
        """Wait until ``predicate(screen rows)`` holds; the monotonic time it first did, or None."""
        event, stamp = threading.Event(), []
        with self.lock:
            if predicate(self.screen.text()):
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

    def frame_rate(self, seconds: float) -> float:
        """Preview frames per second reaching the screen, counted by the frame number the side
        panel prints with each frame it is given ('#123'): a still picture may change no cell."""
        seen = [0, None]

        def on_update(screen: Screen) -> None:
            seq = frame_number(screen.text())
            if seq is not None and seq != seen[1]:
                seen[0] += 1
                seen[1] = seq

        with self.lock:
            seen[1] = frame_number(self.screen.text())
            self._on_update = on_update
        t0 = time.monotonic()
        time.sleep(seconds)
        with self.lock:
            self._on_update = None
        return seen[0] / (time.monotonic() - t0)

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


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", default="32k", help="link rate in bytes/s: 32k, 8000, fast")
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--stream-seconds", type=float, default=3.0, help="streaming between two key presses")
    parser.add_argument("--settle-seconds", type=float, default=5.0)
    parser.add_argument("--fps-seconds", type=float, default=0.0, help="measure the preview rate this long")
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
                fps = link.frame_rate(args.fps_seconds)
                print(f"{cols}x{rows} {label}: preview {fps:.1f} frames/s on screen over "
                      f"{args.fps_seconds:g} s; meter shows {meter(link.text()) or '(none)'!r}; "
                      f"{link.bytes_per_s(2.0) / 1000:.1f} KB/s; load average {os.getloadavg()[0]:.2f}")
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
