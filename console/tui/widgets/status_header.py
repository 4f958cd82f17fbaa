"""The status line on top of every tab: what runs, what is left, and whether the Pi is well.

``rig │ REC 1:23 take_001 │ RECON │ FLEET 2/5 │ SOLVE │ disk 120.5 GB, full in 3h20m │
Pi ok 52°C │ 14:05`` then, right-aligned in ``LINK_COLUMNS`` columns, the link meter
(``app.link_monitor.summary()``, when the app has one).

- Jobs come from the app (``app.header_jobs()``: each tab's ``header_badges()``), so a
  recording shows on every tab, not only its own.
- Free disk is the data folder's (the recording's folder while one runs); the time until full
  divides it by the write rate measured from the free space itself, so it counts every writer.
- Pi health: drivers/pi_health.py, read under ``app.host_root`` (a fake sysfs tree in tests).

Disk and health are read by a short thread worker every ``SAMPLE_EVERY_S`` (statvfs may block
on a busy card; vcgencmd is a subprocess); the line is rebuilt once a second and redrawn only when
its text changed: the clock shows minutes, so an idle console sends nothing between them.
"""
from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Static

from camdeck.console.tui.widgets.fit_text import duration_text, human_size

LINK_COLUMNS = 24             # kept free on the right for the link meter
SAMPLE_EVERY_S = 2.0
RATE_SMOOTHING = 0.3          # weight of the newest write-rate sample (exponential average)
MIN_RATE_BPS = 10_000         # below this the disk is not filling: no time-until-full
LOW_DISK_FRACTION = 0.05
SEPARATOR = " │ "


@dataclass(frozen=True)
class Segment:
    """One piece of the line; the lowest ``priority`` goes first when the width runs out."""

    text: str
    style: str = ""
    priority: int = 5


def header_text(segments: Sequence[Segment], width: int, link: str | None = None) -> Text:
    """The line for ``width`` columns: segments joined in order, the least important dropped
    until they fit, and ``link`` right-aligned in the last ``LINK_COLUMNS`` columns."""
    room = width - (LINK_COLUMNS + 1 if link is not None else 0)
    kept = list(segments)
    while kept and len(SEPARATOR.join(s.text for s in kept)) > room:
        kept.remove(min(kept, key=lambda s: s.priority))
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, seg in enumerate(kept):
        if i:
            text.append(SEPARATOR, style="dim")
        text.append(seg.text, style=seg.style)
    if link is not None:
        text.truncate(max(0, room), pad=True)
        text.append(" ")
        text.append(link[:LINK_COLUMNS].rjust(LINK_COLUMNS), style="dim")
    return text


def rig_label(settings: Any, host: str | None = None) -> str:
    """``host: rig`` (or ``host: 3 rigs``): which machine and what it drives, for SSH users."""
    host = (host or socket.gethostname()).split(".")[0]
    rigs = list(getattr(settings, "rigs", {}) or {})
    what = rigs[0] if len(rigs) == 1 else (f"{len(rigs)} rigs" if rigs else "no rig")
    return f"{host}: {what}"


class DiskRate:
    """Write rate from successive free-space readings (bytes/s, smoothed), and time until full."""

    def __init__(self) -> None:
        self._last: tuple[float, int, str] | None = None
        self.rate_bps = 0.0

    def add(self, t_s: float, free_bytes: int, path: str) -> float:
        last = self._last
        self._last = (t_s, free_bytes, path)
        if last is None or last[2] != path or t_s <= last[0]:
            self.rate_bps = 0.0     # a new folder (maybe a new disk): start over
            return self.rate_bps
        sample = max(0.0, (last[1] - free_bytes) / (t_s - last[0]))
        self.rate_bps += RATE_SMOOTHING * (sample - self.rate_bps)
        return self.rate_bps

    def seconds_to_full(self, free_bytes: int) -> float | None:
        return free_bytes / self.rate_bps if self.rate_bps >= MIN_RATE_BPS else None


class HostSample(Message):
    """Disk and Pi health, read by the sampler worker; a newer one replaces an older one."""

    def __init__(self, path: Path, free: int | None, total: int | None, pi: Any, t_s: float) -> None:
        super().__init__()
        self.path, self.free, self.total, self.pi, self.t_s = path, free, total, pi, t_s

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HostSample)


