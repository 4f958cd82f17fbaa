"""The simulated ASI SDK (asi_sim.c): build it with the system compiler, and reach its test knobs.

The library is compiled once per test session into a temporary folder (never committed)
and loaded by the real ``zwoasi`` wrapper, exactly as the ZWO library would be.
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("asi_sim.c")

# Serial numbers of the two simulated ASI662MC, as camdeck prints them (16 hex digits).
SERIALS = ("1E662A0010000001", "1E662A0010000002")

# ASISimCounter kinds.
OPEN, START_VIDEO, STOP_VIDEO, GET_VIDEO_DATA, CLOSE = range(5)


def build_library(out_dir: Path) -> Path:
    """Compile asi_sim.c into ``out_dir/libASICamera2.so`` and return its path.

    Raises:
        RuntimeError: no C compiler, or the compile failed (its output in the message).
    """
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH; install build-essential")
    out = Path(out_dir) / "libASICamera2.so"
    proc = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(out), str(SOURCE), "-lpthread"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"compiling {SOURCE.name} failed:\n{proc.stderr}")
    return out


class SimKnobs:
    """The simulator's test-only functions (ASISim*), on the same loaded library as zwoasi's."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        lib = ctypes.CDLL(str(path))   # dlopen of the same path: the same instance zwoasi uses
        lib.ASISimSetTimeScale.argtypes = [ctypes.c_double]
        lib.ASISimCounter.restype = ctypes.c_long
        self._lib = lib

    def reset(self) -> None:
        """Both cameras plugged in and closed, no faults, virtual clock."""
        self._lib.ASISimReset()

    def time_scale(self, scale: float) -> None:
        self._lib.ASISimSetTimeScale(float(scale))

    def unplug(self, slot: int) -> None:
        self._lib.ASISimSetConnected(slot, 0)

    def plug(self, slot: int) -> None:
        self._lib.ASISimSetConnected(slot, 1)

    def timeouts(self, slot: int, n: int) -> None:
        """n > 0: next n reads; -1 until video restarts; -2 until reopened; -3 for ever."""
        self._lib.ASISimTimeouts(slot, n)

    def drop_frames(self, slot: int, n: int) -> None:
        self._lib.ASISimDropFrames(slot, n)

    def usb3_host(self, slot: int, usb3: bool) -> None:
        self._lib.ASISimSetUsb3Host(slot, int(usb3))

    def counter(self, slot: int, kind: int) -> int:
        return int(self._lib.ASISimCounter(slot, kind))

    def struct_sizes(self) -> tuple[int, int, int]:
        a, b, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        self._lib.ASISimStructSizes(ctypes.byref(a), ctypes.byref(b), ctypes.byref(c))
        return a.value, b.value, c.value


_BUILT: dict[str, Path] = {}


def session_library(tmp_path_factory) -> Path:
    """The compiled simulator for this test session (built on first use, then reused)."""
    if "path" not in _BUILT:
        _BUILT["path"] = build_library(tmp_path_factory.mktemp("asi_sdk_sim"))
    return _BUILT["path"]
