"""A Raspberry Pi's health: undervoltage, throttling and temperature, as the firmware reports them.

The firmware's throttled word comes from ``/sys/devices/platform/soc/soc:firmware/get_throttled``
(hex, no prefix) or, where that file is missing, from ``vcgencmd get_throttled``
(``throttled=0x50005``). Its bits (Raspberry Pi documentation, "vcgencmd"):

====  =====================================
bit   meaning
====  =====================================
0     under-voltage detected (now)
1     ARM frequency capped (now)
2     currently throttled
3     soft temperature limit active (now)
16    under-voltage has occurred (since boot)
17    ARM frequency capping has occurred
18    throttling has occurred
19    soft temperature limit has occurred
====  =====================================

The temperature is ``/sys/class/thermal/thermal_zone0/temp`` (millidegrees Celsius). Every
path is read under ``root`` so tests (and a console looking at a mounted image) can point it at
a fake sysfs tree. Reading is cheap but ``vcgencmd`` is a subprocess: call this from a worker.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

THROTTLED_FILE = Path("sys/devices/platform/soc/soc:firmware/get_throttled")
THERMAL_FILE = Path("sys/class/thermal/thermal_zone0/temp")
VCGENCMD_TIMEOUT_S = 2.0

UNDER_VOLTAGE, FREQ_CAPPED, THROTTLED, SOFT_TEMP_LIMIT = 0, 1, 2, 3
OCCURRED = 16       # the "has occurred since boot" bits sit 16 above the "now" bits


@dataclass(frozen=True)
class PiHealth:
    """The firmware's throttled word and the SoC temperature.

    Attributes:
        throttled: the raw word (bits above).
        source: "sysfs" or "vcgencmd".
        temperature_c: SoC temperature, °C; None when not readable.
    """

    throttled: int
    source: str
    temperature_c: float | None = None

    def now(self, bit: int) -> bool:
        return bool(self.throttled >> bit & 1)

    def occurred(self, bit: int) -> bool:
        return bool(self.throttled >> (bit + OCCURRED) & 1)

    @property
    def ok(self) -> bool:
        """Nothing wrong now (past events may still be flagged)."""
        return not self.throttled & 0xF

    def problems(self) -> list[str]:
        """Short words for what is wrong now, then what happened since boot (lower case)."""
        words = {UNDER_VOLTAGE: "undervolt", FREQ_CAPPED: "freq capped", THROTTLED: "throttled",
                 SOFT_TEMP_LIMIT: "hot"}
        now = [w.upper() for bit, w in words.items() if self.now(bit)]
        past = [w for bit, w in words.items() if self.occurred(bit) and not self.now(bit)]
        return now + ([f"earlier: {', '.join(past)}"] if past else [])


def parse_throttled(text: str) -> int:
    """The throttled word from the sysfs file ("50005") or vcgencmd ("throttled=0x50005").

    Raises:
        ValueError: the text holds no hexadecimal number.
    """
    value = text.strip().rpartition("=")[2].strip()
    return int(value, 16)


def read_temperature_c(root: Path = Path("/")) -> float | None:
    """The SoC temperature in °C from the thermal zone, or None."""
    try:
        return int((root / THERMAL_FILE).read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def read_pi_health(root: Path = Path("/"), search_path: str | None = None) -> PiHealth | None:
    """The Pi's health, or None on a machine that is not a Pi (neither source present).

    Args:
        root: where ``sys/`` is (``/``; a fake tree in tests).
        search_path: PATH to look for ``vcgencmd`` in (default: $PATH).
    """
    temperature = read_temperature_c(root)
    try:
        return PiHealth(parse_throttled((root / THROTTLED_FILE).read_text()), "sysfs", temperature)
    except (OSError, ValueError):
        pass
    exe = shutil.which("vcgencmd", path=search_path if search_path is not None else os.environ.get("PATH"))
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=VCGENCMD_TIMEOUT_S)
        return PiHealth(parse_throttled(done.stdout), "vcgencmd", temperature) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
