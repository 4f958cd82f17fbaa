"""config.toml loading: the default rig, and one clear line naming the key for every bad value."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from camdeck.console.config import BUILTIN_CONFIG, ConfigError, load_settings, parse_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def default_doc() -> dict:
    return tomllib.loads((REPO / "config.toml").read_text())


def test_builtin_copy_is_the_repo_default():
    assert BUILTIN_CONFIG.read_text() == (REPO / "config.toml").read_text()


def test_default_rig_has_every_rig_of_the_design():
    s = load_settings(REPO / "config.toml")
    assert s.rigs["asi-stereo"].cameras == ("asi-left", "asi-right")
    assert s.rigs["asi-stereo"].options["baseline_mm"] == 100.0
    assert s.cameras["asi-left"].model == "ASI662MC" and s.cameras["asi-left"].serial
    assert s.cameras["asi-left"].serial != s.cameras["asi-right"].serial
    assert s.cameras["lightroom"].model == "IMX219" and s.cameras["darkroom"].model == "IMX708"
    assert s.rigs["capture"].cameras == ("still",)
    assert s.deployments["sim-site"].cameras == ("ptz-1", "ptz-2")
    assert all(c.driver == "sim" for c in s.cameras.values())
    assert s.console.theme == "camdeck-dark" and s.console.preview_fps == 15


def test_passwords_are_secrets_that_never_print():
    s = load_settings(REPO / "config.toml")
    password = s.cameras["ptz-1"].options["password"]
    assert password.reveal() == "sim-password"
    assert "sim-password" not in repr(s) and "sim-password" not in str(s.cameras["ptz-1"])


def _error(doc: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings(doc, "config.toml")
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("mutate, key, words", [
    (lambda d: d["console"].update(theme="neon"), "console.theme", "one of 'camdeck-dark'"),
    (lambda d: d["console"].update(preview_fps="fast"), "console.preview_fps", "a number"),
    (lambda d: d["console"].update(colour=True), "console.colour", "unknown key"),
    (lambda d: d.update(camras={}), "camras", "unknown key"),
    (lambda d: d["cameras"]["asi-left"].update(driver="usb"), "cameras.asi-left.driver", "'zwoasi'"),
    (lambda d: d["cameras"]["asi-left"].pop("serial"), "cameras.asi-left.serial", "required"),
    (lambda d: d["cameras"]["asi-left"].update(serial=12), "cameras.asi-left.serial", "non-empty string"),
    (lambda d: d["cameras"]["asi-right"].update(serial="SIM662L0001"), "cameras.asi-right.serial", "no other camera"),
    (lambda d: d["cameras"]["asi-left"].update(resolution=[1921, 1080]), "cameras.asi-left.resolution", "divisible by 8"),
    (lambda d: d["cameras"]["asi-left"]["controls"].update(ExposureTime=5), "cameras.asi-left.controls.ExposureTime",
     "unknown key"),
    (lambda d: d["cameras"]["lightroom"]["controls"].update(exposure_us=5), "cameras.lightroom.controls.exposure_us",
     "unknown key"),
    (lambda d: d["cameras"]["ptz-1"].update(deployment="elsewhere"), "cameras.ptz-1.deployment", "deployments"),
    (lambda d: d["cameras"]["ptz-1"].update(tilt_range_deg=[10, -10]), "cameras.ptz-1.tilt_range_deg", "low < high"),
    (lambda d: d["cameras"]["ptz-1"].update(port=70000), "cameras.ptz-1.port", "from 0 to 65535"),
    (lambda d: d["rigs"]["asi-stereo"].update(cameras=["asi-left"]), "rigs.asi-stereo.cameras", "2 camera names"),
    (lambda d: d["rigs"]["asi-stereo"].update(cameras=["asi-left", "ghost"]), "rigs.asi-stereo.cameras", "ghost"),
    (lambda d: d["rigs"]["asi-stereo"].update(cameras=["asi-left", "lightroom"]), "rigs.asi-stereo.cameras", "ZWO"),
    (lambda d: d["rigs"]["asi-stereo"].update(baseline_mm=0), "rigs.asi-stereo.baseline_mm", "greater than 0"),
    (lambda d: d["mqtt"].update(port="1883"), "mqtt.port", "an integer"),
    (lambda d: d["slack"].update(alert_threshold_deg=-1), "slack.alert_threshold_deg", "greater than 0"),
    (lambda d: d["monitor"].update(features="orb"), "monitor.features", "'sift'"),
])
def test_bad_values_name_the_key_path_and_the_expectation(mutate, key, words):
    doc = default_doc()
    mutate(doc)
    text = _error(doc)
    assert f"config.toml: {key}:" in text
    assert words in text


def test_zwo_camera_by_index_is_refused_with_the_serial_fix():
    doc = default_doc()
    doc["cameras"]["asi-left"]["index"] = 0
    text = _error(doc)
    assert "cameras.asi-left.index" in text and "serial" in text


def test_missing_and_malformed_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: file not found"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[console\ntheme = 1\n")
    with pytest.raises(ConfigError, match="bad.toml: is not valid TOML"):
        load_settings(bad)


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings().source == "built-in config"
    local = tmp_path / "config.toml"
    local.write_text((REPO / "config.toml").read_text().replace('theme = "camdeck-dark"', 'theme = "camdeck-light"'))
    assert load_settings().console.theme == "camdeck-light"
    other = tmp_path / "other.toml"
    other.write_text((REPO / "config.toml").read_text().replace('theme = "camdeck-dark"', 'theme = "camdeck-sunlight"'))
    monkeypatch.setenv("CAMDECK_CONFIG", str(other))
    assert load_settings().console.theme == "camdeck-sunlight"
    assert load_settings(local).console.theme == "camdeck-light"  # --config beats the environment


def test_data_dir_resolution(tmp_path, monkeypatch, user_data_dir):
    assert load_settings(REPO / "config.toml").data_dir == user_data_dir     # the default rig names none
    monkeypatch.setenv("CAMDECK_DATA_DIR", str(tmp_path / "env"))
    assert load_settings(REPO / "config.toml").data_dir == tmp_path / "env"
    assert load_settings(REPO / "config.toml", tmp_path / "cli").data_dir == tmp_path / "cli"


def test_a_rigs_relative_calibration_is_read_beside_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                              # camdeck started somewhere else
    folder = tmp_path / "etc" / "camdeck"
    folder.mkdir(parents=True)
    text = (REPO / "config.toml").read_text()
    (folder / "config.toml").write_text(text.replace('# calibration = "stereo.npz"', 'calibration = "stereo.npz"'))
    assert load_settings(folder / "config.toml").rigs["asi-stereo"].options["calibration"] == \
        str(folder / "stereo.npz")
    absolute = tmp_path / "cal" / "stereo.npz"
    (folder / "config.toml").write_text(text.replace('# calibration = "stereo.npz"', f'calibration = "{absolute}"'))
    assert load_settings(folder / "config.toml").rigs["asi-stereo"].options["calibration"] == str(absolute)
    assert load_settings(folder / "config.toml").rigs["recorder"].options.get("calibration") is None


def test_redis_url_env_overrides(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://10.9.8.7:6380/2")
    assert load_settings(REPO / "config.toml").redis.url == "redis://10.9.8.7:6380/2"


def test_config_accepts_exactly_the_themes_the_tui_registers():
    # console.config cannot import themes (Textual stays out of the CLI), so the names live twice.
    from camdeck.console.config_schema import THEMES
    from camdeck.themes import THEME_NAMES

    assert THEMES == THEME_NAMES
