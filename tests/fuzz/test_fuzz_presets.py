"""Fuzz the preset files and names (Hypothesis): whatever a presets folder holds and whatever name
is typed, `camdeck presets` exits 0 or 2 with one line and the fix, never a traceback; a preset that
loads is either applied to a real simulated camera or refused as BadPreset/ControlError."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from tests.fuzz.outcome import check_clean, run_cli

CONTROL_NAMES = ["ExposureTime", "AnalogueGain", "ScalerCrop", "FrameDurationLimits", "AfMode", "AwbMode",
                 "ColourGains", "LensPosition", "Brightness", "x" * 70, "../up", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=80))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=4), max_leaves=12)
controls = st.dictionaries(st.sampled_from(CONTROL_NAMES), values, max_size=6)
camera_names = st.sampled_from(["lightroom", "darkroom", "a b", "", "../x"])
schema2 = st.fixed_dictionaries({"schema_version": st.sampled_from([2, 2, 1, 3, "2", None]),
                                 "cameras": st.dictionaries(camera_names, st.fixed_dictionaries(
                                     {"model": st.sampled_from(["IMX219", "IMX708", "", 7]), "controls": controls})
                                     | values, max_size=3)},
                                optional={"default": controls | values, "name": values})
schema1 = st.fixed_dictionaries({"controls": controls | values},
                                optional={"cameras": st.dictionaries(camera_names, controls | values, max_size=2),
                                          "source_camera": camera_names | values, "model": values})
documents = st.one_of(schema2.map(json.dumps), schema1.map(json.dumps), values.map(json.dumps),
                      st.text(max_size=200), st.sampled_from(["", "{", "[" * 5000, '{"controls": {"a": NaN}}']))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-presets")


@given(document=documents)
def test_any_preset_file_is_shown_or_refused_cleanly(data_dir, document):
    folder = data_dir / "presets"
    folder.mkdir(exist_ok=True)
    (folder / "p.json").write_text(document)
    for argv in (["presets", "show", "p"], ["presets", "list"]):
        result = run_cli([*argv, "--json", "--data-dir", data_dir])
        check_clean(result, allowed=(0, 2), what=f"{argv} on {document[:80]!r}")
        if result.code == 0:
            assert isinstance(json.loads(result.out), dict)


@given(name=st.text(max_size=80), command=st.sampled_from(["show", "delete"]))
def test_any_typed_name_is_found_or_refused_with_the_fix(data_dir, name, command):
    result = run_cli(["presets", command, name, "--data-dir", data_dir])
    check_clean(result, allowed=(2,), what=f"presets {command} {name!r}")
    assert not (data_dir.parent / "up.json").exists()


@pytest.fixture(scope="module")
def darkroom(tmp_path_factory):
    from camdeck.console.config import BUILTIN_CONFIG, load_settings
    from camdeck.drivers.registry import open_camera
    from camdeck.drivers.sim.clock import ManualClock

    settings = load_settings(BUILTIN_CONFIG, tmp_path_factory.mktemp("fuzz-cam"))
    with open_camera(settings.cameras["darkroom"], settings.driver_context(ManualClock())) as cam:
        yield cam


@given(document=st.one_of(schema2, schema1))
def test_a_preset_that_loads_is_applied_or_refused_with_a_reason(data_dir, darkroom, document):
    from camdeck.drivers.errors import ControlError
    from camdeck.drivers.recording.presets import BadPreset, PresetStore, apply_preset, check_preset

    store = PresetStore(data_dir)
    store.folder.mkdir(parents=True, exist_ok=True)
    (store.folder / "q.json").write_text(json.dumps(document))
    try:
        preset = store.load("q")
        check_preset(darkroom, preset)
        apply_preset(darkroom, preset)
    except (BadPreset, ControlError) as err:
        assert "fix:" in str(err) and len(str(err).splitlines()) == 1
