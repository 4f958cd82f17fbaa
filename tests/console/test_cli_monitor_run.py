"""`camdeck monitor run` and `camdeck monitor history`: the CLI contract (JSON shape, exit codes, bad input).

Uses the in-process simulated PTZ cameras; the end-to-end runs through ONVIF and MQTT are in
tests/monitoring/test_fleet.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from camdeck.monitoring.history import HistoryStore, MonitoringRecord

CONFIG = """
[deployments.site]
[deployments.other]

[cameras.ptz-1]
driver = "sim"
model = "PTZ"
deployment = "site"
port = 0
resolution = [640, 360]

[cameras.ptz-2]
driver = "sim"
model = "PTZ"
deployment = "other"
port = 0
resolution = [640, 360]
"""


@pytest.fixture
def config(workdir) -> Path:
    path = workdir / "config.toml"
    path.write_text(CONFIG)
    return path


def test_devices_without_references_fail_with_the_fix_and_exit_1(cli, config, user_data_dir):
    res = cli("monitor", "run", "--json", "--stabilize-time", "0s")
    assert res.code == 1
    out = res.json()
    assert out["failed"] == 2
    assert [(d["deployment"], d["camera"]) for d in out["devices"]] == [("other", "ptz-2"), ("site", "ptz-1")]
    for row in out["devices"]:
        assert set(row) == {"deployment", "camera", "success", "pitch_deg", "yaw_deg", "roll_deg", "alert", "error",
                            "notified", "notify_error", "telemetry_source", "telemetry_malformed"}
        assert row["notified"] is False and "Slack is not configured" in row["notify_error"]
        assert row["success"] is False and row["pitch_deg"] is None and row["alert"] is False
        assert "no reference scan" in row["error"] and "collect-references --device" in row["error"]
    rows = HistoryStore(user_data_dir / "history.sqlite").query()
    assert len(rows) == 2 and all(not r.success and r.failure_logs for r in rows)


def test_human_output_is_a_table_and_failures_still_exit_1(cli, config):
    res = cli("monitor", "run", "--device", "site/ptz-1", "--shard", "0/1")
    assert res.code == 1
    assert "site/ptz-1" in res.out and "failed" in res.out and "0 of 1 devices processed" in res.out


@pytest.mark.parametrize("argv, needle", [
    (["--shard", "2/2"], "--shard 2/2"),
    (["--shard", "half"], "not i/N"),
    (["--device", "nowhere/cam"], "names no configured PTZ camera"),
    (["--timeout", "soon"], "--timeout"),
    (["--stabilize-time", "-3s"], "--stabilize-time"),
])
def test_bad_options_exit_2_before_any_camera_moves(cli, config, user_data_dir, argv, needle):
    res = cli("monitor", "run", *argv)
    assert res.code == 2, res.err
    assert needle in res.err and "fix:" in res.err
    assert not (user_data_dir / "history.sqlite").exists()


def test_shards_take_every_nth_device(cli, config):
    first = cli("monitor", "run", "--json", "--shard", "0/2").json()["devices"]
    second = cli("monitor", "run", "--json", "--shard", "1/2").json()["devices"]
    assert [d["camera"] for d in first] == ["ptz-2"] and [d["camera"] for d in second] == ["ptz-1"]


def test_history_lists_newest_first_with_filters_and_limit(cli, config, user_data_dir):
    store = HistoryStore(user_data_dir / "history.sqlite")
    for n in range(3):
        store.add(MonitoringRecord(deployment="site", device_id="ptz-1", timestamp=f"2026-11-2{n}T10:00:00Z",
                                   pitch_offset_deg=0.2 * n, yaw_offset_deg=0.0, roll_offset_deg=0.0, success=True))
    store.add(MonitoringRecord(deployment="other", device_id="ptz-2", timestamp="2026-11-25T10:00:00Z",
                               success=False, failure_logs="camera unreachable"))
    out = cli("monitor", "history", "--json", "--device", "site/ptz-1", "--limit", "2").json()
    assert out["count"] == 2
    assert [r["timestamp"] for r in out["history"]] == ["2026-11-22T10:00:00Z", "2026-11-21T10:00:00Z"]
    assert [r["alert"] for r in out["history"]] == [False, False]
    everything = cli("monitor", "history", "--json").json()["history"]
    assert everything[0]["device_id"] == "ptz-2" and everything[0]["failure_logs"] == "camera unreachable"
    assert cli("monitor", "history", "--json", "--device", "other").json()["count"] == 1
    human = cli("monitor", "history")
    assert human.code == 0 and "camera unreachable" in human.out and "failed" in human.out
    bad = cli("monitor", "history", "--device", "a/b/c")
    assert bad.code == 2 and "DEPLOYMENT/CAMERA" in bad.err


def test_help_shows_the_contract(cli, config):
    res = cli("monitor", "run", "--help")
    assert res.code == 0
    for option in ("--device", "--stabilize-time", "--timeout", "--active", "--shard"):
        assert option in res.out
