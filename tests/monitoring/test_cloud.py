"""S3 uploads, the spool and Athena statements against a real moto server over HTTP on a free port."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from camdeck.monitoring.athena_sql import athena_insert_sql, athena_table_ddl
from camdeck.monitoring.cloud import CloudStore
from camdeck.monitoring.errors import MonitoringInputError
from camdeck.monitoring.history import MonitoringRecord
from camdeck.monitoring.settings import StorageSettings
from tests.conftest import free_port

BUCKET = "camdeck-test"


@pytest.fixture(scope="module")
def moto_server():
    """A moto server (S3, Athena, ...) on 127.0.0.1 and a port the OS picks; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)   # bound by the server: no race
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """Fake credentials, Athena pointed at moto, and a fresh bucket; yields (endpoint, s3 client)."""
    import boto3

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", "us-east-1"),
                       ("AWS_ENDPOINT_URL_ATHENA", moto_server)):
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    yield moto_server, s3
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for obj in listing:
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def make_scan(folder: Path, frames: int = 2) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "features").mkdir()
    for i in range(frames):
        (folder / "images" / f"{i:03d}.png").write_bytes(b"\x89PNG fake image %d" % i)
        (folder / "features" / f"{i:03d}.npz").write_bytes(b"features %d" % i)
    (folder / "manifest.json").write_text(json.dumps({"deployment": "sim-site", "camera": "ptz-1", "frames": []}))
    return folder


def _keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def _record(**kw) -> MonitoringRecord:
    base = dict(deployment="sim-site", device_id="ptz-1", timestamp="2026-11-21T10:00:00Z", pitch_offset_deg=0.12,
                yaw_offset_deg=-1.5, roll_offset_deg=0.0, mode="active",
                capture_positions=({"pan_deg": 0.0, "tilt_deg": 10.0, "zoom": 0.0},),
                files_location="s3://camdeck-test/x/", success=True, failure_logs="")
    base.update(kw)
    return MonitoringRecord(**base)


def test_reference_and_query_scans_land_under_their_documented_keys(aws, tmp_path):
    endpoint, s3 = aws
    store = CloudStore(StorageSettings(s3_bucket=BUCKET, s3_prefix="fleet", s3_endpoint_url=endpoint), tmp_path)
    ref = store.upload_scan(make_scan(tmp_path / "ref"), "sim-site", "ptz-1", "reference")
    query = store.upload_scan(make_scan(tmp_path / "q", frames=1), "sim-site", "ptz-1", "query",
                              timestamp="2026-11-21T10:00:00Z")
    assert (ref.uploaded, ref.spooled, query.uploaded) == (5, 0, 3)
    assert ref.location == f"s3://{BUCKET}/fleet/sim-site/ptz-1/reference_scan/"
    assert query.location == f"s3://{BUCKET}/fleet/sim-site/ptz-1/query_scan/20261121T100000Z/"
    assert _keys(s3) == [
        "fleet/sim-site/ptz-1/query_scan/20261121T100000Z/features/000.npz",
        "fleet/sim-site/ptz-1/query_scan/20261121T100000Z/images/000.png",
        "fleet/sim-site/ptz-1/query_scan/20261121T100000Z/manifest.json",
        "fleet/sim-site/ptz-1/reference_scan/features/000.npz",
        "fleet/sim-site/ptz-1/reference_scan/features/001.npz",
        "fleet/sim-site/ptz-1/reference_scan/images/000.png",
        "fleet/sim-site/ptz-1/reference_scan/images/001.png",
        "fleet/sim-site/ptz-1/reference_scan/manifest.json",
    ]
    body = s3.get_object(Bucket=BUCKET, Key="fleet/sim-site/ptz-1/reference_scan/images/001.png")["Body"].read()
    assert body == b"\x89PNG fake image 1"


