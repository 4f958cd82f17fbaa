"""The spool shared by concurrent runs: every entry is sent exactly once (issue 13, item 5).

Two real processes replay one spool into a real moto server, as two shards of a Kubernetes
Indexed Job sharing a volume do; moto then holds each INSERT once.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from camdeck.monitoring.spool import Spool
from tests.conftest import ServerProcess, free_port

BUCKET = "camdeck-spool-test"


@pytest.fixture
def athena_endpoint(monkeypatch, tmp_path):
    """A moto server process of this test's own (moto's in-process backends are shared by the
    whole test process, and other modules count their Athena statements)."""
    from moto.server import main  # noqa: F401  (moto[server] installed: its module runs the server)

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    server = ServerProcess(lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                           free_port(), tmp_path).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()

REPLAY = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from camdeck.monitoring.cloud import CloudStore
    from camdeck.monitoring.settings import StorageSettings

    data, database, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    store = CloudStore(StorageSettings(s3_bucket="{bucket}", athena_database=database,
                                       athena_output="s3://{bucket}/athena-results/"), data, wait=lambda s: None)
    store._table_ready = True            # the statements are spooled as not needing the DDL
    while not go.exists():
        time.sleep(0.005)
    print(store.replay_spool().sent)
""").format(bucket=BUCKET)


def test_two_runs_sharing_a_spool_send_each_athena_insert_once(athena_endpoint, tmp_path):
    import boto3

    endpoint = athena_endpoint
    database = f"shard_{uuid.uuid4().hex[:8]}"
    spool = Spool(tmp_path / "data" / "spool")
    n = 30
    for i in range(n):
        spool.put_athena(database, f"INSERT INTO \"{database}\".\"monitoring\" (\"device_id\") VALUES ('cam-{i:02d}')",
                         needs_table=False)
    go = tmp_path / "go"
    env = dict(os.environ, AWS_ENDPOINT_URL_ATHENA=endpoint)
    procs = [subprocess.Popen([sys.executable, "-c", REPLAY, str(tmp_path / "data"), database, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    time.sleep(1.0)                       # both imported and waiting: they start together
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    sent = [int(o[0].strip()) for o in outs]
    athena = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1")
    queries = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]
               for i in athena.list_query_executions()["QueryExecutionIds"]]
    mine = sorted(q["Query"] for q in queries if q["QueryExecutionContext"].get("Database") == database)
    print(f"two concurrent replays of {n} spooled inserts: sent {sent}, moto holds {len(mine)} "
          f"({len(set(mine))} distinct)", file=sys.__stderr__)
    assert sum(sent) == n and len(mine) == n and len(set(mine)) == n
    assert spool.pending() == 0 and not list(spool.root.iterdir())


def test_a_claim_is_exclusive_released_in_place_and_expires_back_to_the_queue(tmp_path):
    one, two = Spool(tmp_path / "spool"), Spool(tmp_path / "spool", claim_ttl_s=0.0)
    first = one.put("slack", {"text": "first"})
    one.put("slack", {"text": "second"})
    claim = one.claim(first)
    assert claim is not None and claim.data["text"] == "first"
    assert one.claim(first) is None                                  # taken: nobody else gets it
    assert [c.data["text"] for c in _drain(one)] == ["second"]
    claim.release()
    assert [one.load(e)["text"] for e in one.entries()] == ["first"]
    stuck = one.claim(one.entries()[0])                              # a run that dies holding it
    assert one.pending() == 0 and one.sweep() == 0 and one.pending() == 0   # young claims stay claimed
    two.sweep()                                                      # past the claim's time to live
    assert [one.load(e)["text"] for e in one.entries()] == ["first"] and not stuck.path.exists()


def _drain(spool: Spool) -> list:
    out = []
    for claim in spool.claimed(["slack"]):
        out.append(claim)
        claim.done()
    return out
