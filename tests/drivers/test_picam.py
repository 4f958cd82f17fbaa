"""The Picamera2 driver against the Picamera2 test double (tests/drivers/fake_picamera2.py).

What this verifies: the driver's use of the Picamera2 API as the double models it
(names, signatures, stream layouts, errors). It does not verify libcamera or a sensor:
that needs a Raspberry Pi (the `hardware` marker).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, Capability
from camdeck.drivers.errors import CameraNotFound, CaptureTimeout, ControlError, DriverError, DriverUnavailable
from camdeck.drivers.registry import DriverContext, open_camera
from tests.drivers import fake_picamera2


@pytest.fixture
def rig(monkeypatch):
    rig = fake_picamera2.install(monkeypatch)
    yield rig
    from camdeck.drivers import picam as _picam
    _picam._OPEN.clear()


def spec(name="lightroom", model="IMX219", num=0, resolution=(640, 480), **controls) -> CameraSpec:
    return CameraSpec(name=name, driver="picamera2", model=model, resolution=resolution,
                      controls=dict(controls), options={"camera_num": num})


def test_without_picamera2_the_driver_says_it_needs_a_pi(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)    # import fails as on a laptop
    with pytest.raises(DriverUnavailable) as err:
        open_camera(spec(), DriverContext())
    assert "python3-picamera2" in err.value.fix


def test_two_cameras_open_each_on_its_connector(rig):
    with open_camera(spec(), DriverContext()) as a, open_camera(spec("darkroom", "IMX708", 1), DriverContext()) as b:
        assert a.info().extra["sensor"] == "imx219" and b.info().extra["sensor"] == "imx708_wide_noir"
        assert Capability.FOCUS in b.info().capabilities and Capability.FOCUS not in a.info().capabilities
        assert Capability.HW_ENCODER in a.info().capabilities
        assert a.capture().array.shape == (480, 640, 3)


def test_one_instance_per_camera(rig):
    with open_camera(spec(), DriverContext()):
        with pytest.raises(DriverError) as err:
            open_camera(spec("again"), DriverContext())
        assert "one Picamera2 per camera" in err.value.fix
    with open_camera(spec("again"), DriverContext()):     # free again once closed
        pass


def test_camera_held_by_another_program_is_reported(rig):
    rig.acquired.add(0)                                     # e.g. rpicam-vid holds it
    with pytest.raises(CameraNotFound) as err:
        open_camera(spec(), DriverContext())
    assert "another program" in err.value.fix


def test_missing_second_camera_names_the_connectors(rig):
    with pytest.raises(CameraNotFound) as err:
        open_camera(spec("third", num=2), DriverContext())
    assert "0..1" in err.value.fix


def test_no_camera_at_all(monkeypatch):
    fake_picamera2.install(monkeypatch, models=())
    with pytest.raises(CameraNotFound) as err:
        open_camera(spec(), DriverContext())
    assert "rpicam-hello --list-cameras" in err.value.fix


def test_wrong_sensor_on_the_connector(rig):
    with pytest.raises(CameraNotFound) as err:
        open_camera(spec(model="IMX708", num=0), DriverContext())
    assert "imx219" in str(err.value)


def test_configured_controls_reach_the_camera_under_picamera2_names(rig):
    with open_camera(spec(ExposureTime=20000, AnalogueGain=2.0, AwbEnable=False, ColourGains=[1.5, 2.0]),
                     DriverContext()) as cam:
        cam.set_controls(exposure_us=5000, gain=4, FrameDurationLimits=(33333, 33333))
        frame = cam.capture()
        assert frame.meta["exposure_us"] == 5000 and frame.meta["gain"] == 4.0
        assert cam.picamera2.controls_set["ColourGains"] == (1.5, 2.0)
        assert cam.controls()["ExposureTime"].value == 5000


@pytest.mark.parametrize("controls, fix", [({"AnalogueGain": 99.0}, "1 to 16"),
                                           ({"LensPosition": 1.0}, "ExposureTime"),
                                           ({"ScalerCrop": (0, 0, 9999, 10)}, "inside"),
                                           ({"AeEnable": 1}, "true or false")])
def test_controls_the_camera_would_reject(rig, controls, fix):
    with open_camera(spec(), DriverContext()) as cam:
        with pytest.raises(ControlError) as err:
            cam.set_controls(**controls)
        assert fix in err.value.fix


def test_lens_position_on_the_autofocus_camera(rig):
    with open_camera(spec("darkroom", "IMX708", 1, LensPosition=2.5), DriverContext()) as cam:
        assert cam.capture().meta["lens_position"] == 2.5


def test_frames_are_bgr_with_sensor_timestamps_and_gaps(rig):
    with open_camera(spec(), DriverContext()) as cam:
        f0, f1 = cam.capture(), cam.capture()
        assert f0.format == "BGR" and f0.array.dtype == np.uint8
        assert (f0.seq, f1.seq) == (0, 1) and f1.timestamp > f0.timestamp
        rig.tick(0, 4)                                       # 4 frames nobody read; the last one is queued
        f2 = cam.capture()
        assert f2.seq == 5 and cam.dropped_frames == 3


def test_preview_stream_is_small_rgb(rig):
    with open_camera(spec(resolution=(1280, 720)), DriverContext()) as cam:
        frame = cam.preview()
        assert frame.array.shape == (180, 320, 3) and frame.format == "RGB"


def test_stalled_camera_times_out_instead_of_hanging(rig):
    with open_camera(spec(), DriverContext()) as cam:
        cam.capture()
        rig.stall(0)
        with pytest.raises(CaptureTimeout) as err:
            cam.capture(timeout_s=0.5)
        assert "ribbon cable" in err.value.fix


def test_sensor_modes_and_selecting_one(rig):
    with open_camera(spec(), DriverContext()) as cam:
        modes = cam.sensor_modes()
        assert modes[2]["size"] == (1920, 1080) and modes[2]["bit_depth"] == 10
        cam.start()
        cam.select_sensor_mode(2)
        assert cam.picamera2.camera_configuration()["sensor"] == {"output_size": (1920, 1080), "bit_depth": 10}
        assert cam.started and cam.capture().array.shape == (480, 640, 3)
        with pytest.raises(ControlError):
            cam.select_sensor_mode(9)


def test_h264_recording_with_timestamps(rig, tmp_path):
    video, pts = tmp_path / "s_camera_1.h264", tmp_path / "s_camera_1.pts"
    with open_camera(spec(), DriverContext()) as cam:
        cam.start_recording(video, pts_path=pts, bitrate=4_000_000)
        assert cam.recording
        rig.tick(0, 5)
        cam.capture()                                       # frames keep flowing to captures while recording
        cam.stop_recording()
        rig.tick(0, 2)                                      # after stop: nothing more is written
    data = video.read_bytes()
    assert data.startswith(b"\x00\x00\x00\x01\x67") and data.count(b"\x00\x00\x00\x01\x65") == 1
    assert data.count(b"\x00\x00\x00\x01\x41") == 4 and b"frame4" in data and b"frame5" not in data
    stamps = [float(line) for line in pts.read_text().split()]
    assert len(stamps) == 5 and stamps == sorted(stamps)


def test_close_stops_a_running_recording(rig, tmp_path):
    cam = open_camera(spec(), DriverContext())
    cam.start_recording(tmp_path / "a.h264")
    cam.close()
    assert not cam.picamera2.encoders and not cam.picamera2.is_open


def test_the_recording_adapter_reaches_the_hardware_encoder(rig, tmp_path):
    from camdeck.drivers.recording import encoders

    with open_camera(spec(), DriverContext()) as cam:
        assert encoders.hardware_encoder_for(cam) is cam.picamera2


@pytest.mark.hardware
def test_real_pi_camera(tmp_path):
    """On a Raspberry Pi with a camera: pytest --hardware tests/drivers/test_picam.py."""
    picamera2 = pytest.importorskip("picamera2")
    model = picamera2.Picamera2.global_camera_info()[0]["Model"].split("_")[0].upper()
    with open_camera(spec(model=model), DriverContext()) as cam:
        assert cam.capture().array.shape == (480, 640, 3)
        cam.start_recording(tmp_path / "v.h264", pts_path=tmp_path / "v.pts")
        for _ in range(10):
            cam.capture()
        cam.stop_recording()
    assert (tmp_path / "v.h264").read_bytes().startswith(b"\x00\x00\x00\x01")
