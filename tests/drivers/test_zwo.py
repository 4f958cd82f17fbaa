"""The ZWO driver, through the real zwoasi wrapper, against the simulated ASI SDK (asi_sim.c)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, Capability
from camdeck.drivers.errors import CameraDisconnected, CameraNotFound, CaptureTimeout, ControlError, DriverUnavailable
from camdeck.drivers.registry import DriverContext, open_camera
from camdeck.drivers import zwo_sdk
from tests.drivers.asi_sdk_sim import CLOSE, OPEN, SERIALS, SimKnobs, session_library

LEFT, RIGHT = SERIALS


@pytest.fixture
def asi_sim(tmp_path_factory, monkeypatch):
    """The simulator loaded through $ZWO_ASI_LIB, reset to two closed cameras on a virtual clock."""
    path = session_library(tmp_path_factory)
    monkeypatch.setenv("ZWO_ASI_LIB", str(path))
    knobs = SimKnobs(path)
    knobs.reset()
    yield knobs
    zwo_sdk._IN_USE.clear()
    knobs.reset()


def spec(serial: str = LEFT, name: str = "asi-left", resolution=(640, 480), **controls) -> CameraSpec:
    return CameraSpec(name=name, driver="zwoasi", model="ASI662MC", serial=serial, resolution=resolution,
                      controls={"exposure_us": 1000, "gain": 100, **controls})


def expected(frame, n: int, slot: int) -> np.ndarray:
    """The simulator's frame-counter pattern for this frame's ROI (see asi_sim.c)."""
    x0, y0, w, h = frame.meta["roi"]
    b = frame.meta["bin"]
    xs = (x0 + np.arange(w)) * b
    ys = (y0 + np.arange(h)) * b
    v = ys[:, None] + xs[None, :] + n + 64 * slot
    return (v % 4096) << 4 if frame.array.dtype == np.uint16 else v % 256


# ---------------------------------------------------------------- the library itself

def test_simulator_structs_match_zwoasi_ctypes_layouts(asi_sim):
    zwo_sdk.load_sdk()
    import zwoasi
    assert asi_sim.struct_sizes() == (ctypes.sizeof(zwoasi._ASI_CAMERA_INFO),
                                      ctypes.sizeof(zwoasi._ASI_CONTROL_CAPS), ctypes.sizeof(zwoasi._ASI_ID))


def test_zwoasi_public_api_enumerates_the_simulated_cameras(asi_sim):
    sdk = zwo_sdk.load_sdk()
    import zwoasi
    assert zwoasi.get_num_cameras() == 2
    assert zwoasi.list_cameras() == ["ZWO ASI662MC", "ZWO ASI662MC"]
    assert [d.serial for d in zwo_sdk.list_devices(sdk)] == [LEFT, RIGHT]


# ---------------------------------------------------------------- opening by serial

def test_identical_cameras_are_told_apart_by_serial(asi_sim):
    ctx = DriverContext()
    with open_camera(spec(RIGHT, "asi-right"), ctx) as right, open_camera(spec(LEFT), ctx) as left:
        assert right.info().serial == RIGHT and right.info().extra["camera_id"] == 1
        assert left.info().serial == LEFT and left.info().extra["camera_id"] == 0
        fr, fl = right.capture(), left.capture()
        assert np.array_equal(fr.array, expected(fr, 0, slot=1))
        assert np.array_equal(fl.array, expected(fl, 0, slot=0))


def test_closing_one_camera_leaves_the_other_running(asi_sim):
    ctx = DriverContext()
    with open_camera(spec(LEFT), ctx) as left:
        with open_camera(spec(RIGHT, "asi-right"), ctx) as right:
            right.capture()
        assert left.capture().seq == 0
        assert left.capture().seq == 1


def test_camera_opens_by_serial_when_its_index_and_id_differ(asi_sim):
    asi_sim.unplug(0)   # the right camera is now index 0 but keeps CameraID 1
    with open_camera(spec(RIGHT, "asi-right"), DriverContext()) as cam:
        frame = cam.capture()
        assert cam.info().extra["camera_id"] == 1
        assert np.array_equal(frame.array, expected(frame, 0, slot=1))


def test_unknown_serial_names_the_connected_ones(asi_sim):
    with pytest.raises(CameraNotFound) as err:
        open_camera(spec("0123456789ABCDEF"), DriverContext())
    assert LEFT in str(err.value) and RIGHT in str(err.value)
    assert "cameras.asi-left.serial" in err.value.fix


def test_no_camera_connected_is_a_clear_error(asi_sim):
    asi_sim.unplug(0)
    asi_sim.unplug(1)
    with pytest.raises(CameraNotFound) as err:
        open_camera(spec(), DriverContext())
    assert "sees no ZWO camera" in str(err.value) and "03c3" in err.value.fix


def test_enumeration_closes_the_cameras_it_only_looked_at(asi_sim):
    with open_camera(spec(LEFT), DriverContext()) as cam:
        assert asi_sim.counter(1, OPEN) == asi_sim.counter(1, CLOSE) == 1
        closes = asi_sim.counter(0, CLOSE)
        zwo_sdk.list_devices(zwo_sdk.load_sdk())      # must not close the left camera we hold
        assert asi_sim.counter(0, CLOSE) == closes
        assert asi_sim.counter(1, OPEN) == asi_sim.counter(1, CLOSE) == 2
        assert cam.capture().seq == 0


# ---------------------------------------------------------------- a missing SDK

def test_missing_library_at_zwo_asi_lib_names_the_fix(asi_sim, monkeypatch, tmp_path):
    monkeypatch.setenv("ZWO_ASI_LIB", str(tmp_path / "nope" / "libASICamera2.so"))
    with pytest.raises(DriverUnavailable) as err:
        open_camera(spec(), DriverContext())
    assert "ZWO_ASI_LIB" in str(err.value) and "unset it" in err.value.fix


def test_no_library_anywhere_says_how_to_install_it(asi_sim, monkeypatch):
    monkeypatch.delenv("ZWO_ASI_LIB")
    monkeypatch.setattr(zwo_sdk, "STANDARD_DIRS", ())
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    with pytest.raises(DriverUnavailable) as err:
        open_camera(spec(), DriverContext())
    assert "not installed" in str(err.value) and "ldconfig" in err.value.fix


def test_a_file_that_is_not_the_sdk_is_refused(asi_sim, monkeypatch, tmp_path):
    bogus = tmp_path / "libASICamera2.so"
    bogus.write_text("not a shared library")
    monkeypatch.setenv("ZWO_ASI_LIB", str(bogus))
    with pytest.raises(DriverUnavailable) as err:
        open_camera(spec(), DriverContext())
    assert "cannot load" in str(err.value)


def test_a_library_without_the_sdk_functions_is_refused(asi_sim, monkeypatch, tmp_path):
    import subprocess
    source = tmp_path / "empty.c"
    source.write_text("int not_the_asi_sdk(void) { return 0; }\n")
    lib = tmp_path / "libASICamera2.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True, timeout=60)
    monkeypatch.setenv("ZWO_ASI_LIB", str(lib))
    with pytest.raises(DriverUnavailable) as err:
        open_camera(spec(), DriverContext())
    assert "is not the ZWO ASI SDK" in str(err.value)


# ---------------------------------------------------------------- ROI, binning, formats

def test_roi_is_centred_and_frames_have_its_shape(asi_sim):
    with open_camera(spec(resolution=(640, 480)), DriverContext()) as cam:
        frame = cam.capture()
        assert frame.array.shape == (480, 640) and frame.array.dtype == np.uint8
        assert frame.meta["roi"] == (640, 300, 640, 480) and frame.format == "RAW8_RGGB"
        assert np.array_equal(frame.array, expected(frame, 0, slot=0))


def test_binning_keeps_the_field_of_view_under_the_sdk_rules(asi_sim):
    with open_camera(spec(resolution=(1920, 1080)), DriverContext()) as cam:
        cam.start()
        cam.set_controls(bin=2)
        frame = cam.capture()
        assert frame.array.shape == (540, 960) and frame.meta["bin"] == 2
        assert np.array_equal(frame.array, expected(frame, 0, slot=0))


def test_raw16_frames_are_12_bit_msb_aligned(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        cam.set_controls(format="RAW16")
        frame = cam.capture()
        assert frame.array.dtype == np.uint16 and frame.format == "RAW16_RGGB"
        assert cam.info().pixel_format == "RAW16_RGGB"
        assert np.array_equal(frame.array, expected(frame, 0, slot=0))


def test_explicit_roi_position_is_honoured(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        cam.set_controls(roi=(16, 8, 64, 32))
        frame = cam.capture()
        assert frame.meta["roi"] == (16, 8, 64, 32)
        assert int(frame.array[0, 0]) == (16 + 8) % 256


@pytest.mark.parametrize("roi, fix", [((0, 0, 644, 480), "640x480"), ((0, 0, 640, 481), "640x480"),
                                      ((1800, 0, 640, 480), "x from 0 to 1280")])
def test_roi_the_sdk_would_reject_is_refused_with_the_fix(asi_sim, roi, fix):
    with open_camera(spec(), DriverContext()) as cam:
        with pytest.raises(ControlError) as err:
            cam.set_controls(roi=roi)
        assert fix in err.value.fix
        assert cam.capture().array.shape == (480, 640)   # the camera still works


def test_configured_resolution_larger_than_the_sensor_is_refused(asi_sim):
    with pytest.raises(ControlError) as err:
        open_camera(spec(resolution=(1928, 1080)), DriverContext())
    assert "1920" in err.value.fix
    assert not zwo_sdk._IN_USE          # the half-opened camera was released


def test_unsupported_bin_is_refused(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        with pytest.raises(ControlError) as err:
            cam.set_controls(bin=5)
        assert "1, 2, 3, 4" in err.value.fix


# ---------------------------------------------------------------- controls

def test_controls_are_applied_and_read_back(asi_sim):
    with open_camera(spec(wb_r=60, wb_b=80, offset=10, high_speed=True, bandwidth=90, gamma=40), DriverContext()) as cam:
        cam.set_controls(exposure_us=2500, gain=200)
        c = cam.controls()
        assert (c["exposure_us"].value, c["gain"].value, c["wb_r"].value, c["wb_b"].value) == (2500, 200, 60, 80)
        assert (c["offset"].value, c["high_speed"].value, c["bandwidth"].value, c["gamma"].value) == (10, True, 90, 40)
        assert c["gain"].min == 0 and c["gain"].max == 600
        assert c["temperature_c"].value == pytest.approx(25.3) and not c["temperature_c"].writable
        info = cam.info()
        assert Capability.HIGH_SPEED in info.capabilities and Capability.TEMPERATURE in info.capabilities
        frame = cam.capture()
        assert frame.meta["exposure_us"] == 2500 and frame.meta["temperature_c"] == pytest.approx(25.3)


def test_control_out_of_range_names_the_range(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        with pytest.raises(ControlError) as err:
            cam.set_controls(gain=601)
        assert "0 to 600" in err.value.fix
        with pytest.raises(ControlError) as err:
            cam.set_controls(shutter=1)
        assert "exposure_us" in err.value.fix


def test_auto_exposure_where_the_sdk_supports_it(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        cam.set_controls(exposure_us="auto")
        assert cam.controls()["exposure_us"].value == "auto"
        with pytest.raises(ControlError):
            cam.set_controls(offset="auto")


# ---------------------------------------------------------------- video, drops, timeouts

def test_frames_count_up_and_drops_show_as_gaps(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        frames = [cam.capture() for _ in range(3)]
        assert [f.seq for f in frames] == [0, 1, 2]
        asi_sim.drop_frames(0, 3)
        frame = cam.capture()
        assert frame.seq == 6 and cam.dropped_frames == 3 and frame.meta["dropped_frames"] == 3
        assert np.array_equal(frame.array, expected(frame, 6, slot=0))


def test_read_timeout_is_twice_the_exposure_plus_500_ms(asi_sim):
    with open_camera(spec(exposure_us=20000), DriverContext()) as cam:
        assert cam.timeout_ms() == 540
        assert cam.capture().meta["timeout_ms"] == 540


@pytest.mark.parametrize("fault, step", [(1, "flush"), (-1, "restart_video"), (-2, "reopen")])
def test_recovery_ladder_brings_frames_back(asi_sim, fault, step):
    with open_camera(spec(resolution=(320, 240), gain=150), DriverContext()) as cam:
        cam.capture()
        asi_sim.timeouts(0, fault)
        frame = cam.capture()
        assert frame.meta["recovered"] == step and cam.recoveries == (step,)
        assert frame.array.shape == (240, 320)                 # ROI restored after a reopen
        assert cam.controls()["gain"].value == 150             # controls restored too
        assert cam.capture().meta["recovered"] is None


def test_camera_that_never_answers_ends_in_a_capture_timeout(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        asi_sim.timeouts(0, -3)
        with pytest.raises(CaptureTimeout) as err:
            cam.capture()
        assert "USB3" in err.value.fix


def test_unplugged_during_capture_is_a_disconnect_not_a_hang(asi_sim):
    cam = open_camera(spec(), DriverContext())
    cam.capture()
    asi_sim.unplug(0)
    with pytest.raises(CameraDisconnected) as err:
        cam.capture()
    assert "reconnect" in err.value.fix
    cam.close()                                              # closing a removed camera still works
    assert not zwo_sdk._IN_USE


def test_replugged_camera_is_reopened_by_serial(asi_sim):
    with open_camera(spec(), DriverContext()) as cam:
        cam.capture()
        asi_sim.unplug(0)
        asi_sim.plug(0)
        frame = cam.capture()
        assert frame.meta["recovered"] == "reopen"
        assert np.array_equal(frame.array, expected(frame, 0, slot=0))


def test_real_time_pacing_delivers_frames_in_order(asi_sim):
    asi_sim.time_scale(1.0)      # frames pace at the frame interval (1 ms here); nothing timed is asserted
    with open_camera(spec(resolution=(64, 32), exposure_us=1000), DriverContext()) as cam:
        frames = [cam.capture() for _ in range(3)]
        assert [f.seq for f in frames] == sorted({f.seq for f in frames})
        assert frames[0].timestamp < frames[1].timestamp < frames[2].timestamp
        n = [int(f.array[0, 0]) - int(frames[0].array[0, 0]) for f in frames]
        assert [f.seq - frames[0].seq for f in frames] == [v % 256 for v in n]


def test_stereo_pair_captures_from_two_threads(asi_sim):
    import threading
    ctx, results = DriverContext(), {}
    with open_camera(spec(LEFT), ctx) as left, open_camera(spec(RIGHT, "asi-right"), ctx) as right:
        def grab(cam, slot):
            results[slot] = [cam.capture() for _ in range(5)]
        threads = [threading.Thread(target=grab, args=(c, s)) for c, s in ((left, 0), (right, 1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    for slot, frames in results.items():
        assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
        assert all(np.array_equal(f.array, expected(f, f.seq, slot)) for f in frames)


@pytest.mark.hardware
def test_real_camera_through_the_installed_sdk():
    """On a machine with the ASI SDK and a camera: pytest --hardware tests/drivers/test_zwo.py."""
    devices = zwo_sdk.list_devices(zwo_sdk.load_sdk())
    assert devices, "connect a ZWO camera"
    with open_camera(spec(devices[0].serial, resolution=(640, 480)), DriverContext()) as cam:
        frames = [cam.capture() for _ in range(3)]
        assert all(f.array.shape == (480, 640) for f in frames)
        assert frames[0].seq < frames[1].seq < frames[2].seq
