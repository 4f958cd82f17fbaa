"""`camdeck monitor history --source athena`: the fleet's history read through Athena (issue 13, item 5).

Against a real moto server over HTTP. moto runs no SQL: it records each statement and answers
GetQueryResults from a queue that its own API fills (/moto-api/static/athena/query-results). So the
test checks both halves: the SELECT camdeck sends (filters, order, limit), and that the rows Athena
would return for it (text values, a header row, NULLs as missing values) come back as the
history the local database would show.
"""
from __future__ import annotations

import json
import urllib.request

import pytest

from camdeck.monitoring.cloud import CloudStore
from camdeck.monitoring.history import RESULT_COLUMNS, MonitoringRecord
from camdeck.monitoring.settings import StorageSettings
from tests.conftest import free_port
from tests.monitoring.test_spool import athena_endpoint  # noqa: F401  (a moto server process of its own)

BUCKET = "camdeck-history-test"

DATABASE = "fleet_history"

RECORDS = (
    MonitoringRecord(deployment="site-a", device_id="ptz-1", timestamp="2026-11-21T11:00:00Z", pitch_offset_deg=0.71,
                     yaw_offset_deg=-0.02, roll_offset_deg=0.01, mode="passive",
                     capture_positions=({"pan_deg": 0.0, "tilt_deg": 0.0, "zoom": 0.0},),
                     files_location="s3://b/site-a/ptz-1/query_scan/20261121T110000Z/", success=True,
                     frames=1, inliers=812, confidence=0.93),
    MonitoringRecord(deployment="site-a", device_id="ptz-1", timestamp="2026-11-21T10:00:00Z", mode="active",
                     success=False, failure_logs="ptz-1: not stable within 30 s"),
)


def _athena_text(record: MonitoringRecord) -> list[dict]:
    """The row as Athena returns it: every value text, timestamps without the T, NULL as no value."""
    out = []
    for name, _ in RESULT_COLUMNS:
        value = getattr(record, name)
        if value is None:
            out.append({})
        elif name == "timestamp":
            out.append({"VarCharValue": value.replace("T", " ").replace("Z", ".000")})
        elif name == "success":
            out.append({"VarCharValue": "true" if value else "false"})
        elif name == "capture_positions":
            out.append({"VarCharValue": json.dumps([dict(p) for p in value])})
        else:
            out.append({"VarCharValue": str(value)})
    return out


def _queue_result(endpoint: str, records) -> None:
    header = {"Data": [{"VarCharValue": name} for name, _ in RESULT_COLUMNS]}
    body = {"results": [{"rows": [header] + [{"Data": _athena_text(r)} for r in records],
                         "column_info": [{"Name": name, "Type": "varchar"} for name, _ in RESULT_COLUMNS]}]}
    request = urllib.request.Request(f"{endpoint}/moto-api/static/athena/query-results",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 201


def _config(workdir, *, athena: bool = True) -> None:
    storage = (f'athena_database = "{DATABASE}"\nathena_output = "s3://{BUCKET}/athena-results/"\n'
               f's3_bucket = "{BUCKET}"\n' if athena else "")
    (workdir / "config.toml").write_text(
        '[deployments.site-a]\n\n[cameras.ptz-1]\ndriver = "sim"\nmodel = "PTZ"\ndeployment = "site-a"\n\n'
        f"[storage]\nhistory_db = \"history.sqlite\"\n{storage}")


def test_history_from_athena_shows_every_shards_rows(cli, workdir, athena_endpoint, monkeypatch):  # noqa: F811
    import boto3

    endpoint = athena_endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", endpoint)
    store = CloudStore(StorageSettings(s3_bucket=BUCKET, athena_database=DATABASE,
                                       athena_output=f"s3://{BUCKET}/athena-results/"), workdir / "shard-0",
                       wait=lambda s: None)
    for record in RECORDS:                        # what two shards inserted
        assert store.record_result(record)
    _queue_result(endpoint, RECORDS)
    _config(workdir)
    res = cli("monitor", "history", "--source", "athena", "--json", "--device", "site-a/ptz-1", "--limit", "5")
    assert res.code == 0, res.out + res.err
    out = res.json()
    assert out["source"] == "athena" and out["count"] == 2
    newest, older = out["history"]
    assert (newest["timestamp"], newest["pitch_offset_deg"], newest["inliers"], newest["success"]) == \
        ("2026-11-21T11:00:00Z", 0.71, 812, True)
    assert newest["alert"] is True and newest["capture_positions"] == [{"pan_deg": 0.0, "tilt_deg": 0.0, "zoom": 0.0}]
    assert newest["notified"] is None                        # a local-only column: unknown from Athena
    assert (older["success"], older["pitch_offset_deg"], older["failure_logs"], older["mode"]) == \
        (False, None, "ptz-1: not stable within 30 s", "active")
    athena = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1")
    queries = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]
               for i in athena.list_query_executions()["QueryExecutionIds"]]
    [select] = [q for q in queries if q["Query"].startswith("SELECT")]
    assert select["QueryExecutionContext"]["Database"] == DATABASE
    assert select["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{BUCKET}/athena-results/")
    sql = select["Query"]
    assert f'FROM "{DATABASE}"."monitoring"' in sql and "\"deployment\" = 'site-a'" in sql
    assert "\"device_id\" = 'ptz-1'" in sql and sql.endswith('ORDER BY "timestamp" DESC, "deployment", "device_id" LIMIT 5')
    # the human table reads the same rows
    _queue_result(endpoint, RECORDS)
    table = cli("monitor", "history", "--source", "athena", "--device", "site-a")
    assert table.code == 0 and "ALERT" in table.out and "failed" in table.out and "not stable" in table.out


def test_athena_history_needs_athena_and_says_so(cli, workdir):
    _config(workdir, athena=False)
    res = cli("monitor", "history", "--source", "athena")
    assert res.code == 2 and "storage.athena_database" in res.err and "fix:" in res.err
    assert "Traceback" not in res.err
    bad = cli("monitor", "history", "--source", "s3")
    assert bad.code == 2 and "--source local or --source athena" in bad.err


def test_unreachable_athena_is_one_line_and_exit_1(cli, workdir, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", f"http://127.0.0.1:{free_port()}")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    _config(workdir)
    res = cli("monitor", "history", "--source", "athena")
    assert res.code == 1 and "Athena" in res.err and "Traceback" not in res.err
    assert len([line for line in res.err.splitlines() if line.strip()]) == 1


@pytest.mark.parametrize("value", ["not-a-time", ""])
def test_a_row_that_is_not_camdecks_is_a_clear_error(value):
    from camdeck.monitoring.cloud_history import record_from_athena
    from camdeck.monitoring.errors import CloudError

    with pytest.raises(CloudError, match="storage.athena_table"):
        record_from_athena({"deployment": "a", "device_id": "b", "timestamp": value})
