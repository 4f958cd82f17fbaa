"""History on a real SQLite file: what a fleet run stores is what `monitor history` reads back."""
from __future__ import annotations

import sqlite3

import pytest

from camdeck.monitoring.errors import HistoryError, MonitoringInputError
from camdeck.monitoring.history import HistoryStore, MonitoringRecord, history_path
from camdeck.monitoring.settings import StorageSettings


def _record(device="ptz-1", ts="2026-11-21T10:00:00Z", pitch=0.1, yaw=-0.2, roll=0.05, success=True, **kw):
    return MonitoringRecord(deployment="sim-site", device_id=device, timestamp=ts,
                            pitch_offset_deg=pitch if success else None, yaw_offset_deg=yaw if success else None,
                            roll_offset_deg=roll if success else None, mode="passive",
                            capture_positions=({"pan_deg": 10.0, "tilt_deg": 5.0, "zoom": 0.0},),
                            files_location="s3://bucket/sim-site/ptz-1/query_scan/20261121T100000Z/",
                            success=success, **kw)


def test_a_stored_result_reads_back_field_for_field(tmp_path):
    store = HistoryStore(tmp_path / "h" / "history.sqlite")
    row_id = store.add(_record(frames=3, inliers=900, confidence=0.97))
    [back] = store.query()
    assert back.id == row_id
    assert back.deployment == "sim-site" and back.device_id == "ptz-1"
    assert back.offsets_deg == pytest.approx((0.1, -0.2, 0.05))
    assert back.capture_positions == ({"pan_deg": 10.0, "tilt_deg": 5.0, "zoom": 0.0},)
    assert back.success is True and back.failure_logs == ""
    assert (back.frames, back.inliers, back.confidence) == (3, 900, pytest.approx(0.97))
    assert (tmp_path / "h" / "history.sqlite").is_file()


def test_a_failed_run_is_stored_with_its_reason_and_no_offsets(tmp_path):
    store = HistoryStore(tmp_path / "history.sqlite")
    store.add(_record(success=False, failure_logs="reference scan missing"))
    [back] = store.query()
    assert back.success is False and back.offsets_deg is None
    assert back.failure_logs == "reference scan missing"
    assert not back.is_alert(0.5)


def test_a_row_edited_by_hand_reads_as_a_failed_run_naming_the_damaged_field(tmp_path):
    """SQLite stores whatever a column is given: text in an offset (a hand edit, another tool)
    used to reach float() in the Monitoring tab and the alerts and crash them."""
    from camdeck.monitoring.history import TABLE

    store = HistoryStore(tmp_path / "history.sqlite")
    store.add(_record(device="bad", frames=3, inliers=900, confidence=0.9))
    store.add(_record(device="fine", ts="2026-11-21T09:00:00Z", frames=3))
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        db.execute(f"UPDATE {TABLE} SET pitch_offset_deg = 'abc', inliers = '12.5', confidence = '0.75' "
                   "WHERE device_id = 'bad'")
    bad, fine = store.query()
    assert bad.device_id == "bad" and bad.success is False and bad.offsets_deg is None
    assert bad.pitch_offset_deg is None and bad.inliers is None and bad.confidence == pytest.approx(0.75)
    assert "pitch_offset_deg = 'abc'" in bad.failure_logs and "inliers = '12.5'" in bad.failure_logs
    assert not bad.is_alert(0.0) and bad.max_abs_offset_deg() is None
    assert fine.success is True and fine.offsets_deg == pytest.approx((0.1, -0.2, 0.05))


def test_query_filters_orders_newest_first_and_limits(tmp_path):
    store = HistoryStore(tmp_path / "history.sqlite")
    for i in range(5):
        store.add(_record(ts=f"2026-11-2{i}T10:00:00Z", pitch=float(i)))
    store.add(_record(device="ptz-2", ts="2026-11-30T10:00:00Z"))
    rows = store.query(device_id="ptz-1", limit=3)
    assert [r.pitch_offset_deg for r in rows] == [4.0, 3.0, 2.0]
    assert len(store.query()) == 6
    assert store.devices() == [("sim-site", "ptz-1"), ("sim-site", "ptz-2")]
    assert store.latest("sim-site", "ptz-2").device_id == "ptz-2"
    assert [r.pitch_offset_deg for r in store.query(device_id="ptz-1", since="2026-11-23T00:00:00Z")] == [4.0, 3.0]
    with pytest.raises(MonitoringInputError):
        store.query(limit=0)


def test_alert_is_any_axis_over_the_threshold():
    assert _record(pitch=0.0, yaw=-0.51, roll=0.0).is_alert(0.5)
    assert not _record(pitch=0.49, yaw=-0.49, roll=0.5).is_alert(0.5)


def test_an_older_file_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE monitoring (id INTEGER PRIMARY KEY AUTOINCREMENT, deployment TEXT NOT NULL, "
                     "device_id TEXT NOT NULL, timestamp TEXT NOT NULL, pitch_offset_deg REAL, yaw_offset_deg REAL, "
                     "roll_offset_deg REAL, success INTEGER NOT NULL DEFAULT 0)")
        conn.execute("INSERT INTO monitoring (deployment, device_id, timestamp, pitch_offset_deg, yaw_offset_deg, "
                     "roll_offset_deg, success) VALUES ('old', 'cam', '2025-01-01T00:00:00Z', 1, 2, 3, 1)")
    store = HistoryStore(path)
    store.add(_record())
    rows = store.query()
    assert [r.deployment for r in rows] == ["sim-site", "old"]
    assert rows[1].offsets_deg == (1.0, 2.0, 3.0) and rows[1].mode == "passive"


def test_a_file_that_is_not_sqlite_is_reported_with_the_fix(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError) as err:
        HistoryStore(path).query()
    assert str(path) in str(err.value) and "fix:" in str(err.value)


def test_history_db_is_relative_to_data_dir(tmp_path):
    assert history_path(StorageSettings(history_db="h.sqlite"), tmp_path) == tmp_path / "h.sqlite"
    absolute = tmp_path / "elsewhere.sqlite"
    assert history_path(StorageSettings(history_db=str(absolute)), "/nowhere") == absolute
