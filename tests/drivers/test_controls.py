"""Control tables: one table per model, and the simulated and real drivers accept what it lists."""
from __future__ import annotations

import pytest

from camdeck.drivers.base import CameraSpec
from camdeck.drivers.controls import PI_SENSOR_SIZES, check_controls, coerce, control_table
from camdeck.drivers.errors import ControlError
from camdeck.drivers.registry import DriverContext, open_camera
from camdeck.drivers.sim.clock import ManualClock

from . import fake_picamera2

# a value away from the default for every kind, per control of the IMX708 (the fullest table)
OFF_DEFAULT = {"AfMode": "Continuous", "AfRange": "Macro", "AfSpeed": "Fast", "AfWindows": [[100, 100, 400, 300]],
               "AwbMode": "Daylight", "AeMeteringMode": "Spot", "NoiseReductionMode": "HighQuality",
               "ExposureValue": 1.0, "LensPosition": 2.0}


def sim(model: str, controls: dict | None = None):
    spec = CameraSpec(name="t", driver="sim", model=model, resolution=(320, 180), controls=controls or {},
                      options={"camera_num": 0})
    return open_camera(spec, DriverContext(seed=0, clock=ManualClock()))


@pytest.mark.parametrize("model", sorted(PI_SENSOR_SIZES))
def test_sim_pi_camera_lists_exactly_its_models_table_with_kinds(model):
    table = control_table("sim", "picam", model)
    assert ("LensPosition" in table) == ("AfMode" in table) == (model == "IMX708")
    with sim(model) as cam:
        controls = cam.controls()
    assert set(controls) == set(table)
    assert controls["AfMode" if model == "IMX708" else "AwbMode"].kind == "enum"
    assert controls["AnalogueGain"].max == table["AnalogueGain"].max


def test_sim_stores_unsimulated_controls_and_says_so_in_the_frame_meta():
    with sim("IMX708", OFF_DEFAULT) as cam:
        values = {n: r.value for n, r in cam.controls().items()}
        meta = cam.capture().meta
    assert values["AfMode"] == "Continuous" and values["AfWindows"] == ((100, 100, 400, 300),)
    assert meta["AwbMode"] == "Daylight" and meta["ExposureValue"] == 1.0
    assert set(meta["not_simulated"]) == {"AfMode", "AfRange", "AfSpeed", "AfWindows", "AwbMode",
                                         "AeMeteringMode", "NoiseReductionMode"}


def test_exposure_value_raises_the_auto_exposure_level():
    def level(ev):
        with sim("IMX219", {"ExposureValue": ev}) as cam:
            return cam.capture().array.mean()
    assert level(1.0) > level(0.0) + 10


@pytest.mark.parametrize("name, value, problem", [
    ("ColourGains", [1.0], "pair"), ("ExposureTime", -1, "out of range"), ("AeEnable", 1, "true or false"),
    ("AfMode", "Sometimes", "not a value"), ("ScalerCrop", [0, 0, 99999, 10], "inside"),
    ("AfWindows", [], "list of 1 to 8"), ("Brightness", float("nan"), "not a number")])
def test_bad_values_name_the_control_and_the_range(name, value, problem):
    table = control_table("picamera2", "picam", "IMX708")
    with pytest.raises(ControlError) as err:
        coerce("t", table[name], value)
    assert problem in str(err.value) and name in str(err.value) and err.value.fix.startswith("use ")


def test_unknown_control_and_read_only_are_refused():
    asi = control_table("zwoasi", "asi", "ASI662MC")
    with pytest.raises(ControlError, match="no control 'Gain'"):
        check_controls("t", asi, {"Gain": 5})
    with pytest.raises(ControlError, match="read-only"):
        check_controls("t", asi, {"temperature_c": 5})
    assert check_controls("t", asi, {"bin": 2, "high_speed": True}) == {"bin": 2, "high_speed": True}
    assert control_table("onvif", "ptz", "PTZ-SIM") == {}
    with pytest.raises(KeyError):
        control_table("picamera2", "asi", "ASI662MC")


def test_real_pi_driver_sends_enums_as_libcamera_indices(monkeypatch):
    fake_picamera2.install(monkeypatch)
    from camdeck.drivers import picam
    try:
        spec = CameraSpec(name="af", driver="picamera2", model="IMX708", resolution=(640, 480),
                          controls={"AfMode": "Continuous"}, options={"camera_num": 1})
        with open_camera(spec, DriverContext()) as cam:
            assert cam.picamera2.camera_configuration()["controls"]["AfMode"] == 2
            assert cam.controls()["AfMode"].value == "Continuous"
            assert "AfSpeed" not in cam.controls()        # this libcamera does not advertise it
            with pytest.raises(ControlError, match="no control 'AfSpeed'"):
                cam.set_controls(AfSpeed="Fast")
    finally:
        picam._OPEN.clear()
