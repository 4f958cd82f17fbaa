"""The TUI shows a missing extra as the CLI does: the same one line, no traceback, the tab usable."""
from __future__ import annotations

import sys

import pytest
from rich.text import Text

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.tabs.monitoring import MonitoringTab
from camdeck.drivers.sim.clock import ManualClock
from tests.console import run_async, until

CONFIG = """
[deployments.site]

[cameras.ptz-1]
driver = "sim"
model = "PTZ"
deployment = "site"
resolution = [320, 180]
port = 0

[slack]
webhook_url = "http://127.0.0.1:9/hook"
"""

LINE = "Slack alerts ([slack]) needs slack_sdk, which is not installed; fix: pip install 'camdeck[fleet]'"


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return load_settings(path, tmp_path / "data")


@run_async
async def test_a_fleet_run_without_slack_sdk_shows_the_extra_in_one_line(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "slack_sdk", None)          # as on a core install
    app = make_app(settings, live=False, clock=ManualClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.fleet.row_count == 1, what="fleet table")
        await pilot.press("f", "y")                 # a fleet run asks first
        await until(pilot, lambda: "run failed" in str(tab.run_label.render()), what="the run's failure")
        assert str(tab.run_label.render()) == f"run failed: {LINE}"
        assert not tab.running
        # the toast shows the same line (its markup escaped: 'camdeck[fleet]' is text, not a style)
        assert [Text.from_markup(n.message).plain for n in app._notifications] == [LINE]
