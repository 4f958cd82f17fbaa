"""collect-references puts the reference in S3 at once (the origin workflow), spooling what S3 refuses.

Real pieces: the in-process simulated PTZ camera, the CLI, a moto S3 server on a free port; the
spool is replayed by a later run, and a fleet run does not send the same reference again.
"""
from __future__ import annotations

import uuid

import pytest

from camdeck.console.config import load_settings
from camdeck.monitoring.cloud import CloudStore
from camdeck.monitoring.cloud_reference import reference_sent
from camdeck.monitoring.fleet import run_fleet
from tests.conftest import free_port
from tests.monitoring.test_cloud import moto_server  # noqa: F401  (module-scoped fixture)


def _config(folder, s3_endpoint: str, bucket: str):
    (folder / "config.toml").write_text(f"""
[console]
data_dir = "{folder / 'data'}"
[sim]
seed = 0
time_factor = 200.0
[deployments.site]
[cameras.cam]
driver = "sim"
model = "PTZ"
deployment = "site"
resolution = [320, 180]
hfov_deg = [60.0, 6.0]
tilt_range_deg = [-20.0, 20.0]
[monitor]
horizontal_stops = 4
vertical_stops = 1
stabilize_time_s = 0.3
timeout_s = 20.0
[storage]
s3_bucket = "{bucket}"
s3_endpoint_url = "{s3_endpoint}"
s3_prefix = "fleet"
""")
    return folder / "config.toml"


@pytest.fixture
def bucket(moto_server, monkeypatch):  # noqa: F811
    import boto3

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    name = f"refs-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    return name, s3


def _keys(s3, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_collect_references_uploads_the_reference_with_its_colmap_features(cli, tmp_path, moto_server, bucket):  # noqa: F811
    name, s3 = bucket
    config = _config(tmp_path, moto_server, name)
    res = cli("monitor", "collect-references", "--config", config, "--settle", "0.3s", "--json")
    assert res.code == 0, res.err
    row = res.json()["devices"][0]
    base = "fleet/site/cam/reference_scan/"
    assert row["upload"] == {"location": f"s3://{name}/{base}", "uploaded": 13, "spooled": 0}
    keys = _keys(s3, name, base)
    assert keys == sorted([f"{base}images/{i:03d}.png" for i in range(4)] + [f"{base}features/{i:03d}.npz" for i in range(4)]
                          + [f"{base}features/{i:03d}.png.txt" for i in range(4)] + [f"{base}manifest.json"])

    # a fleet run afterwards measures the camera and sends its query, not the same reference again
    settings = load_settings(config)
    report = run_fleet(settings)
    device = report.devices[0]
    assert device.success, device.error
    assert device.uploaded == 4 and device.spooled == 0          # the query: image, .npz, .txt, manifest
    assert len(_keys(s3, name, base)) == 13


def test_an_unreachable_s3_at_collection_spools_and_a_later_run_sends_it(cli, tmp_path, moto_server, bucket):  # noqa: F811
    name, s3 = bucket
    config = _config(tmp_path, f"http://127.0.0.1:{free_port()}", name)
    res = cli("monitor", "collect-references", "--config", config, "--settle", "0.3s", "--json")
    assert res.code == 0, res.err                     # the reference is collected; S3 gets it later
    row = res.json()["devices"][0]
    assert (row["upload"]["uploaded"], row["upload"]["spooled"]) == (0, 13)
    settings = load_settings(config)
    down = CloudStore(settings.storage, settings.data_dir)
    assert down.spool.pending() == 13
    assert reference_sent(down, settings.data_dir / "scans/site/cam/reference", "site", "cam")

    settings = load_settings(_config(tmp_path, moto_server, name))     # S3 is back
    up = CloudStore(settings.storage, settings.data_dir)
    replay = up.replay_spool()
    assert (replay.sent, replay.remaining) == (13, 0)
    assert "fleet/site/cam/reference_scan/manifest.json" in _keys(s3, name)