def test_unreachable_s3_spools_every_file_and_a_later_run_sends_them(aws, tmp_path):
    endpoint, s3 = aws
    dead = f"http://127.0.0.1:{free_port()}"
    down = CloudStore(StorageSettings(s3_bucket=BUCKET, s3_endpoint_url=dead), tmp_path)
    scan = make_scan(tmp_path / "q")
    result = down.upload_scan(scan, "sim-site", "ptz-1", "query", timestamp="2026-11-21T10:00:00Z")
    assert (result.uploaded, result.spooled) == (0, 5)
    assert "S3 upload" in result.errors[0] and "testing" not in result.errors[0]
    assert down.spool.pending() == 5
    # The scan folder may be cleaned up before the next run: the spool holds its own copies.
    for path in sorted(scan.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    again = down.replay_spool()          # still unreachable: stops at the first failure, loses nothing
    assert (again.sent, again.remaining) == (0, 5)
    up = CloudStore(StorageSettings(s3_bucket=BUCKET, s3_endpoint_url=endpoint), tmp_path)
    replay = up.replay_spool()
    assert (replay.sent, replay.remaining) == (5, 0)
    assert up.spool.pending() == 0 and not list((tmp_path / "spool").glob("*.blob"))
    assert "sim-site/ptz-1/query_scan/20261121T100000Z/manifest.json" in _keys(s3)


def test_athena_gets_the_iceberg_ddl_once_then_one_insert_per_result(aws, tmp_path):
    import boto3

    endpoint, _ = aws
    settings = StorageSettings(s3_bucket=BUCKET, s3_endpoint_url=endpoint, athena_database="camdeck",
                               athena_table="monitoring", athena_output=f"s3://{BUCKET}/athena-results/")
    store = CloudStore(settings, tmp_path, wait=lambda s: None)
    assert store.record_result(_record())
    assert store.record_result(_record(device_id="ptz-2", success=False, pitch_offset_deg=None,
                                       yaw_offset_deg=None, roll_offset_deg=None, failure_logs="it's broken"))
    athena = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1")
    ids = athena.list_query_executions()["QueryExecutionIds"]
    queries = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]
    ddl = [q for q in queries if q.startswith("CREATE TABLE")]
    inserts = [q for q in queries if q.startswith("INSERT INTO")]
    assert len(ddl) == 1 and len(inserts) == 2
    assert "TBLPROPERTIES ('table_type'='ICEBERG')" in ddl[0]
    assert f"LOCATION 's3://{BUCKET}/athena/monitoring/'" in ddl[0]
    assert any("'it''s broken'" in q and "NULL, NULL, NULL" in q for q in inserts)
    assert any("TIMESTAMP '2026-11-21 10:00:00.000000'" in q and "-1.5" in q for q in inserts)


def test_statements_are_well_formed():
    ddl = athena_table_ddl("camdeck", "monitoring", "s3://b/athena/monitoring/")
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS `camdeck`.`monitoring` (")
    for column in ("`deployment` string", "`timestamp` timestamp", "`pitch_offset_deg` double",
                   "`success` boolean", "`inliers` int", "`capture_positions` string"):
        assert column in ddl
    assert ddl.count("(") == ddl.count(")")
    sql = athena_insert_sql("camdeck", "monitoring", _record(failure_logs="a'b\x00c"))
    assert sql.startswith('INSERT INTO "camdeck"."monitoring" ("deployment", "device_id", "timestamp"')
    assert "'a''bc'" in sql and "true" in sql
    assert """'[{"pan_deg":0.0,"tilt_deg":10.0,"zoom":0.0}]'""" in sql
    n_columns = sql.split(" VALUES ")[0].count('", "') + 1
    assert n_columns == 14
    with pytest.raises(MonitoringInputError) as err:
        athena_table_ddl("camdeck; DROP TABLE x", "monitoring", "s3://b/")
    assert "storage.athena_database" in str(err.value)


def test_unreachable_athena_spools_the_insert_and_replays_it(aws, tmp_path, monkeypatch):
    import boto3

    endpoint, _ = aws
    settings = StorageSettings(s3_bucket=BUCKET, athena_database="camdeck_spool",
                               athena_output=f"s3://{BUCKET}/athena-results/")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", f"http://127.0.0.1:{free_port()}")
    assert CloudStore(settings, tmp_path, wait=lambda s: None).record_result(_record(device_id="spooled-cam")) is False
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", endpoint)
    store = CloudStore(settings, tmp_path, wait=lambda s: None)
    assert store.spool.pending() == 1
    assert store.replay_spool().sent == 1 and store.spool.pending() == 0
    athena = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1")
    queries = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]
               for i in athena.list_query_executions()["QueryExecutionIds"]]
    mine = [q for q in queries if q["QueryExecutionContext"].get("Database") == "camdeck_spool"]
    assert sorted(q["Query"].split(" ", 1)[0] for q in mine) == ["CREATE", "INSERT"]
    assert any("'spooled-cam'" in q["Query"] for q in mine)


def test_nothing_configured_means_no_uploads_and_the_local_folder_as_location(tmp_path):
    store = CloudStore(StorageSettings(), tmp_path)
    scan = make_scan(tmp_path / "q")
    result = store.upload_scan(scan, "sim-site", "ptz-1", "query")
    assert (result.uploaded, result.spooled, result.location) == (0, 0, str(scan))
    assert store.record_result(_record()) is False and store.spool.pending() == 0


def test_bad_names_are_refused_before_any_key_is_built(tmp_path):
    store = CloudStore(StorageSettings(s3_bucket=BUCKET), tmp_path)
    with pytest.raises(MonitoringInputError):
        store.key_prefix("../etc", "ptz-1", "query")
    with pytest.raises(MonitoringInputError):
        CloudStore(StorageSettings(athena_database="db"), tmp_path)


# ---------------------------------------------------------------- a full disk under the spool

def _fd_name(fd: int) -> str:
    return Path(os.readlink(f"/proc/self/fd/{fd}")).name


def _full_disk_after(monkeypatch, copies_that_fit: int) -> None:
    """The spool's copy fits ``copies_that_fit`` times; then it writes part of the file and hits ENOSPC."""
    from camdeck.monitoring import spool

    calls = []

    def copy(src, dst):
        calls.append(1)
        if len(calls) <= copies_that_fit:
            dst.write(src.read())
            return
        dst.write(src.read(4))
        dst.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(spool, "_copy_bytes", copy)


