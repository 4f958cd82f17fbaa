"""A command whose pip extra is missing exits 2 with one line naming the extra, never a traceback.

Each run is a real `camdeck` process with the optional libraries made unimportable first
(``sys.modules[name] = None``, what Python does for a module that is not there), as a core
install (no ``[torch]``, no ``[fleet]``) would see them.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from camdeck.fastcore.extras import has_extra

REPO = Path(__file__).resolve().parents[2]
TORCH = ("torch", "kornia")
FLEET = ("boto3", "botocore", "slack_sdk", "openpyxl")

PRELUDE = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None          # as if not installed
from camdeck.console.cli.app import run
sys.exit(run(sys.argv[2:]))
"""


def camdeck_without(blocked, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PRELUDE, ",".join(blocked), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=240)


def assert_names_extra(proc: subprocess.CompletedProcess, module: str, extra: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("camdeck: error: ")
    assert f"needs {module}, which is not installed" in line, line
    assert f"pip install 'camdeck[{extra}]'" in line, line
    return line


@pytest.fixture
def config_with(tmp_path):
    """A copy of the default config.toml with some `key = value` lines replaced."""
    def make(**values: str) -> Path:
        text = (REPO / "config.toml").read_text()
        for key, value in values.items():
            lines = text.splitlines()
            at = next(i for i, line in enumerate(lines) if line.split("=")[0].strip() == key)
            lines[at] = f"{key} = {value}"
            text = "\n".join(lines) + "\n"
        path = tmp_path / "config.toml"
        path.write_text(text)
        return path
    return make


def test_pointcloud_without_torch_names_the_torch_extra_before_any_camera_opens(tmp_path):
    proc = camdeck_without(TORCH, "pointcloud", "--rig", "asi-stereo", "--out", "pc", cwd=tmp_path)
    line = assert_names_extra(proc, "torch", "torch")
    assert "pointcloud" in line
    assert not (tmp_path / "pc").exists() or not any((tmp_path / "pc").iterdir())


@pytest.mark.skipif(not has_extra("torch"), reason="torch is not installed here (a core install)")
def test_pointcloud_with_torch_but_without_kornia_names_kornia(tmp_path):
    proc = camdeck_without(("kornia",), "pointcloud", "--rig", "asi-stereo", cwd=tmp_path)
    assert_names_extra(proc, "kornia", "torch")


def test_reconstruct_with_the_torch_backend_names_the_extra(tmp_path):
    proc = camdeck_without(TORCH, "reconstruct", "--rig", "asi-stereo", "--backend", "torch", "--frames", "1",
                           cwd=tmp_path)
    assert "backend 'torch'" in assert_names_extra(proc, "torch", "torch")


def test_bench_asked_for_torch_names_the_extra(tmp_path):
    proc = camdeck_without(TORCH, "bench", "--backends", "torch", "--sizes", "8", cwd=tmp_path)
    assert_names_extra(proc, "torch", "torch")


def test_bench_on_a_core_install_skips_torch_with_a_note(tmp_path):
    proc = camdeck_without(TORCH, "bench", "--sizes", "8", "--budget", "0", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {row["backend"] for row in report["results"]} >= {"numpy"}
    assert not any(row["backend"].startswith("torch") for row in report["results"])
    assert report["skipped"] == [{"backend": "torch", "reason": "the torch backend needs torch, which is not "
                                                                 "installed; fix: pip install 'camdeck[torch]'"}]
    human = camdeck_without(TORCH, "bench", "--sizes", "8", "--budget", "0", cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "torch: skipped (the torch backend needs torch" in human.stderr
    assert "pip install 'camdeck[torch]'" in human.stderr


def test_offsets_excel_report_without_openpyxl_names_the_fleet_extra(tmp_path):
    proc = camdeck_without(FLEET, "offsets", "--reference", "ref", "--query", "qry", "--out", "x.xlsx",
                           cwd=tmp_path)
    assert "offsets --out x.xlsx" in assert_names_extra(proc, "openpyxl", "fleet")
    assert not (tmp_path / "x.xlsx").exists()


def test_fleet_run_with_s3_configured_but_no_boto3_names_the_fleet_extra(tmp_path, config_with):
    cfg = config_with(s3_bucket='"camdeck-test"')
    proc = camdeck_without(FLEET, "--config", str(cfg), "--data-dir", "data", "monitor", "run", cwd=tmp_path)
    assert "S3/Athena storage" in assert_names_extra(proc, "boto3", "fleet")


def test_fleet_run_with_slack_configured_but_no_slack_sdk_names_the_fleet_extra(tmp_path, config_with):
    cfg = config_with(channel='"#camdeck"\nwebhook_url = "http://127.0.0.1:9/hook"')
    proc = camdeck_without(FLEET, "--config", str(cfg), "--data-dir", "data", "monitor", "run", cwd=tmp_path)
    assert "Slack alerts" in assert_names_extra(proc, "slack_sdk", "fleet")


def test_a_core_install_still_lists_cameras(tmp_path):
    proc = camdeck_without(TORCH + FLEET, "cameras", "list", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "asi-left" in {c["name"] for c in json.loads(proc.stdout)["cameras"]}
