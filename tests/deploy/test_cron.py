"""deploy/cron/camdeck-fleet: hourly, the README shows it as it is, and its command runs the simulated fleet."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import REPO
from tests.deploy.conftest import CAMDECK, DEPLOY, SIM_DEVICES, clean_env, run

CRON = DEPLOY / "cron" / "camdeck-fleet"


def _job() -> str:
    jobs = [line for line in CRON.read_text().splitlines() if line.strip() and not line.startswith("#")
            and "=" not in line.split()[0]]
    assert len(jobs) == 1, jobs
    return jobs[0]


def test_the_cron_job_runs_hourly_as_camdeck_and_the_readme_shows_it():
    fields = _job().split()
    assert fields[:5] == ["0", "*", "*", "*", "*"]           # minute 0 of every hour
    assert fields[5] == "camdeck"                              # /etc/cron.d lines name their user
    assert "monitor run --json" in _job() and "flock -n" in _job()
    assert _job() in (REPO / "README.md").read_text()


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock (util-linux) is not installed")
def test_the_cron_command_measures_the_simulated_fleet_and_logs_one_json_line(fleet, tmp_path):
    config, data = fleet
    env_file = tmp_path / "camdeck.env"
    env_file.write_text(f"CAMDECK_DATA_DIR={data}\n")
    logs = tmp_path / "log"
    logs.mkdir()
    command = " ".join(_job().split()[6:])                   # what cron hands to /bin/sh
    for old, new in (("/etc/camdeck/camdeck.env", env_file), ("/opt/camdeck/.venv/bin/camdeck", CAMDECK),
                     ("/etc/camdeck/config.toml", config), ("/var/log/camdeck", logs),
                     ("/tmp/camdeck-fleet.lock", tmp_path / "fleet.lock"), ("30s", "0.5s")):
        command = command.replace(old, str(new))
    res = run(["/bin/sh", "-c", command], cwd=tmp_path, env=clean_env())
    assert res.returncode == 0, (logs / "fleet.err").read_text()
    lines = (logs / "fleet.jsonl").read_text().splitlines()
    assert len(lines) == 1
    devices = json.loads(lines[0])["devices"]
    assert [f"{d['deployment']}/{d['camera']}" for d in devices] == SIM_DEVICES
    assert all(d["success"] for d in devices), devices
