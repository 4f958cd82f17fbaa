"""No fleet result is dropped (issue 13, items 3 and 5): Slack refusing a report, a history that
cannot be written. The cameras are the simulator behind ONVIF + MQTT (tests/monitoring/test_fleet's
rig), Slack is a local server answering as Slack.
"""
from __future__ import annotations

import json

import pytest

from camdeck.monitoring.history import HistoryStore
from camdeck.monitoring.notify import ALERT_MARK, DELAYED_MARK
from camdeck.drivers.sim.ptz_state import Bump, write_bump
from tests.monitoring.test_fleet import fleet, rig, write_config  # noqa: F401  (fixtures)
from tests.monitoring.test_notify import FakeSlack


def _spooled(data, kind: str) -> list[dict]:
    entries = [json.loads(p.read_text()) for p in sorted((data / "spool").glob("*.json"))]
    return [e for e in entries if e["kind"] == kind]


@pytest.mark.parametrize("fault", ["429", "ok-false"])
def test_a_report_slack_refuses_is_in_the_json_the_history_and_the_spool(cli, rig, fleet, tmp_path,  # noqa: F811
                                                                        fault):
    write_bump(rig.sim_dir, "ptz-1", Bump(yaw_deg=0.7))
    with FakeSlack() as slack:
        slack.answer_status, slack.answer_error = (429, "") if fault == "429" else (200, "ratelimited")
        config = write_config(tmp_path / "fleet.toml", rig, slack_url=slack.url + "/api")
        res = cli("monitor", "run", "--json", "--device", "site-a/ptz-1", "--config", config, "--data-dir", fleet)
        assert res.code == 0, res.err
        [row] = res.json()["devices"]
        assert row["success"] is True and row["alert"] is True
        assert row["notified"] is False and "ratelimited" in row["notify_error"] and "spool" in row["notify_error"]
        [stored] = HistoryStore(fleet / "history.sqlite").query()
        assert stored.notified is False and "ratelimited" in stored.notify_error
        [waiting] = _spooled(fleet, "slack")
        assert waiting["text"].startswith(ALERT_MARK) and "yaw +0.7" in waiting["text"]
        # Slack answers again: the next run posts the held report first, marked delayed, then its own.
        slack.answer_status, slack.answer_error = 200, ""
        slack.requests.clear()
        res = cli("monitor", "run", "--json", "--device", "site-a/ptz-1", "--config", config, "--data-dir", fleet)
    assert res.code == 0 and res.json()["devices"][0]["notified"] is True
    assert res.json()["spool"]["slack"] == 1
    first, second = (r["body"]["text"] for r in slack.requests)
    assert first.startswith(DELAYED_MARK + " delayed: this report of " + stored.timestamp)
    assert ALERT_MARK in first and second.startswith(ALERT_MARK) and not second.startswith(DELAYED_MARK)
    assert not _spooled(fleet, "slack")
    assert [r.notified for r in HistoryStore(fleet / "history.sqlite").query()] == [True, True]


def test_an_unwritable_history_fails_the_run_and_the_result_waits_in_the_spool(cli, rig, fleet, tmp_path):  # noqa: F811
    broken = tmp_path / "history.txt"
    broken.write_text("not a database: an operator's notes\n" * 50)
    good = write_config(tmp_path / "fleet.toml", rig)
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('history_db = "history.sqlite"', f'history_db = "{broken}"'))
    res = cli("monitor", "run", "--json", "--device", "site-b/ptz-2", "--config", bad, "--data-dir", fleet)
    assert res.code == 1, res.out + res.err
    out = res.json()
    [row] = out["devices"]
    assert out["failed"] == 1 and row["success"] is False
    assert str(broken) in row["error"] and "not a usable SQLite database" in row["error"]
    assert "waits in the spool" in row["error"] and row["pitch_deg"] is not None       # measured, not stored
    [waiting] = _spooled(fleet, "history")
    assert waiting["record"]["device_id"] == "ptz-2" and waiting["record"]["success"] is True
    assert broken.read_text().startswith("not a database")                               # left as it was
    # The history works again: the next run stores the held row first, then its own.
    res = cli("monitor", "run", "--json", "--device", "site-b/ptz-2", "--config", good, "--data-dir", fleet)
    assert res.code == 0, res.out + res.err
    assert res.json()["spool"]["history"] == 1
    rows = HistoryStore(fleet / "history.sqlite").query()
    assert len(rows) == 2 and all(r.success for r in rows)
    assert rows[1].timestamp == waiting["record"]["timestamp"]
    assert rows[1].pitch_offset_deg == pytest.approx(row["pitch_deg"])
    assert not _spooled(fleet, "history")
