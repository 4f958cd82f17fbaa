"""Athena SQL for the monitoring table: the Iceberg table's DDL and one INSERT per result.

The columns and their order come from monitoring.history (``RESULT_COLUMNS``; the local-only ones stay out); values are written as
SQL literals (text quoted, control characters dropped, NaN/inf as NULL, timestamps in UTC), and
database and table names are checked to be plain Athena identifiers before they go into SQL.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from camdeck.monitoring.errors import MonitoringInputError
from camdeck.monitoring.history import RESULT_COLUMNS as COLUMNS, MonitoringRecord

ATHENA_TYPES = {"TEXT": "string", "REAL": "double", "INTEGER": "int"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def athena_table_ddl(database: str, table: str, location: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the monitoring table as an Iceberg table.

    Args:
        database, table: Athena identifiers (letters, digits, underscore).
        location: the table's s3:// folder (ends with '/').
    """
    _check_ident(database, "storage.athena_database")
    _check_ident(table, "storage.athena_table")
    cols = []
    for name, kind in COLUMNS:
        athena_type = "timestamp" if name == "timestamp" else (
            "boolean" if name == "success" else ATHENA_TYPES[kind.split()[0]])
        cols.append(f"  `{name}` {athena_type}")
    return (f"CREATE TABLE IF NOT EXISTS `{database}`.`{table}` (\n" + ",\n".join(cols) + "\n)\n"
            "PARTITIONED BY (`deployment`)\n"
            f"LOCATION '{_sql_text(location)}'\n"
            "TBLPROPERTIES ('table_type'='ICEBERG')")


def athena_insert_sql(database: str, table: str, record: MonitoringRecord) -> str:
    """One ``INSERT INTO ... VALUES`` for ``record`` (Trino DML: identifiers in double quotes)."""
    _check_ident(database, "storage.athena_database")
    _check_ident(table, "storage.athena_table")
    names = ", ".join(f'"{name}"' for name, _ in COLUMNS)
    values = ", ".join(_sql_value(name, getattr(record, name)) for name, _ in COLUMNS)
    return f'INSERT INTO "{database}"."{table}" ({names}) VALUES ({values})'


def _sql_value(name: str, value: Any) -> str:
    if value is None:
        return "NULL"
    if name == "timestamp":
        return f"TIMESTAMP '{_athena_timestamp(value)}'"
    if name == "success":
        return "true" if value else "false"
    if name == "capture_positions":
        return "'" + _sql_text(json.dumps([dict(p) for p in value], separators=(",", ":"))) + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "NULL"
        return repr(float(value))
    return "'" + _sql_text(str(value)) + "'"


def _sql_text(text: str) -> str:
    # SQL string literal body: quotes doubled; control characters (bar newline/tab) dropped.
    cleaned = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
    return cleaned.replace("'", "''")


def _athena_timestamp(iso: str) -> str:
    try:
        stamp = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        raise MonitoringInputError(f"history record: timestamp {iso!r} is not ISO 8601",
                                   "write it as 2026-11-21T10:00:00Z") from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")


def _check_ident(name: str, key: str) -> None:
    if not _IDENT.fullmatch(name or ""):
        raise MonitoringInputError(f"{key} {name!r}: not an Athena name",
                                   "use letters, digits and underscores, starting with a letter")


def athena_select_sql(database: str, table: str, deployment: str | None = None, device_id: str | None = None,
                      limit: int | None = None) -> str:
    """``SELECT`` of the monitoring table's columns, newest first, for ``camdeck monitor history --source athena``.

    Args:
        database, table: Athena identifiers.
        deployment, device_id: keep only this deployment / camera (None: all); quoted as SQL text.
        limit: at most this many rows (None: all).
    """
    _check_ident(database, "storage.athena_database")
    _check_ident(table, "storage.athena_table")
    names = ", ".join(f'"{name}"' for name, _ in COLUMNS)
    where = [f'"{column}" = \'{_sql_text(value)}\'' for column, value in (("deployment", deployment),
                                                                          ("device_id", device_id)) if value]
    sql = f'SELECT {names} FROM "{database}"."{table}"'
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += ' ORDER BY "timestamp" DESC, "deployment", "device_id"'
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql
