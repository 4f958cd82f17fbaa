"""Issue 14, the config side: every bad config is exit 2 at load with one line naming the key and
the fix, secrets are never echoed, names never become paths outside their folder, and hostile
files (FIFOs, devices, deep nesting) neither hang nor crash."""
from __future__ import annotations

import math
import os
import re
import threading
from pathlib import Path

import pytest

from camdeck.console.config import ConfigError, load_settings, parse_settings
from camdeck.console.config_paths import BUILTIN_CONFIG

BASE_TEXT = BUILTIN_CONFIG.read_text()


def assert_bad_input(r, *needles: str) -> str:
    """exit 2, exactly one error line with a fix, no traceback; returns the line."""
    assert r.code == 2, r.err
    lines = [line for line in r.err.splitlines() if line.startswith("camdeck: error:")]
    assert len(lines) == 1 and "fix:" in lines[0] and "Traceback" not in r.err + r.out, r.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def replace_once(old: str, new: str, text: str = BASE_TEXT) -> str:
    assert old in text
    return text.replace(old, new, 1)


ASI_CONTROLS = "controls = { exposure_us = 10000, gain = 100, wb_r = 52, wb_b = 95, offset = 8, high_speed = true, bandwidth = 80 }"
PI_CONTROLS = "controls = { ExposureTime = 20000, AnalogueGain = 2.0 }"


@pytest.mark.parametrize("old, new, key, expected", [
    (ASI_CONTROLS, 'controls = { exposure_us = "fast" }', "cameras.asi-left.controls.exposure_us", "32 to 2000000000 us"),
    (ASI_CONTROLS, "controls = { exposure_us = -5 }", "cameras.asi-left.controls.exposure_us", "32 to 2000000000 us"),
    (ASI_CONTROLS, "controls = { bin = 7 }", "cameras.asi-left.controls.bin", "1 to 2"),
    (PI_CONTROLS, "controls = { ExposureTime = -1 }", "cameras.lightroom.controls.ExposureTime", "30 to 11766829 us"),
    (PI_CONTROLS, "controls = { ColourGains = [1.0] }", "cameras.lightroom.controls.ColourGains", "two numbers"),
    (PI_CONTROLS, 'controls = { AfMode = "Continuous" }', "cameras.lightroom.controls.AfMode", "a control of this"),
    (PI_CONTROLS, "controls = { AeEnable = 1 }", "cameras.lightroom.controls.AeEnable", "true or false"),
])
def test_bad_controls_stop_cameras_list_at_load(cli, tmp_path, old, new, key, expected):
    r = cli("--config", write(tmp_path, replace_once(old, new)), "cameras", "list")
    assert_bad_input(r, key, expected)


def test_good_controls_of_the_full_table_load(tmp_path):
    text = replace_once("controls = { ExposureTime = 20000, AnalogueGain = 2.0, LensPosition = 1.0 }",
                        'controls = { AfMode = "continuous", AfWindows = [[0, 0, 640, 480]], AwbMode = "Daylight", '
                        'NoiseReductionMode = 1, ExposureValue = -1.5, FrameDurationLimits = [33333, 33333] }')
    assert load_settings(write(tmp_path, text)).cameras["darkroom"].controls["AfMode"] == "continuous"


def test_a_sim_asi_larger_than_its_sensor_is_refused(cli, tmp_path):
    text = replace_once("resolution = [1920, 1080]", "resolution = [16384, 16384]")
    assert_bad_input(cli("--config", write(tmp_path, text), "cameras", "list"),
                     "cameras.asi-left.resolution", "1920x1080", "write resolution = [1920, 1080]")


def test_a_sim_ptz_bound_beyond_loopback_is_refused(cli, tmp_path):
    text = replace_once('host = "127.0.0.1"\nport = 0', 'host = "0.0.0.0"\nport = 0')
    assert_bad_input(cli("--config", write(tmp_path, text), "cameras", "list"), "cameras.ptz-1.host", "loopback")


def test_positions_must_be_finite_and_within_a_kilometre(cli, tmp_path):
    text = replace_once('label = "stereo left"', 'label = "stereo left"\nposition_m = [1e308, 0, 0]')
    assert_bad_input(cli("--config", write(tmp_path, text), "cameras", "list"),
                     "cameras.asi-left.position_m", "+-1000", "write position_m = [0.0, 0.0, 1.0]")


def test_labels_with_control_characters_are_refused_and_markup_is_shown_literally(cli, tmp_path):
    from rich.console import Console

    from camdeck.console.render import label_markup, plain_label

    text = replace_once('label = "stereo left"', 'label = "\\u001b[31mred\\u001b[0m"')
    line = assert_bad_input(cli("--config", write(tmp_path, text), "cameras", "list"), "cameras.asi-left.label")
    assert "\x1b" not in line
    console = Console(force_terminal=True, color_system="truecolor", width=40)
    with console.capture() as cap:
        console.print(plain_label("[b]x[/b] \x1b[2J"))
    assert cap.get().startswith("[b]x[/b] \\x1b[2J") and "\x1b[1m" not in cap.get()
    assert label_markup("[b]x[/b]") == "\\[b]x\\[/b]"


def test_camera_table_cells_are_literal_text():
    from camdeck.console.tui.messages import CameraState
    from camdeck.console.tui.widgets.camera_table import state_cells

    cells = state_cells(CameraState(name="[b]cam[/b]", driver="sim", model="IMX219", state="ready"))
    assert cells["name"].plain == "[b]cam[/b]" and not cells["name"].spans


@pytest.mark.parametrize("table", ["deployments", "cameras", "rigs"])
def test_names_that_become_paths_pass_the_safe_name_check(cli, tmp_path, table):
    old = {"deployments": "[deployments.sim-site]", "cameras": "[cameras.still]", "rigs": "[rigs.capture]"}[table]
    text = replace_once(old, old.replace(old.split(".", 1)[1][:-1], '".."'))
    assert_bad_input(cli("--config", write(tmp_path, text), "cameras", "list"), f"{table}.", "safe name")


def test_dotdot_deployment_cannot_make_collect_references_write_outside_scans(cli, tmp_path):
    from camdeck.fileio.names import UnsafeName
    from camdeck.monitoring.scans import scan_root
    from camdeck.monitoring.settings import Deployment

    text = BASE_TEXT.replace("[deployments.sim-site]", '[deployments.".."]').replace(
        'deployment = "sim-site"', 'deployment = ".."')
    data = tmp_path / "data"
    r = cli("--config", write(tmp_path, text), "--data-dir", data, "monitor", "collect-references",
            "--horizontal-stops", "1", "--vertical-stops", "1", "--features", "none")
    assert_bad_input(r, "deployments.", "safe name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]    # no data, no scans beside them
    with pytest.raises(UnsafeName):
        Deployment(name="..", cameras=("ptz-1",))
    with pytest.raises(UnsafeName):
        scan_root(data, "..", "ptz-1")


# ---------------------------------------------------------------- every error line has a fix

def _mutants():
    """Each key of each table of the shipped config, set to values of every wrong kind."""
    import tomllib

    base = tomllib.loads(BASE_TEXT)
    wrong = ({"t": 1}, [1, 2, 3, 4], "zz", True, -10**9, 10**9, 1.5, math.nan, "", "\x1b[31m")
    for section, table in base.items():
        tables = table.items() if section in ("cameras", "rigs", "deployments") else [(None, table)]
        for name, entry in tables:
            for key in list(entry) + ["unknown_key"]:
                for value in wrong:
                    doc = {s: {k: (dict(v) if isinstance(v, dict) else v) for k, v in t.items()} for s, t in base.items()}
                    target = doc[section][name] if name else doc[section]
                    target[key] = value
                    yield f"{section}.{name + '.' if name else ''}{key}={value!r}", doc
    yield "no cameras", {k: v for k, v in base.items() if k != "cameras"}
    yield "unknown section", dict(base, bogus={})


def test_every_config_error_line_carries_a_fix():
    errors = 0
    for label, doc in _mutants():
        try:
            parse_settings(doc, "mutant.toml")
        except ConfigError as err:
            errors += 1
            line = str(err)
            assert re.search(r"; fix: \S", line), f"{label}: {line}"
            assert "\x1b" not in line and "\n" not in line, f"{label}: {line!r}"
    assert errors > 500        # the walk reached the checks (most mutants are errors)


# ---------------------------------------------------------------- secrets

@pytest.mark.parametrize("old, new, key", [
    ('password = "sim-password"', "password = 31415926", "cameras.ptz-1.password"),
    ('channel = "#camdeck"', 'channel = "#camdeck"\ntoken = 31415926', "slack.token"),
    ("keepalive_s = 30", "keepalive_s = 30\npassword = [31415926]", "mqtt.password"),
    ('url = "redis://127.0.0.1:6379/0"', 'url = ["redis://:31415926@host/0"]', "redis.url"),
])
def test_a_mistyped_secret_names_the_key_and_type_never_the_value(cli, tmp_path, old, new, key):
    r = cli("--config", write(tmp_path, replace_once(old, new)), "cameras", "list")
    line = assert_bad_input(r, key, "of type")
    assert "31415926" not in r.err + r.out, line


def test_the_loader_registers_every_secret_for_redaction(tmp_path, monkeypatch):
    from camdeck.fileio import redact

    redact.forget_all()
    monkeypatch.setenv("REDIS_URL", "redis://:redis@pw789@127.0.0.1:6379/0?password=qp-4711")
    text = replace_once("keepalive_s = 30", 'keepalive_s = 30\npassword = "mqtt-pw-1234"')
    settings = load_settings(write(tmp_path, text))
    shown = redact.scrub(f"{settings.redis.url} mqtt-pw-1234 sim-password redis@pw789 qp-4711")
    for secret in ("pw789", "mqtt-pw-1234", "sim-password", "qp-4711"):
        assert secret not in shown, shown


# ---------------------------------------------------------------- reading the file

@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "huge", "deep", "deep-keys"])
def test_unusable_config_files_are_refused_without_hanging(cli, tmp_path, kind):
    path = tmp_path / "config.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        path.write_text(BASE_TEXT + "# " + "x" * (1 << 20) + "\n")
    elif kind == "deep":
        path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n" + BASE_TEXT)
    else:
        path.write_text("[" + ".".join(["k"] * 5000) + "]\n")
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=cli("--config", path, "cameras", "list")), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), f"--config {kind} hung"
    needle = {"fifo": "FIFO", "device": "device", "folder": "folder", "huge": "MiB", "deep": "levels deep",
              "deep-keys": "deep"}[kind]
    assert_bad_input(result["r"], needle)


