"""Shared by the deploy tests: where the files are, the fast simulated fleet, subprocess runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.deploy.formats import read_dockerfile

try:
    import tomllib
except ModuleNotFoundError:            # Python 3.10
    import tomli as tomllib

DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
UNITS = DEPLOY / "systemd"
CRONJOB = DEPLOY / "kubernetes" / "fleet-cronjob.yaml"
CAMDECK = Path(sys.executable).parent / "camdeck"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# The simulated fleet, fast: 200 simulated seconds per wall second, small frames.
FAST_CONFIG = (REPO / "config.toml").read_text().replace("time_factor = 1.0", "time_factor = 200.0") \
    .replace("resolution = [1280, 720]", "resolution = [320, 180]")
SIM_DEVICES = ["sim-site/ptz-1", "sim-site/ptz-2"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the camdeck variables a developer may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMDECK_") and k != "REDIS_URL"}
    env.update(extra)
    return env


def run(argv: list, *, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a program to its end (``timeout`` only guards against a hang), output captured as text."""
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def stages():
    """deploy/Dockerfile's stages by name."""
    found = {s.name: s for s in read_dockerfile(DOCKERFILE)}
    assert list(found) == ["builder", "runtime"], f"stages {list(found)}"
    return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """The fast simulated fleet with its reference scans collected: (config path, data dir)."""
    assert CAMDECK.is_file(), f"{CAMDECK}: the camdeck console script is not installed in this venv"
    root = tmp_path_factory.mktemp("fleet")
    config = root / "config.toml"
    config.write_text(FAST_CONFIG)
    data = root / "data"
    res = run([CAMDECK, "--config", config, "--data-dir", data, "monitor", "collect-references",
               "--horizontal-stops", "4", "--vertical-stops", "1", "--settle", "0.5s", "--json"],
              cwd=root, env=clean_env())
    assert res.returncode == 0, res.stderr
    return config, data
