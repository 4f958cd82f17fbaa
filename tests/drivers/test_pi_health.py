"""Pi health from a fake sysfs tree and a fake ``vcgencmd`` (a real executable on PATH): the
firmware's throttled bits become words, the thermal zone a temperature, a non-Pi None."""
from __future__ import annotations

import stat

import pytest

from camdeck.drivers.pi_health import THERMAL_FILE, THROTTLED_FILE, parse_throttled, read_pi_health


def fake_sysfs(root, throttled: str | None, millideg: str | None = None):
    if throttled is not None:
        (root / THROTTLED_FILE).parent.mkdir(parents=True)
        (root / THROTTLED_FILE).write_text(throttled + "\n")
    if millideg is not None:
        (root / THERMAL_FILE).parent.mkdir(parents=True)
        (root / THERMAL_FILE).write_text(millideg + "\n")
    return root


def fake_vcgencmd(folder, output: str, code: int = 0):
    folder.mkdir(exist_ok=True)
    exe = folder / "vcgencmd"
    exe.write_text(f"#!/bin/sh\n[ \"$1\" = get_throttled ] || exit 3\necho '{output}'\nexit {code}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(folder)


@pytest.mark.parametrize("text,value", [("0", 0), ("50005\n", 0x50005), ("throttled=0x80008", 0x80008)])
def test_parse_throttled_reads_both_sources(text, value):
    assert parse_throttled(text) == value


def test_undervoltage_and_throttling_now_from_sysfs(tmp_path):
    health = read_pi_health(fake_sysfs(tmp_path, "50005", "81234"), search_path="")
    assert health.source == "sysfs" and not health.ok
    assert health.problems() == ["UNDERVOLT", "THROTTLED"]
    assert health.temperature_c == pytest.approx(81.234)


def test_a_past_event_is_reported_as_earlier_and_the_pi_is_ok_now(tmp_path):
    health = read_pi_health(fake_sysfs(tmp_path, "80000"), search_path="")
    assert health.ok and health.problems() == ["earlier: hot"] and health.temperature_c is None


def test_vcgencmd_when_the_sysfs_file_is_missing(tmp_path):
    path = fake_vcgencmd(tmp_path / "bin", "throttled=0x8")
    health = read_pi_health(fake_sysfs(tmp_path / "root", None, "55000"), search_path=path)
    assert health.source == "vcgencmd" and health.problems() == ["HOT"] and health.temperature_c == 55.0


def test_not_a_pi_gives_none(tmp_path):
    assert read_pi_health(tmp_path, search_path="") is None
    failing = fake_vcgencmd(tmp_path / "bin", "VCHI initialization failed", code=255)
    assert read_pi_health(tmp_path, search_path=failing) is None