@pytest.mark.parametrize("argv", [["--config", ""], ["--config="]])
def test_an_empty_config_flag_is_refused(cli, argv):
    assert_bad_input(cli(*argv, "cameras", "list"), "--config is empty")


def test_a_data_dir_that_is_a_file_asks_for_a_folder(cli, tmp_path):
    afile = tmp_path / "hostname"
    afile.write_text("pi\n")
    for given in (afile, afile / "inside"):
        line = assert_bad_input(cli("--data-dir", given, "cameras", "list"), "--data-dir", "a folder")
        assert not re.search(r"delete|remove|rm ", line), line
    assert afile.read_text() == "pi\n"


def test_config_show_masks_every_secret(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:redis@pw789@127.0.0.1:6379/0?password=qp-4711")
    text = replace_once("keepalive_s = 30", 'keepalive_s = 30\npassword = "mqtt-pw-1234"')
    text = replace_once('channel = "#camdeck"', 'channel = "#camdeck"\ntoken = "xoxb-slack-5678"', text)
    path = write(tmp_path, text)
    for argv in (["config", "show"], ["--json", "config", "show"]):
        r = cli("--config", path, *argv)
        assert r.code == 0, r.err
        for secret in ("pw789", "qp-4711", "mqtt-pw-1234", "xoxb-slack-5678", "sim-password"):
            assert secret not in r.out + r.err, (argv, secret)
    shown = r.json()
    assert shown["redis"]["url"] == "redis://:***@127.0.0.1:6379/0?password=***"
    assert shown["mqtt"]["password"] == "***" and shown["cameras"]["ptz-1"]["options"]["password"] == "***"


@pytest.mark.parametrize("where", ["config", "env"])
@pytest.mark.parametrize("url", ["PLANTED-not-a-url", "redis://", "redis://:pw-77@host:99999/0"])
def test_a_redis_url_that_is_not_one_is_refused_without_showing_it(cli, tmp_path, monkeypatch, where, url):
    text = BASE_TEXT
    if where == "env":
        monkeypatch.setenv("REDIS_URL", url)
    else:
        text = replace_once('url = "redis://127.0.0.1:6379/0"', f'url = "{url}"')
    r = cli("--config", write(tmp_path, text), "cameras", "list")
    assert_bad_input(r, "$REDIS_URL" if where == "env" else "redis.url", "not shown")
    assert "PLANTED" not in r.err and "pw-77" not in r.err