def _full_disk_on_entries(monkeypatch) -> None:
    """Blobs fit; every spool entry (.json) hits ENOSPC when it is synced to disk."""
    real_fsync = os.fsync

    def fsync(fd):
        if _fd_name(fd).endswith(".json.tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _spool_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name file descriptors")
def test_spool_writes_the_blob_then_the_entry_each_synced_before_its_rename(tmp_path, monkeypatch):
    from camdeck.monitoring.spool import Spool

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", _fd_name(fd))), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", Path(b).name)), real_replace(a, b))[1])
    src = tmp_path / "000.png"
    src.write_bytes(b"image bytes")
    spool = Spool(tmp_path / "spool")
    entry = spool.put_s3(src, BUCKET, "k/000.png")
    name = entry.stem
    assert events == [("fsync", f".{name}.blob.tmp"), ("rename", f"{name}.blob"), ("fsync", "spool"),
                      ("fsync", f".{name}.json.tmp"), ("rename", f"{name}.json"), ("fsync", "spool")]
    assert (spool.root / f"{name}.blob").read_bytes() == b"image bytes"
    assert spool.load(entry) == {"kind": "s3", "bucket": BUCKET, "key": "k/000.png", "blob": f"{name}.blob"}


@pytest.mark.parametrize("fails", ["blob", "entry"])
def test_a_full_disk_while_spooling_leaves_no_orphan_and_says_what_was_not_kept(aws, tmp_path, monkeypatch,
                                                                                  caplog, fails):
    from camdeck.monitoring.spool import SpoolError

    endpoint, s3 = aws
    dead = f"http://127.0.0.1:{free_port()}"
    store = CloudStore(StorageSettings(s3_bucket=BUCKET, s3_endpoint_url=dead), tmp_path / "data")
    scan = make_scan(tmp_path / "q")
    before = {p: p.read_bytes() for p in scan.rglob("*") if p.is_file()}
    with monkeypatch.context() as patch, pytest.raises(SpoolError) as caught:
        if fails == "blob":
            _full_disk_after(patch, copies_that_fit=2)
        else:
            _full_disk_on_entries(patch)
        store.upload_scan(scan, "sim-site", "ptz-1", "query", timestamp="2026-11-21T10:00:00Z")
    err = caught.value
    kept = 2 if fails == "blob" else 0
    assert (err.result.uploaded, err.result.spooled) == (0, kept)
    text = str(err)
    assert "\n" not in text and "No space left on device (ENOSPC)" in text
    assert f"{5 - kept} of its 5 files" in text and "free space" in err.fix and str(scan) in err.fix
    assert "testing" not in text and "testing" not in caplog.text
    # Nothing half-written is left: every blob has its entry, every entry its blob, no temporary files.
    files = _spool_files(store.spool.root)
    assert not [f for f in files if f.startswith(".")]
    blobs, entries = {f[:-5] for f in files if f.endswith(".blob")}, {f[:-5] for f in files if f.endswith(".json")}
    assert blobs == entries and len(entries) == kept
    assert {p: p.read_bytes() for p in scan.rglob("*") if p.is_file()} == before   # the scan is intact
    # What was kept goes out once S3 is back; the manifest (never spooled) is not among it.
    replay = CloudStore(StorageSettings(s3_bucket=BUCKET, s3_endpoint_url=endpoint), tmp_path / "data").replay_spool()
    assert (replay.sent, replay.remaining) == (kept, 0)
    assert not [k for k in _keys(s3) if k.endswith("manifest.json")]


def test_a_full_disk_under_a_spooled_athena_insert_is_a_clean_error(aws, tmp_path, monkeypatch):
    from camdeck.monitoring.spool import SpoolError

    settings = StorageSettings(s3_bucket=BUCKET, athena_database="camdeck_full",
                               athena_output=f"s3://{BUCKET}/athena-results/")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", f"http://127.0.0.1:{free_port()}")
    store = CloudStore(settings, tmp_path, wait=lambda s: None)
    with monkeypatch.context() as patch, \
            pytest.raises(SpoolError, match=r"cannot keep the statement \(No space left on device"):
        _full_disk_on_entries(patch)
        store.record_result(_record())
    assert _spool_files(store.spool.root) == []


def test_replay_sweeps_what_a_crash_left_behind(tmp_path):
    from camdeck.monitoring.spool import Spool

    spool = Spool(tmp_path / "spool")
    spool.root.mkdir()
    stale = [spool.root / "00000000000000000001-deadbeef.blob", spool.root / ".00000000000000000002-x.json.tmp"]
    fresh = spool.root / "00000000000000000003-cafecafe.blob"        # a write in progress elsewhere
    for path in stale + [fresh]:
        path.write_bytes(b"partial")
    for path in stale:
        os.utime(path, (1_000_000, 1_000_000))
    CloudStore(StorageSettings(), tmp_path).replay_spool()
    assert _spool_files(spool.root) == [fresh.name]
