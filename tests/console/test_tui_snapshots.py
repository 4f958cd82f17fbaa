"""Snapshot tests of the Cameras tab on the simulated rig, at 80x24 and 120x40.

Reproducible byte for byte: the rig is seeded, simulated time only moves when a camera
waits (ManualClock), and ``live=False`` stops the preview after two frames (so the measured
fps comes from two sensor timestamps, not from the machine's speed).
Update with ``pytest tests/console/test_tui_snapshots.py --snapshot-update`` and look at the SVGs.
"""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from camdeck.console.config import BUILTIN_CONFIG, load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.widgets.status_header import DiskRate, StatusHeader


@pytest.fixture
def sim_app(tmp_path):
    from camdeck.drivers.sim.clock import ManualClock

    settings = load_settings(BUILTIN_CONFIG, tmp_path / "data")
    return make_app(settings, live=False, frame_limit=2, clock=ManualClock())


async def settled(pilot) -> None:
    """Wait until the preview is up and every worker has finished.

    Not "two frames shown": on a loaded machine the second frame message replaces the first
    before it is drawn (PreviewFrame.can_replace, as over a slow link), and the screen
    shows frame 2 either way once the workers are done.
    """
    app = pilot.app
    tab = app.cameras_tab
    header = app.query_one(StatusHeader)     # the host's name, disk and clock differ run to run: pinned
    header.sampling = False
    header.rig, header.disk, header.pi = "rig-host: 3 rigs", (64_000_000_000, 128_000_000_000), None
    header.now = lambda: datetime(2026, 12, 3, 8, 0)
    header.rate = DiskRate()                 # no write rate measured: no "full in ..."
    deadline = time.monotonic() + 60
    while not (tab.preview.frames_shown >= 1 and tab._probe_started):
        assert time.monotonic() < deadline, "the simulated rig did not deliver a preview"
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    header.refresh_line()
    await pilot.pause()


def test_cameras_tab_80x24(snap_compare, sim_app):
    assert snap_compare(sim_app, terminal_size=(80, 24), run_before=settled)


def test_cameras_tab_120x40(snap_compare, sim_app):
    assert snap_compare(sim_app, terminal_size=(120, 40), run_before=settled)
