"""`camdeck presets list|show|save|delete` on the simulated recorder pair: each camera's own controls,
--json everywhere, exit 2 with the fix for unknown and unsafe names."""
from __future__ import annotations

import json

import pytest

from tests.console import RECORDER_RIG

# lightroom carries a config control, so the saved preset must hold lightroom's value, not darkroom's
RIG = RECORDER_RIG.replace('camera_num = 0\n', 'camera_num = 0\ncontrols = { ExposureTime = 12345 }\n', 1)


@pytest.fixture
def rig(workdir):
    (workdir / "config.toml").write_text(RIG)
    (workdir / "data").mkdir()
    return workdir


def one_error_line(r) -> str:
    assert r.code == 2, (r.code, r.err)
    lines = [line for line in r.err.splitlines() if line.startswith("camdeck: error:")]
    assert len(lines) == 1 and "fix:" in lines[0], r.err
    assert "Traceback" not in r.err + r.out
    return lines[0]


def test_save_list_show_delete_round_trip_with_each_cameras_own_controls(cli, rig):
    data = rig / "data"
    r = cli("presets", "save", "dusk", "--data-dir", data, "--json")
    assert r.code == 0, r.err
    saved = r.json()
    light, dark = saved["cameras"]["lightroom"], saved["cameras"]["darkroom"]
    assert (light["model"], dark["model"]) == ("IMX219", "IMX708")
    assert light["controls"]["ExposureTime"] == 12345 and dark["controls"]["ExposureTime"] != 12345
    assert light["controls"]["ScalerCrop"] != dark["controls"]["ScalerCrop"]      # each sensor's own crop
    assert "LensPosition" in dark["controls"] and "LensPosition" not in light["controls"]
    on_disk = json.loads((data / "presets" / "dusk.json").read_text())
    assert on_disk["cameras"] == saved["cameras"] and on_disk["schema_version"] == 2

    r = cli("presets", "save", "wide", "--from-cameras", "darkroom", "--data-dir", data, "--json")
    assert r.code == 0 and list(r.json()["cameras"]) == ["darkroom"]

    listed = cli("presets", "list", "--json", "--data-dir", data).json()
    assert listed["folder"] == str(data / "presets")
    assert [(p["name"], p["cameras"], p["error"]) for p in listed["presets"]] == [
        ("dusk", ["darkroom", "lightroom"], None), ("wide", ["darkroom"], None)]
    shown = cli("presets", "show", "dusk", "--json", "--data-dir", data).json()
    assert shown["cameras"] == saved["cameras"] and shown["path"] == str(data / "presets" / "dusk.json")

    human = cli("presets", "show", "dusk", "--data-dir", data)
    assert human.code == 0 and "lightroom (IMX219)" in human.out and "12345" in human.out

    r = cli("presets", "delete", "dusk", "--json", "--data-dir", data)
    assert r.code == 0 and r.json() == {"deleted": "dusk", "path": str(data / "presets" / "dusk.json")}
    assert not (data / "presets" / "dusk.json").exists()
    assert [p["name"] for p in cli("presets", "list", "--json", "--data-dir", data).json()["presets"]] == ["wide"]


def test_an_old_preset_file_is_listed_and_shown_migrated(cli, rig):
    folder = rig / "data" / "presets"
    folder.mkdir()
    (folder / "old.json").write_text(json.dumps({
        "name": "old", "source_camera": "lightroom", "model": "IMX219",
        "controls": {"ExposureTime": 20000, "ScalerCrop": [680, 692, 1920, 1080]}}))
    (folder / "broken.json").write_text("{")
    listed = cli("presets", "list", "--json", "--data-dir", rig / "data").json()["presets"]
    assert [(p["name"], p["migrated_from"] if not p["error"] else "error") for p in listed] == [
        ("broken", "error"), ("old", 1)]
    shown = cli("presets", "show", "old", "--json", "--data-dir", rig / "data").json()
    assert shown["cameras"]["lightroom"]["controls"]["ScalerCrop"] == [680, 692, 1920, 1080]
    assert shown["default"] == {"ExposureTime": 20000}          # the crop is lightroom's alone
    assert shown["migration_note"] is None

    (folder / "anon.json").write_text(json.dumps({"controls": {"Contrast": 2.0, "ScalerCrop": [0, 0, 64, 64]}}))
    anon = cli("presets", "show", "anon", "--json", "--data-dir", rig / "data").json()
    assert anon["cameras"] == {} and anon["default"] == {"Contrast": 2.0}
    assert "ScalerCrop dropped" in anon["migration_note"]     # whose crop it was, the old file does not say
    human = cli("presets", "show", "anon", "--data-dir", rig / "data")
    assert human.code == 0 and "note: ScalerCrop dropped" in human.out and "any camera" in human.out


@pytest.mark.parametrize("argv, words", [
    (["presets", "show", "../etc/passwd"], "preset name"),
    (["presets", "show", "nope"], "no preset 'nope'"),
    (["presets", "delete", "nope"], "no preset 'nope'"),
    (["presets", "save", "a b"], "preset name"),
    (["presets", "save", ".hidden"], "preset name"),
    (["presets", "save", "p", "--from-cameras", "nope"], "unknown camera"),
    (["presets", "save", "p", "--from-cameras", "lightroom,,darkroom"], "--from-cameras"),
    (["presets", "save", "p", "--from-cameras", "lightroom,lightroom"], "--from-cameras"),
    (["presets", "show", "broken"], "not valid JSON"),
    (["presets", "save", "taken"], "exists"),
])
def test_bad_input_exits_2_with_one_line_and_the_fix(cli, rig, argv, words):
    folder = rig / "data" / "presets"
    folder.mkdir()
    (folder / "broken.json").write_text("{")
    (folder / "taken.json").write_text(json.dumps({"schema_version": 2, "cameras": {}, "default": {"Contrast": 2}}))
    before = sorted(p.name for p in folder.iterdir())
    r = cli(*argv, "--data-dir", rig / "data")
    assert words in one_error_line(r)
    assert sorted(p.name for p in folder.iterdir()) == before          # nothing written or removed
    assert json.loads((folder / "taken.json").read_text())["default"] == {"Contrast": 2}
    r = cli(*argv, "--data-dir", rig / "data", "--json")
    one_error_line(r)
    assert r.json()["exit_code"] == 2 and words in r.json()["error"]
