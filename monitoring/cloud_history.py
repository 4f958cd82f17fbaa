"""Fleet history from Athena: what every shard inserted, for ``camdeck monitor history --source athena``.

With history on pod-local storage (the README's Kubernetes set-up) each pod's SQLite file
holds only its own rows; the Athena table (monitoring.cloud, monitoring.athena_sql) holds the
fleet's. This reads it back as ``MonitoringRecord`` values, newest first: one SELECT through
the configured workgroup and output location, its result pages read with GetQueryResults.

Athena returns every value as text: timestamps as ``2026-11-21 10:00:00.000`` (UTC, given back
as ``2026-11-21T10:00:00Z``), booleans as ``true``/``false``, NULL as a missing value. The
columns kept only in the local history (``notified``, ``notify_error``) are not in Athena and
come back as unknown (None / "").
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from camdeck.monitoring.athena_sql import athena_select_sql
from camdeck.monitoring.errors import CloudError, MonitoringInputError
from camdeck.monitoring.history import RESULT_COLUMNS, MonitoringRecord

_INTS = {"frames", "inliers"}
_FLOATS = {"pitch_offset_deg", "yaw_offset_deg", "roll_offset_deg", "confidence"}


def athena_history(store, deployment: str | None = None, device_id: str | None = None,
                   limit: int | None = None) -> list[MonitoringRecord]:
    """The fleet's results from the Athena table, newest first.

    Args:
        store: a ``CloudStore`` (its Athena client, workgroup, output location and poll loop).
        deployment, device_id: keep only this deployment / camera (None: all).
        limit: at most this many rows (None: all).
    Raises:
        MonitoringInputError: Athena is not configured, or ``limit`` < 1.
        CloudError: Athena refused or failed the query, or could not be reached.
    """
    if not store.athena_enabled:
        raise MonitoringInputError("--source athena: storage.athena_database is empty",
                                   "set storage.athena_database (and athena_output or athena_workgroup), "
                                   "or read the local history: --source local")
    if limit is not None and limit < 1:
        raise MonitoringInputError(f"--limit {limit}: must be at least 1", "pass --limit 1 or more")
    storage = store.storage
    sql = athena_select_sql(storage.athena_database, storage.athena_table, deployment, device_id, limit)
    exec_id = store._run_athena(sql)
    return [record_from_athena(row) for row in _result_rows(store._client("athena"), exec_id)]


def _result_rows(client, exec_id: str) -> list[dict[str, str | None]]:
    """Every row of a finished query as {column: text or None}, the header row left out."""
    rows: list[dict[str, str | None]] = []
    names: list[str] = []
    token = None
    first_page = True
    while True:
        args: dict[str, Any] = {"QueryExecutionId": exec_id}
        if token:
            args["NextToken"] = token
        try:
            page = client.get_query_results(**args)
        except Exception as err:
            from camdeck.monitoring.cloud import _describe

            raise CloudError(f"Athena results of the history query unavailable ({_describe(err)})",
                             "check the workgroup's output location and the credentials") from None
        result = page.get("ResultSet", {})
        if not names:
            names = [c.get("Name", "") for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
        data = [[cell.get("VarCharValue") for cell in row.get("Data", [])] for row in result.get("Rows", [])]
        if first_page and data and data[0] == names:      # a SELECT's first row repeats the column names
            data = data[1:]
        first_page = False
        rows.extend(dict(zip(names, values)) for values in data)
        token = page.get("NextToken")
        if not token:
            return rows


def record_from_athena(row: dict[str, str | None]) -> MonitoringRecord:
    """One Athena result row (text values) as a ``MonitoringRecord``.

    Raises:
        CloudError: a required column is missing or a value does not parse (the table is not camdeck's).
    """
    try:
        fields: dict[str, Any] = {}
        for name, _ in RESULT_COLUMNS:
            value = row.get(name)
            if name == "timestamp":
                value = _iso_utc(value or "")
            elif name == "success":
                value = str(value).lower() == "true"
            elif name == "capture_positions":
                value = tuple(json.loads(value or "[]"))
            elif value is None:
                pass
            elif name in _INTS:
                value = int(value)
            elif name in _FLOATS:
                value = float(value)
            fields[name] = "" if value is None and name in ("files_location", "failure_logs") else value
        if not fields.get("deployment") or not fields.get("device_id"):
            raise ValueError("deployment or device_id is empty")
        fields["mode"] = fields.get("mode") or "passive"
        return MonitoringRecord(**fields)
    except (TypeError, ValueError) as err:
        raise CloudError(f"Athena history row unreadable ({err})",
                         "check that storage.athena_table is the table camdeck writes") from None


def _iso_utc(text: str) -> str:
    """``2026-11-21 10:00:00.000`` (Athena, UTC) -> ``2026-11-21T10:00:00Z``."""
    stamp = datetime.fromisoformat(text.strip().replace(" ", "T").replace("Z", "+00:00"))
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return stamp.replace(microsecond=0).isoformat() + "Z"
