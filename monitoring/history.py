"""Monitoring history: one row per device per fleet run, in SQLite (the embedded default).

The table ``monitoring`` holds what a run found for one camera: deployment, device_id,
timestamp (ISO 8601 UTC), the pitch/yaw/roll offsets in degrees (NULL when the run failed),
mode ("passive" | "active"), capture_positions (JSON list of {pan_deg, tilt_deg, zoom}),
files_location (an s3:// URI or a local folder), success and failure_logs.

Creation is safe to repeat and to run against an older file: missing columns are added,
nothing is dropped. Every call opens its own connection, so a TUI worker and the UI thread
can read and write the same file.
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from camdeck.monitoring.errors import HistoryError, MonitoringInputError

SCHEMA_VERSION = 1
TABLE = "monitoring"

# column -> SQLite type; the order is the table's order. RESULT_COLUMNS are also Athena's
# (monitoring.athena_sql); LOCAL_COLUMNS are this file's only (an Iceberg table made by an
# earlier camdeck lacks them, and an INSERT naming them would fail there).
RESULT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("deployment", "TEXT NOT NULL"),
    ("device_id", "TEXT NOT NULL"),
    ("timestamp", "TEXT NOT NULL"),
    ("pitch_offset_deg", "REAL"),
    ("yaw_offset_deg", "REAL"),
    ("roll_offset_deg", "REAL"),
    ("mode", "TEXT NOT NULL DEFAULT 'passive'"),
    ("capture_positions", "TEXT NOT NULL DEFAULT '[]'"),
    ("files_location", "TEXT NOT NULL DEFAULT ''"),
    ("success", "INTEGER NOT NULL DEFAULT 0"),
    ("failure_logs", "TEXT NOT NULL DEFAULT ''"),
    ("frames", "INTEGER"),
    ("inliers", "INTEGER"),
    ("confidence", "REAL"),
)
LOCAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("notified", "INTEGER"),            # 1: the Slack report went out, 0: it did not, NULL: unknown
    ("notify_error", "TEXT NOT NULL DEFAULT ''"),
)
COLUMNS = RESULT_COLUMNS + LOCAL_COLUMNS
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
NUMERIC_FIELDS: tuple[tuple[str, type], ...] = (
    ("pitch_offset_deg", float), ("yaw_offset_deg", float), ("roll_offset_deg", float),
    ("frames", int), ("inliers", int), ("confidence", float))


def utc_now_iso() -> str:
    """Now, as ISO 8601 UTC with a trailing Z and whole seconds (``2026-11-21T10:00:00Z``)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class MonitoringRecord:
    """One fleet-run result for one camera.

    Attributes:
        deployment: the deployment's name.
        device_id: the camera's configured name.
        timestamp: ISO 8601 UTC (``2026-11-21T10:00:00Z``).
        pitch_offset_deg, yaw_offset_deg, roll_offset_deg: the mount offset ΔR (docs/design.md),
            degrees; None when the run failed.
        mode: "passive" (wait for stability) or "active" (drive to stops).
        capture_positions: the query frames' positions, dicts with pan_deg, tilt_deg, zoom.
        files_location: where the query scan went (s3://... or a local folder).
        success: the run produced offsets.
        failure_logs: why it failed (one paragraph, no secrets), "" on success.
        frames, inliers, confidence: how much evidence the offsets rest on (None on failure).
        notified: the Slack report went out (None: not known, e.g. a row read from Athena).
        notify_error: why it did not ("" when it did); the report then waits in the spool.
        id: the row id once stored.
    """

    deployment: str
    device_id: str
    timestamp: str
    pitch_offset_deg: float | None = None
    yaw_offset_deg: float | None = None
    roll_offset_deg: float | None = None
    mode: str = "passive"
    capture_positions: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    files_location: str = ""
    success: bool = False
    failure_logs: str = ""
    frames: int | None = None
    inliers: int | None = None
    confidence: float | None = None
    notified: bool | None = None
    notify_error: str = ""
    id: int | None = None

    @property
    def offsets_deg(self) -> tuple[float, float, float] | None:
        """(pitch, yaw, roll) in degrees, or None when the run produced none."""
        if None in (self.pitch_offset_deg, self.yaw_offset_deg, self.roll_offset_deg):
            return None
        return (float(self.pitch_offset_deg), float(self.yaw_offset_deg), float(self.roll_offset_deg))

    def max_abs_offset_deg(self) -> float | None:
        """The largest |offset| over the three axes, degrees (None on a failed run)."""
        offsets = self.offsets_deg
        return None if offsets is None else max(abs(v) for v in offsets)

    def is_alert(self, threshold_deg: float) -> bool:
        """True when any |offset| exceeds ``threshold_deg`` (a failed run is not an offset alert)."""
        worst = self.max_abs_offset_deg()
        return worst is not None and worst > threshold_deg

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (capture_positions as a list, success as bool)."""
        out = {name: getattr(self, name) for name in ("id",) + COLUMN_NAMES}
        out["capture_positions"] = [dict(p) for p in self.capture_positions]
        out["success"] = bool(self.success)
        out["notified"] = None if self.notified is None else bool(self.notified)
        return out


class HistoryStore:
    """The SQLite history file. Cheap to build; each call opens and closes its own connection.

    Args:
        path: the database file; its folder is created on first use.

    Raises (from every method):
        HistoryError: the file cannot be opened or is not a SQLite database.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False

    @classmethod
    def from_settings(cls, storage, data_dir: str | Path) -> "HistoryStore":
        """The store at ``storage.history_db``, relative to ``data_dir`` unless absolute."""
        return cls(history_path(storage, data_dir))

    # ---------------------------------------------------------------- connection

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30.0)
        except (OSError, sqlite3.Error) as err:
            raise HistoryError(f"history {self.path}: cannot be opened ({err})",
                               "check storage.history_db and that data_dir is writable") from None
        conn.row_factory = sqlite3.Row
        if not self._ready:
            try:
                self._create(conn)
            except sqlite3.DatabaseError as err:
                conn.close()
                raise HistoryError(f"history {self.path}: not a usable SQLite database ({err})",
                                   "move the file away (a new one is created) or point "
                                   "storage.history_db at another file") from None
            self._ready = True
        return conn

    def _create(self, conn: sqlite3.Connection) -> None:
        cols = ",\n  ".join(f"{name} {kind}" for name, kind in COLUMNS)
        with conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  {cols}\n)")
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
            for name, kind in COLUMNS:
                if name not in have:
                    # An older file: add the column; NOT NULL columns all carry defaults.
                    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind}")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_device_time "
                         f"ON {TABLE} (deployment, device_id, timestamp)")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ---------------------------------------------------------------- writes

    def add(self, record: MonitoringRecord) -> int:
        """Store one result; returns its row id."""
        _check_record(record)
        values = _to_row(record)
        marks = ", ".join("?" for _ in COLUMN_NAMES)
        conn = self._connect()
        try:
            with conn:
                cur = conn.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMN_NAMES)}) VALUES ({marks})", values)
            return int(cur.lastrowid)
        except sqlite3.Error as err:
            raise HistoryError(f"history {self.path}: cannot store the result ({err})",
                               "check the disk space and the file's permissions") from None
        finally:
            conn.close()

    def mark_notified(self, deployment: str, device_id: str, timestamp: str) -> int:
        """Record that a report held back earlier has now reached Slack; returns the rows changed."""
        conn = self._connect()
        try:
            with conn:
                cur = conn.execute(f"UPDATE {TABLE} SET notified = 1, notify_error = '' WHERE deployment = ? "
                                   "AND device_id = ? AND timestamp = ? AND notified = 0",
                                   (deployment, device_id, timestamp))
            return int(cur.rowcount)
        except sqlite3.Error as err:
            raise HistoryError(f"history {self.path}: cannot store the result ({err})",
                               "check the disk space and the file's permissions") from None
        finally:
            conn.close()

    # ---------------------------------------------------------------- reads

    def query(self, deployment: str | None = None, device_id: str | None = None,
              limit: int | None = None, since: str | None = None) -> list[MonitoringRecord]:
        """Results, newest first.

        Args:
            deployment, device_id: keep only this deployment / camera (None: all).
            limit: at most this many rows (None: all).
            since: keep rows with timestamp >= this ISO 8601 UTC string.
        """
        where, args = [], []
        for column, value in (("deployment", deployment), ("device_id", device_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("timestamp >= ?")
            args.append(since)
        sql = f"SELECT * FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY timestamp DESC, id DESC"
        if limit is not None:
            if limit < 1:
                raise MonitoringInputError(f"--limit {limit}: must be at least 1", "pass --limit 1 or more")
            sql += " LIMIT ?"
            args.append(int(limit))
        conn = self._connect()
        try:
            rows = conn.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise HistoryError(f"history {self.path}: cannot be read ({err})",
                               "move the file away (a new one is created)") from None
        finally:
            conn.close()
        return [_from_row(row) for row in rows]

    def devices(self) -> list[tuple[str, str]]:
        """Every (deployment, device_id) that has a row, sorted."""
        conn = self._connect()
        try:
            rows = conn.execute(f"SELECT DISTINCT deployment, device_id FROM {TABLE} "
                                "ORDER BY deployment, device_id").fetchall()
        except sqlite3.Error as err:
            raise HistoryError(f"history {self.path}: cannot be read ({err})",
                               "move the file away (a new one is created)") from None
        finally:
            conn.close()
        return [(r[0], r[1]) for r in rows]

    def latest(self, deployment: str, device_id: str) -> MonitoringRecord | None:
        """The newest result of one camera, or None."""
        rows = self.query(deployment, device_id, limit=1)
        return rows[0] if rows else None


def history_path(storage, data_dir: str | Path) -> Path:
    """``storage.history_db`` resolved against ``data_dir`` (absolute paths stay as they are)."""
    path = Path(storage.history_db).expanduser()
    return path if path.is_absolute() else Path(data_dir) / path


def _check_record(record: MonitoringRecord) -> None:
    if not record.deployment or not record.device_id:
        raise MonitoringInputError("history record: deployment and device_id must not be empty",
                                   "name the deployment and the camera")
    if record.mode not in ("passive", "active"):
        raise MonitoringInputError(f"history record: mode {record.mode!r} is not 'passive' or 'active'",
                                   "pass mode='passive' or mode='active'")


def _to_row(record: MonitoringRecord) -> tuple:
    out = []
    for name in COLUMN_NAMES:
        value = getattr(record, name)
        if name == "capture_positions":
            value = json.dumps([dict(p) for p in value], separators=(",", ":"))
        elif name == "success":
            value = 1 if value else 0
        elif name == "notified":
            value = None if value is None else int(bool(value))
        elif name.endswith("_deg") or name == "confidence":
            value = None if value is None else float(value)
        out.append(value)
    return tuple(out)


def _number(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (float or int), None for NULL; raises ValueError when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError
    number = float(value)
    if not math.isfinite(number) or (kind is int and not number.is_integer()):
        raise ValueError
    return int(number) if kind is int else number


def _from_row(row: sqlite3.Row) -> MonitoringRecord:
    """A stored row as a record. SQLite keeps whatever a column is given, so a row edited by hand
    or written by another tool may hold text where a number belongs: such a field reads as
    missing, and the row as a failed run saying which field is damaged (the fleet table and the
    alerts then show it instead of failing on it)."""
    data = {name: row[name] for name in COLUMN_NAMES}
    try:
        positions = json.loads(data["capture_positions"] or "[]")
    except ValueError:
        positions = []
    data["capture_positions"] = tuple(p for p in (positions if isinstance(positions, list) else [])
                                      if isinstance(p, dict))
    damaged = []
    for name, kind in NUMERIC_FIELDS:
        try:
            data[name] = _number(data[name], kind)
        except (ValueError, OverflowError):
            damaged.append(f"{name} = {str(data[name])[:40]!r}")
            data[name] = None
    for name in ("deployment", "device_id", "timestamp", "mode", "files_location", "failure_logs", "notify_error"):
        data[name] = "" if data[name] is None else str(data[name])
    data["success"] = bool(data["success"]) and not damaged
    data["notified"] = None if data["notified"] is None else bool(data["notified"])
    if damaged:
        note = f"stored row {row['id']} is damaged: {', '.join(damaged)} (not a number)"
        data["failure_logs"] = f"{data['failure_logs']}; {note}" if data["failure_logs"] else note
    return MonitoringRecord(id=row["id"], **data)


def record_from_dict(data: Mapping[str, Any]) -> MonitoringRecord:
    """The inverse of ``MonitoringRecord.to_dict`` (a spooled row); unknown keys are ignored."""
    fields = {name: data[name] for name in COLUMN_NAMES if name in data}
    fields["capture_positions"] = tuple(dict(p) for p in fields.get("capture_positions") or ())
    return MonitoringRecord(**fields)


def records_to_dicts(records: Iterable[MonitoringRecord]) -> list[dict[str, Any]]:
    """JSON-ready dicts for a list of results."""
    return [r.to_dict() for r in records]
