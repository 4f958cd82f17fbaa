"""The simulated ASI662MC behaves like the physics says: light, gain, white balance, noise, timing, faults."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.drivers.base import Camera, CameraSpec, Capability
from camdeck.drivers.errors import CameraDisconnected, CaptureTimeout, ControlError
from camdeck.drivers.registry import DriverContext, open_camera
from camdeck.drivers.sim.asi import ROW_TIME_HS_US, ROW_TIME_US
from camdeck.drivers.sim.clock import ManualClock
from camdeck.drivers.sim.sensor import bayer_sites

BLACK_DN = 4.0   # offset 8 -> 4 DN


def asi(clock=None, seed=0, resolution=(320, 240), controls=None, name="asi-t", **options):
    spec = CameraSpec(name=name, driver="sim", model="ASI662MC", serial=f"SIM-{name}", resolution=resolution,
                      controls=controls or {}, options=options)
    return open_camera(spec, DriverContext(seed=seed, clock=clock or ManualClock()))


def mean_frame(cam, n=4) -> np.ndarray:
    return np.mean([cam.capture().array.astype(np.float64) for _ in range(n)], axis=0)


def test_frames_are_raw8_rggb_of_the_configured_size():
    with asi() as cam:
        assert isinstance(cam, Camera)
        frame = cam.capture()
        assert frame.array.shape == (240, 320) and frame.array.dtype == np.uint8
        assert frame.format == "RAW8_RGGB" and frame.meta["exposure_us"] == 10_000
        info = cam.info()
        assert info.sensor_size == (1920, 1080) and info.output_size == (320, 240)
        assert Capability.RAW_BAYER in info.capabilities and Capability.ROI in info.capabilities
        assert cam.truth.image_size == (320, 240)
        cam.set_image_type("RAW16")
        assert cam.capture().array.dtype == np.uint16


def test_brightness_is_linear_in_exposure_and_in_gain():
    with asi(controls={"exposure_us": 2000, "gain": 100}) as cam:
        base = mean_frame(cam).mean() - BLACK_DN
        cam.set_controls(exposure_us=4000)
        double_exposure = mean_frame(cam).mean() - BLACK_DN
        cam.set_controls(exposure_us=2000, gain=160)        # +6 dB = x2
        double_gain = mean_frame(cam).mean() - BLACK_DN
    assert double_exposure / base == pytest.approx(2.0, rel=0.04)
    assert double_gain / base == pytest.approx(10 ** 0.3, rel=0.04)


def test_noise_grows_with_gain():
    def temporal_noise(gain, exposure_us):
        with asi(controls={"gain": gain, "exposure_us": exposure_us}) as cam:
            a, b = (cam.capture().array.astype(np.float64) for _ in range(2))
        return np.std(a - b) / np.sqrt(2)

    low, high = temporal_noise(0, 8000), temporal_noise(300, 250)    # about the same mean level
    assert high > 3 * low


def test_wb_r_raises_the_red_sites_only():
    with asi(controls={"exposure_us": 3000}) as cam:
        before = mean_frame(cam)
        cam.set_controls(wb_r=99)
        after = mean_frame(cam)
    sites = bayer_sites(*before.shape)
    red_ratio = (after[sites["R"]].mean() - BLACK_DN) / (before[sites["R"]].mean() - BLACK_DN)
    assert red_ratio == pytest.approx(99 / 52, rel=0.03)
    assert after[sites["G1"]].mean() == pytest.approx(before[sites["G1"]].mean(), rel=0.01)


def test_default_white_balance_keeps_grey_grey():
    with asi(controls={"exposure_us": 3000}) as cam:
        render = cam.render_truth()
        frame = mean_frame(cam) - BLACK_DN
    sites = bayer_sites(*frame.shape)
    radiance = render.rgb
    r = frame[sites["R"]].mean() / radiance[sites["R"] + (0,)].mean()
    g = frame[sites["G1"]].mean() / radiance[sites["G1"] + (1,)].mean()
    assert r == pytest.approx(g, rel=0.05)


@pytest.mark.parametrize("roi, rule, fix", [
    ((0, 0, 1001, 600), "width % 8 == 0", "1000"),
    ((0, 0, 1000, 601), "height % 2 == 0", "600"),
    ((1000, 0, 1000, 600), "inside the sensor", "x=920"),
    ((3, 0, 800, 600), "even", "x=2"),
])
def test_roi_rule_violations_name_the_rule_and_the_nearest_valid_values(roi, rule, fix):
    with asi() as cam:
        with pytest.raises(ControlError) as err:
            cam.set_roi(*roi)
    assert rule in str(err.value) and fix in str(err.value)


def test_bad_controls_are_refused_with_the_range_and_nothing_changes():
    with asi() as cam:
        with pytest.raises(ControlError, match="gain.*0 to 600"):
            cam.set_controls(exposure_us=5000, gain=999)
        assert cam.controls()["exposure_us"].value == 10_000
        with pytest.raises(ControlError, match="no control 'Gain'.*exposure_us"):
            cam.set_controls(Gain=5)
        with pytest.raises(ControlError, match="read-only"):
            cam.set_controls(temperature_c=10)


def test_config_controls_are_applied_at_open_and_bad_ones_name_the_key():
    with asi(controls={"gain": 250, "high_speed": True}) as cam:
        assert cam.controls()["gain"].value == 250 and cam.controls()["high_speed"].value is True
    with pytest.raises(ControlError, match="cameras.asi-t.controls"):
        asi(controls={"bandwidth": 10})


def test_frame_period_follows_exposure_rows_binning_and_high_speed():
    with asi(resolution=None, controls={"exposure_us": 1000, "high_speed": True, "bandwidth": 100}) as cam:
        assert cam.frame_period_s == pytest.approx(1080 * ROW_TIME_HS_US * 1e-6, rel=1e-3)   # ~107 fps
        cam.set_controls(high_speed=False)
        assert cam.frame_period_s == pytest.approx(1080 * ROW_TIME_US * 1e-6, rel=1e-3)
        cam.set_controls(bin=2)
        assert cam.get_roi()[2:] == (960, 540, 2)
        assert cam.frame_period_s == pytest.approx(540 * ROW_TIME_US * 1e-6, rel=1e-3)
        cam.set_roi(0, 0, 320, 240)
        cam.set_controls(exposure_us=50_000)
        assert cam.frame_period_s == pytest.approx(0.05)
        stamps = [cam.capture().timestamp for _ in range(3)]
    assert np.diff(stamps).tolist() == [50_000_000, 50_000_000]


def test_low_bandwidth_limits_the_frame_rate():
    with asi(resolution=None, controls={"exposure_us": 1000, "high_speed": True, "bandwidth": 40}) as cam:
        assert cam.frame_period_s == pytest.approx(1920 * 1080 / (380 * 0.4) * 1e-6, rel=1e-3)


def test_truth_intrinsics_follow_roi_and_binning():
    with asi(resolution=None) as cam:
        point = np.array([[0.1, 2.4, 1.1]])
        u_full = cam.truth.project(point)[0]
        cam.set_roi(100, 50, 640, 400, bin=2)
        u_roi = cam.truth.project(point)[0]
        assert cam.truth.image_size == (640, 400)
    assert u_roi == pytest.approx((u_full + 0.5) / 2 - 0.5 - np.array([100, 50]))


def test_a_slow_consumer_loses_frames_and_seq_shows_the_gap():
    clock = ManualClock()
    with asi(clock=clock, controls={"exposure_us": 10_000}) as cam:
        first = cam.capture()
        clock.advance(1.0)                       # 100 frame periods without reading
        late = cam.capture()
        newer = cam.capture()
        assert late.seq - first.seq - 1 == cam.dropped_frames > 90
        assert newer.seq == late.seq + 1         # the buffer held the next frame
        assert late.meta["dropped_frames"] == cam.dropped_frames


def test_sensor_warms_up_while_streaming():
    clock = ManualClock()
    with asi(clock=clock) as cam:
        cold = cam.capture().meta["temperature_c"]
        clock.advance(600.0)
        warm = cam.capture().meta["temperature_c"]
        assert warm > cold + 5
        assert cam.controls()["temperature_c"].value == pytest.approx(warm, abs=0.1)


def test_seeded_frames_are_reproducible_and_unseeded_are_not():
    def frames(seed):
        with asi(seed=seed) as cam:
            return [cam.capture() for _ in range(3)]

    a, b, c = frames(7), frames(7), frames(8)
    assert all(np.array_equal(x.array, y.array) and x.seq == y.seq for x, y in zip(a, b))
    assert not np.array_equal(a[1].array, c[1].array)
    assert not np.array_equal(frames(None)[0].array, frames(None)[0].array)


def test_periodic_capture_timeouts_from_the_config():
    with asi(fault_timeout_every=3) as cam:
        cam.capture(), cam.capture()
        with pytest.raises(CaptureTimeout, match="fix:"):
            cam.capture()
        assert cam.capture().seq >= 2


def test_a_disconnected_camera_fails_every_call_until_reopened():
    with asi(fault_disconnect_after=2) as cam:
        cam.capture(), cam.capture()
        with pytest.raises(CameraDisconnected):
            cam.capture()
        with pytest.raises(CameraDisconnected, match="reopen"):
            cam.set_controls(gain=10)
        with pytest.raises(CameraDisconnected):
            cam.info()
    with asi() as cam:       # reopened
        cam.inject_fault("timeout")
        with pytest.raises(CaptureTimeout):
            cam.capture()
        cam.inject_fault(None)
        cam.capture()
        cam.inject_fault("disconnect")
        with pytest.raises(CameraDisconnected):
            cam.capture()


def test_capture_times_out_when_the_exposure_is_longer_than_the_timeout():
    with asi(controls={"exposure_us": 2_000_000}) as cam:
        with pytest.raises(CaptureTimeout, match="timeout_s"):
            cam.capture(timeout_s=0.5)
        assert cam.capture().meta["exposure_us"] == 2_000_000     # the default timeout covers it



@pytest.mark.parametrize("dtype, top", [(np.uint8, 255.0), (np.uint16, 65535.0)])
def test_noisy_quantize_is_the_whole_frame_expression_bit_for_bit(dtype, top):
    # The ASI's frames are made in cache-sized blocks (no full-frame float32 work buffer kept per
    # camera); they must be the frames the whole-frame expression gave, value for value.
    from camdeck.drivers.sim.sensor import noisy_quantize
    rng = np.random.default_rng(7)
    shape = (300, 1001)            # more than one block, and a short last one
    mean = rng.uniform(-50.0, top + 400.0, shape).astype(np.float32)      # below 0 and above the top too
    sigma = rng.uniform(0.0, 80.0, shape).astype(np.float32)
    noise = rng.standard_normal(mean.size, dtype=np.float32)
    got = noisy_quantize(mean, sigma, noise, top, dtype)
    buf = noise.reshape(shape) * sigma
    buf += mean
    np.clip(buf, 0.0, top, out=buf)
    assert got.shape == shape and got.dtype == dtype
    assert np.array_equal(got, buf.astype(dtype))