def _existing(path: Path) -> Path:
    """The folder itself or its nearest existing parent (a recording folder not made yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


class StatusHeader(Static):
    """The one-line header; it reads the app (jobs, settings, link meter) and never a driver."""

    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.rate = DiskRate()
        self.disk: tuple[int, int] | None = None     # (free, total) bytes
        self.pi: Any = None
        self.plain = ""
        self._disk_path = Path(".")
        self.rig = ""
        # Injectable for reproducible screenshots: the wall clock, and whether to read the host.
        self.now: Callable[[], datetime] = datetime.now
        self.sampling = True

    def on_mount(self) -> None:
        self.rig = rig_label(getattr(self.app, "settings", None))
        self._disk_path = self._wanted_disk_path()
        self.refresh_line()
        self.set_interval(1.0, self.refresh_line)
        self._start_sample()
        self.set_interval(SAMPLE_EVERY_S, self._start_sample)

    def _start_sample(self) -> None:
        if self.sampling:
            self._sample(Path(getattr(self.app, "host_root", Path("/"))), self._disk_path)

    def _wanted_disk_path(self) -> Path:
        folder = getattr(self.app, "output_folder", lambda: None)()
        settings = getattr(self.app, "settings", None)
        return Path(folder or getattr(settings, "data_dir", ".") or ".")

    @work(thread=True, exclusive=True, exit_on_error=False, group="status-header")
    def _sample(self, root: Path, path: Path) -> None:
        """Read free space under ``path`` and the Pi's health under ``root`` once."""
        from camdeck.drivers.pi_health import read_pi_health

        try:
            usage = shutil.disk_usage(_existing(path))
            free, total = usage.free, usage.total
        except OSError:
            free = total = None
        self.post_message(HostSample(path, free, total, read_pi_health(root), time.monotonic()))

    def on_host_sample(self, message: HostSample) -> None:
        if not self.sampling:
            return
        self.pi = message.pi
        if message.free is None or message.total is None:
            self.disk = None
        else:
            self.disk = (message.free, message.total)
            self.rate.add(message.t_s, message.free, str(message.path))
        self.refresh_line()

    def segments(self) -> list[Segment]:
        """What the line says now, most important with the highest priority."""
        out = [Segment(self.rig, "bold", 3)]
        for badge in getattr(self.app, "header_jobs", lambda: [])():
            out.append(Segment(badge, "bold reverse red" if badge.startswith("REC") else "bold reverse", 9))
        if getattr(self.app, "read_only", False):
            out.append(Segment("READ-ONLY", "bold reverse yellow", 8))
        if self.disk is not None:
            free, total = self.disk
            text = f"disk {human_size(free)}"
            left = self.rate.seconds_to_full(free)
            if left is not None:
                text += f", full in {duration_text(left)}"
            low = total and free / total < LOW_DISK_FRACTION
            out.append(Segment(text, "bold red" if low else "", 7 if low or left is not None else 5))
        pi = self.pi
        if pi is not None:
            temp = f" {pi.temperature_c:.0f}°C" if pi.temperature_c is not None else ""
            problems = pi.problems()
            if pi.ok and not problems:
                out.append(Segment(f"Pi ok{temp}", "green", 2))
            else:
                out.append(Segment(f"Pi {' '.join(problems)}{temp}", "bold red" if not pi.ok else "yellow",
                                   8 if not pi.ok else 2))
        out.append(Segment(self.now().strftime("%H:%M"), "", 4))
        return out

    def refresh_line(self) -> None:
        """Rebuild the line; redraw only when its text changed."""
        self._disk_path = self._wanted_disk_path()
        monitor = getattr(self.app, "link_monitor", None)
        link = None
        if monitor is not None:
            try:
                link = str(monitor.summary())
            except Exception as err:    # the meter is another module's: never let it take the header down
                link = f"link: {type(err).__name__}"
        width = max(10, (self.content_size.width or self.app.size.width - 2))
        text = header_text(self.segments(), width, link)
        if text.plain != self.plain:
            self.plain = text.plain
            self.update(text)
