"""Tests of console/. The TUI tests drive the real simulated rig: ``OpenedCameras`` is the real
``drivers.registry.open_camera`` that remembers what the app opened, so a test can unplug a camera
(``inject_fault``) or read its true controls; faults that must be there from the start are config
keys (``fault_timeout_every``, ``fault_disconnect_after``) of ``sim_settings``."""
from __future__ import annotations

import asyncio
import copy
import functools
import tomllib
from pathlib import Path
from typing import Any, Callable

from camdeck.console.config import BUILTIN_CONFIG, Settings, parse_settings
from camdeck.drivers.registry import open_camera

# The recorder pair, small: two simulated Pi cameras cheap enough for two cores.
RECORDER_RIG = """
[sim]
seed = 0

[cameras.lightroom]
driver = "sim"
model = "IMX219"
label = "Camera Module 2.1 NoIR"
camera_num = 0
resolution = [320, 240]

[cameras.darkroom]
driver = "sim"
model = "IMX708"
label = "Camera Module 3 NoIR Wide"
camera_num = 1
resolution = [320, 240]

[rigs.recorder]
type = "recorder"
cameras = ["lightroom", "darkroom"]

# Tests on a shared, loaded machine drop frames; the drop limit has tests of its own.
[record]
max_drop_pct = 100.0
"""

# Preview-sized outputs for the default rig: the same cameras and rigs as config.toml, but each
# first render (one per camera pose, cached per process) costs a fraction of a full-HD one.
# The ASI pair matches tests/console/test_tui_calibration.py, so the two share their renders.
SMALL_RIG: dict[str, dict[str, Any]] = {
    "asi-left": {"resolution": [1280, 720], "controls": {"bin": 2}},
    "asi-right": {"resolution": [1280, 720], "controls": {"bin": 2}},
    "lightroom": {"resolution": [320, 240]},
    "darkroom": {"resolution": [320, 240]},
    "still": {"resolution": [320, 240]},
    "ptz-1": {"resolution": [640, 360]},
    "ptz-2": {"resolution": [640, 360]},
}


def default_config() -> dict[str, Any]:
    """config.toml (the built-in all-simulated rig) as a dict, to edit and parse."""
    return tomllib.loads(BUILTIN_CONFIG.read_text(encoding="utf-8"))


def sim_settings(data_dir: Path, cameras: dict[str, dict[str, Any]] | None = None,
                 edit: Callable[[dict[str, Any]], None] | None = None) -> Settings:
    """The default simulated rig at preview sizes (``SMALL_RIG``), through the real config parser.

    Args:
        data_dir: the data folder (a tmp_path).
        cameras: more per-camera keys, merged over the entry (``controls`` merge key by key),
            e.g. ``{"asi-left": {"fault_timeout_every": 4}}``.
        edit: a last change to the whole document.
    """
    data = default_config()
    data["console"]["data_dir"] = str(data_dir)
    for table in (SMALL_RIG, cameras or {}):
        for name, keys in table.items():
            entry = data["cameras"][name]
            for key, value in copy.deepcopy(keys).items():
                if key == "controls":
                    entry["controls"] = {**entry.get("controls", {}), **value}
                else:
                    entry[key] = value
    if edit is not None:
        edit(data)
    return parse_settings(data, "test config")


class OpenedCameras:
    """A ``camera_opener`` for make_app: the real ``drivers.registry.open_camera``, remembering each
    camera it opened, so a test can reach the very camera the app holds.

    Attributes:
        cameras: name -> the camera opened last under that name.
        opened: names in the order they were opened (a reopen appears twice).
    """

    def __init__(self) -> None:
        self.cameras: dict[str, Any] = {}
        self.opened: list[str] = []

    def __call__(self, spec, ctx):
        cam = open_camera(spec, ctx)
        self.cameras[spec.name] = cam
        self.opened.append(spec.name)
        return cam


def run_async(test):
    """Run an ``async def`` test with asyncio (no pytest async plugin is needed)."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return wrapper


async def until(pilot, condition, timeout_s: float = 60.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds (jobs run in thread workers).

    The timeout only bounds a failing test; it is generous so a loaded CI machine is not one.
    """
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
