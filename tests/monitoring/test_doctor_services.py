"""`camdeck doctor` checks Slack (auth.test), the S3 bucket and the Athena workgroup and output
location when they are configured (issue 13, item 3): a real moto server over HTTP, and a local
server answering as Slack.
"""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import free_port
from tests.monitoring.test_cloud import moto_server  # noqa: F401  (module-scoped fixture)
from tests.monitoring.test_notify import TOKEN, FakeSlack

BASE = """
[mqtt]
host = "127.0.0.1"
port = {dead}

[redis]
url = "redis://127.0.0.1:{dead}/0"

[cameras.still]
driver = "sim"
model = "IMX708"
camera_num = 0
"""


@pytest.fixture
def cloud(moto_server, monkeypatch):  # noqa: F811
    """Credentials, Athena pointed at moto, a fresh bucket and a workgroup with its own output location."""
    import boto3

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL_ATHENA", moto_server),
                       ("CAMDECK_TEST_SLACK_TOKEN", TOKEN)):
        monkeypatch.setenv(var, value)
    bucket = f"doctor-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    workgroup = f"wg_{uuid.uuid4().hex[:8]}"
    boto3.client("athena", endpoint_url=moto_server, region_name="us-east-1").create_work_group(
        Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{bucket}/wg-results/"}})
    return moto_server, bucket, workgroup


def _config(workdir, *, slack_url="", s3="", bucket="", athena_output=None, workgroup="") -> None:
    lines = [BASE.format(dead=free_port()), "[storage]"]
    if bucket:
        lines += [f's3_bucket = "{bucket}"', f's3_endpoint_url = "{s3}"']
    if athena_output is not None:
        lines += ['athena_database = "camdeck"', f'athena_output = "{athena_output}"']
        if workgroup:
            lines += [f'athena_workgroup = "{workgroup}"']
    if slack_url:
        lines += ["", "[slack]", 'channel = "#fleet"', 'token_env = "CAMDECK_TEST_SLACK_TOKEN"', f'api_url = "{slack_url}"']
    (workdir / "config.toml").write_text("\n".join(lines) + "\n")


def _found(result) -> dict:
    return {f["check"]: f for f in result.json()["findings"]}


def test_configured_services_that_work_are_ok(cli, workdir, cloud):
    endpoint, bucket, workgroup = cloud
    with FakeSlack() as slack:
        _config(workdir, slack_url=slack.url + "/api", s3=endpoint, bucket=bucket,
                athena_output=f"s3://{bucket}/athena-results/")
        res = cli("doctor", "--json")
        paths = [r["path"] for r in slack.requests]
    assert res.code == 0, res.out + res.err
    found = _found(res)
    assert [found[k]["status"] for k in ("slack", "s3", "athena")] == ["ok", "ok", "ok"]
    assert paths == ["/api/auth.test"]                       # a check, not a message in the channel
    assert bucket in found["s3"]["detail"] and "primary" in found["athena"]["detail"]
    # a workgroup that sets its own output location needs no storage.athena_output
    _config(workdir, s3=endpoint, bucket=bucket, athena_output="", workgroup=workgroup)
    res = cli("doctor", "--json")
    assert res.code == 0, res.out + res.err
    assert f"s3://{bucket}/wg-results/" in _found(res)["athena"]["detail"]
    assert TOKEN not in res.out + res.err


def test_broken_services_are_required_failures_each_with_its_fix(cli, workdir, cloud):
    endpoint, bucket, _ = cloud
    with FakeSlack() as slack:
        slack.answer_error = "invalid_auth"
        _config(workdir, slack_url=slack.url + "/api", s3=endpoint, bucket="no-such-bucket-here", athena_output="")
        res = cli("doctor", "--json")
    assert res.code == 1
    found = _found(res)
    assert found["slack"]["status"] == "missing" and "invalid_auth" in found["slack"]["detail"]
    assert "slack.token_env" in found["slack"]["fix"]
    assert found["s3"]["status"] == "missing" and "no-such-bucket-here" in found["s3"]["detail"]
    assert "create the bucket" in found["s3"]["fix"]
    assert found["athena"]["status"] == "missing" and "no query output location" in found["athena"]["detail"]
    assert "storage.athena_output" in found["athena"]["fix"]
    assert all(found[k]["required"] for k in ("slack", "s3", "athena"))
    assert TOKEN not in res.out + res.err


def test_a_missing_workgroup_an_unusable_output_bucket_and_unreachable_slack(cli, workdir, cloud):
    endpoint, bucket, _ = cloud
    _config(workdir, slack_url=f"http://127.0.0.1:{free_port()}/api", s3=endpoint, bucket=bucket,
            athena_output=f"s3://{bucket}/r/", workgroup="no_such_group")
    found = _found(cli("doctor", "--json"))
    assert found["slack"]["status"] == "missing" and "unreachable" in found["slack"]["detail"]
    assert found["athena"]["status"] == "missing" and "no_such_group" in found["athena"]["detail"]
    _config(workdir, s3=endpoint, bucket=bucket, athena_output="s3://absent-results-bucket/r/")
    found = _found(cli("doctor", "--json"))
    assert found["athena"]["status"] == "missing" and "absent-results-bucket" in found["athena"]["detail"]


def test_services_that_are_not_configured_are_skipped(cli, workdir):
    _config(workdir)
    res = cli("doctor", "--json")
    assert res.code == 0
    found = _found(res)
    assert [found[k]["status"] for k in ("slack", "s3", "athena")] == ["skipped", "skipped", "skipped"]
