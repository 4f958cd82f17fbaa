"""Presets per camera on the real simulated recorder pair: each camera gets its own controls back,
one sensor's ScalerCrop never reaches the other, old preset files load (migrated), bad names and
files are bad input."""
from __future__ import annotations

import json
import os

import pytest

from camdeck.drivers.errors import ControlError
from camdeck.drivers.recording.presets import (
    BadPreset, CameraPreset, PresetNotFound, PresetStore, apply_preset, check_preset,
)


def _sim_camera(name, tmp_path):
    """A real simulated camera of the default rig (a ManualClock keeps it instant)."""
    from camdeck.console.config import BUILTIN_CONFIG, load_settings
    from camdeck.drivers.registry import open_camera
    from camdeck.drivers.sim.clock import ManualClock

    settings = load_settings(BUILTIN_CONFIG, tmp_path / "data")
    return open_camera(settings.cameras[name], settings.driver_context(ManualClock()))


def test_each_camera_gets_its_own_controls_back_and_no_crop_crosses_sensors(tmp_path):
    store = PresetStore(tmp_path)
    with _sim_camera("lightroom", tmp_path) as light, _sim_camera("darkroom", tmp_path) as dark:
        full_light, full_dark = light.controls()["ScalerCrop"].value, dark.controls()["ScalerCrop"].value
        x, y, w, h = full_light
        light.set_controls(ExposureTime=30000, ScalerCrop=(x + w // 4, y + h // 4, w // 2, h // 2))   # 2x zoom
        dark.set_controls(ExposureTime=12000, LensPosition=2.5)
        store.save_from_cameras("dusk", [light, dark])
        saved = json.loads((tmp_path / "presets" / "dusk.json").read_text())
        assert saved["schema_version"] == 2 and set(saved["cameras"]) == {"lightroom", "darkroom"}
        assert saved["cameras"]["lightroom"]["model"] == "IMX219"
        assert saved["cameras"]["darkroom"]["controls"]["ScalerCrop"] == list(full_dark)

        light.set_controls(ExposureTime=5000, ScalerCrop=full_light)     # the operator moves on
        dark.set_controls(ExposureTime=5000, LensPosition=0.0)
        preset = store.load("dusk")
        for cam in (light, dark):
            check_preset(cam, preset)                                   # every value fits its own camera
        done = [apply_preset(cam, preset) for cam in (light, dark)]
        assert all(d.note("dusk") is None for d in done)
        assert light.controls()["ScalerCrop"].value == (x + w // 4, y + h // 4, w // 2, h // 2)
        assert light.controls()["ExposureTime"].value == 30000
        assert dark.controls()["ScalerCrop"].value == full_dark          # not lightroom's crop
        assert dark.controls()["ExposureTime"].value == 12000 and dark.controls()["LensPosition"].value == 2.5
        dark.start()
        assert dark.capture().meta["LensPosition"] == 2.5                # applied live: the next frame has it


def test_a_schema_1_preset_is_migrated_on_read_and_keeps_its_crop_on_its_own_sensor(tmp_path):
    """The old format (``controls`` for every camera): Ctrl+O saved lightroom's ScalerCrop there,
    which lies outside darkroom's sensor mode, so applying it to darkroom failed. Migrated,
    lightroom keeps it and darkroom gets the rest."""
    folder = tmp_path / "presets"
    folder.mkdir()
    with _sim_camera("lightroom", tmp_path) as light:
        crop = light.controls()["ScalerCrop"].value
    (folder / "old.json").write_text(json.dumps({
        "name": "old", "created": "2026-11-21T10:00:00Z", "source_camera": "lightroom", "model": "IMX219",
        "controls": {"ExposureTime": 20000, "AnalogueGain": 2.0, "ScalerCrop": list(crop)},
        "cameras": {"darkroom": {"LensPosition": 1.5}}}))
    preset = PresetStore(tmp_path).load("old")
    assert preset.migrated_from == 1
    with _sim_camera("darkroom", tmp_path) as dark:
        with pytest.raises(ControlError):            # what the old format did: lightroom's crop on darkroom
            dark.set_controls(ScalerCrop=tuple(crop))
        own_crop = dark.controls()["ScalerCrop"].value
        check_preset(dark, preset)
        done = apply_preset(dark, preset)
        assert "ScalerCrop" not in done.applied and dark.controls()["ScalerCrop"].value == own_crop
        assert dark.controls()["ExposureTime"].value == 20000 and dark.controls()["LensPosition"].value == 1.5
    with _sim_camera("lightroom", tmp_path) as light:
        apply_preset(light, preset)
        assert light.controls()["ScalerCrop"].value == tuple(crop) and light.controls()["AnalogueGain"].value == 2.0
    with _sim_camera("still", tmp_path) as other:      # a camera the old preset never named: the common part
        done = apply_preset(other, preset)
        assert done.applied.get("ExposureTime") == 20000 and "ScalerCrop" not in done.applied


def test_a_crop_saved_from_another_model_under_the_same_name_is_withheld(tmp_path):
    store = PresetStore(tmp_path)
    store.save("swap", {"lightroom": CameraPreset("IMX708", {"ExposureTime": 9000, "ScalerCrop": (0, 0, 4608, 2592)})})
    with _sim_camera("lightroom", tmp_path) as light:      # now an IMX219 under that name
        before = light.controls()["ScalerCrop"].value
        check_preset(light, store.load("swap"))
        done = apply_preset(light, store.load("swap"))
        assert done.withheld == ("ScalerCrop",) and "withheld" in done.note("swap")
        assert light.controls()["ScalerCrop"].value == before and light.controls()["ExposureTime"].value == 9000


@pytest.mark.parametrize("name", ["../etc/passwd", ".hidden", "", "a b", "x" * 65, "bad\x1b[31m"])
def test_unsafe_preset_names_are_bad_input_with_the_fix(tmp_path, name):
    store = PresetStore(tmp_path)
    for call in (lambda: store.load(name), lambda: store.delete(name),
                 lambda: store.save(name, default={"ExposureTime": 1000})):
        with pytest.raises(BadPreset) as info:
            call()
        assert info.value.bad_input and "preset name" in str(info.value) and "fix:" in str(info.value)
    assert not (tmp_path / "presets").exists() or not any((tmp_path / "presets").iterdir())


def test_missing_broken_and_hostile_preset_files_are_bad_input(tmp_path):
    store = PresetStore(tmp_path)
    with pytest.raises(PresetNotFound) as info:
        store.load("nope")
    assert info.value.bad_input and "none saved yet" in str(info.value)
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "broken.json").write_text("{not json")
    (folder / "nested.json").write_text(json.dumps({"schema_version": 2, "cameras": {"a": {"controls": {"X": {"y": 1}}}}}))
    (folder / "future.json").write_text(json.dumps({"schema_version": 9, "cameras": {}}))
    (folder / "nan.json").write_text('{"controls": {"ExposureTime": NaN}}')
    os.mkfifo(folder / "fifo.json")                 # would block a plain reader forever
    for name, words in (("broken", "not valid JSON"), ("nested", "is not a control value"),
                        ("future", "schema_version 9"), ("nan", "not valid JSON"), ("fifo", "FIFO")):
        with pytest.raises(BadPreset) as info:
            store.load(name)
        assert info.value.bad_input and words in str(info.value) and "fix:" in str(info.value), name
    assert store.names() == ["broken", "future", "nan", "nested"]        # the FIFO is no preset
    with pytest.raises(PresetNotFound):
        store.delete("gone")
    assert store.delete("broken") == folder / "broken.json" and not (folder / "broken.json").exists()


def test_save_refuses_to_replace_unless_asked(tmp_path):
    store = PresetStore(tmp_path)
    store.save("p", default={"ExposureTime": 1000})
    with pytest.raises(BadPreset) as info:
        store.save("p", default={"ExposureTime": 2000}, overwrite=False)
    assert "exists" in str(info.value) and "--overwrite" in str(info.value)
    assert store.load("p").default == {"ExposureTime": 1000}
    store.save("p", default={"ExposureTime": 2000, "ScalerCrop": (0, 0, 64, 64)})
    assert store.load("p").default == {"ExposureTime": 2000}      # a crop never goes to every camera
