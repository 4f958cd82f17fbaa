"""The simulated Pi cameras: Picamera2 controls change the picture and the frame rate as on the real thing."""
from __future__ import annotations

import numpy as np
import pytest

from drivers.base import CameraSpec, Capability
from drivers.errors import CameraDisconnected, ControlError
from drivers.registry import DriverContext, open_camera
from drivers.sim.clock import ManualClock


def picam(model="IMX219", resolution=(320, 180), controls=None, clock=None, seed=0, name="pi-t", **options):
    spec = CameraSpec(name=name, driver="sim", model=model, resolution=resolution,
                      controls=controls or {}, options={"camera_num": 0, **options})
    return open_camera(spec, DriverContext(seed=seed, clock=clock or ManualClock()))


def laplacian_energy(gray: np.ndarray, mask: np.ndarray) -> float:
    g = gray.astype(np.float64)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.mean(lap[mask[1:-1, 1:-1]] ** 2))


def test_frames_are_rgb_uint8_in_r_g_b_order():
    with picam(controls={"ExposureTime": 20000, "AnalogueGain": 2.0}) as cam:
        frame = cam.capture()
        assert frame.array.shape == (180, 320, 3) and frame.array.dtype == np.uint8
        assert frame.format == "RGB" and frame.meta["ExposureTime"] == 20000
        info = cam.info()
        assert info.output_size == (320, 180) and Capability.RGB in info.capabilities
        assert Capability.FOCUS not in info.capabilities
        # R, G, B order: a red-only colour gain turns the picture red in channel 0
        cam.set_controls(ColourGains=(4.0, 0.5))
        reddish = cam.capture().array.reshape(-1, 3).mean(axis=0)
        assert reddish[0] > reddish[1] > reddish[2]


def test_exposure_and_gain_brighten_and_auto_exposure_finds_a_level():
    with picam(controls={"ExposureTime": 5000, "AnalogueGain": 1.0}) as cam:
        dark = cam.capture().array.mean()
        cam.set_controls(ExposureTime=10000)
        brighter = cam.capture().array.mean()
        cam.set_controls(AnalogueGain=2.0)
        brightest = cam.capture().array.mean()
        assert dark < brighter < brightest
        assert cam.controls()["AeEnable"].value is False    # manual values switched AE off
        cam.set_controls(AeEnable=True)
        auto = cam.capture()
        assert 60 < auto.array.mean() < 200 and auto.meta["ExposureTime"] != 10000


def test_noise_grows_with_analogue_gain():
    def noise(exposure_us, gain):
        with picam(controls={"ExposureTime": exposure_us, "AnalogueGain": gain}) as cam:
            a, b = (cam.capture().array.astype(np.float64) for _ in range(2))
        return np.std(a - b)

    assert noise(1000, 16.0) > 2 * noise(16000, 1.0)


def test_frame_rate_follows_exposure_and_frame_duration_limits():
    with picam(controls={"ExposureTime": 50_000}) as cam:
        assert cam.frame_period_s == pytest.approx(0.05)
        cam.set_controls(ExposureTime=5000)
        assert cam.frame_period_s == pytest.approx(1 / 41.85, rel=1e-3)      # the 1640x1232 mode's limit
        cam.set_controls(FrameDurationLimits=(33333, 33333))
        stamps = [cam.capture().timestamp for _ in range(3)]
        assert np.diff(stamps).tolist() == [33_333_000, 33_333_000]
        cam.set_controls(ExposureTime=100_000)                               # longer than the frame allows
        assert cam.capture().meta["ExposureTime"] == 33333
        with pytest.raises(ControlError, match="min > max"):
            cam.set_controls(FrameDurationLimits=(40000, 30000))


def test_lens_position_brings_the_objects_into_focus():
    with picam(model="IMX708", resolution=(480, 270), controls={"ExposureTime": 20000, "AnalogueGain": 1.0,
                                                                   "Sharpness": 0.0}) as cam:
        assert Capability.FOCUS in cam.info().capabilities
        render = cam.render_truth()
        focus_d = 1.0 / float(np.median(render.depth[render.object_mask]))
        energy = {}
        for lens in (focus_d, 15.0):        # in focus vs focused at 7 cm
            cam.set_controls(LensPosition=lens)
            frames = [cam.capture().array.mean(axis=2) for _ in range(3)]
            energy[lens] = laplacian_energy(np.mean(frames, axis=0), render.object_mask)
        assert energy[focus_d] > 2 * energy[15.0]


def test_lens_position_is_refused_on_a_fixed_focus_camera():
    with picam(model="IMX219") as cam:
        with pytest.raises(ControlError, match="no control 'LensPosition'"):
            cam.set_controls(LensPosition=2.0)


def test_saturation_brightness_and_contrast_act_in_the_expected_direction():
    with picam(controls={"ExposureTime": 20000, "AnalogueGain": 2.0}) as cam:
        normal = cam.capture().array.astype(np.float64)
        cam.set_controls(Saturation=0.0)
        grey = cam.capture().array.astype(np.float64)
        cam.set_controls(Saturation=1.0, Brightness=0.2)
        bright = cam.capture().array.astype(np.float64)
        cam.set_controls(Brightness=0.0, Contrast=2.0)
        contrasty = cam.capture().array.astype(np.float64)
    chroma = lambda img: np.abs(img - img.mean(axis=2, keepdims=True)).mean()  # noqa: E731
    assert chroma(grey) < 0.3 * chroma(normal)
    assert bright.mean() > normal.mean() + 30
    assert contrasty.std() > 1.5 * normal.std()


def test_scaler_crop_zooms_and_the_true_k_follows():
    with picam(controls={"ExposureTime": 20000}) as cam:
        K_full = cam.truth.K
        x, y, w, h = cam.controls()["ScalerCrop"].value
        cam.set_controls(ScalerCrop=(x + w // 4, y + h // 4, w // 2, h // 2))
        K_zoom = cam.truth.K
        assert K_zoom[0, 0] == pytest.approx(2 * K_full[0, 0], rel=1e-3)
        assert K_zoom[:2, 2] == pytest.approx(K_full[:2, 2], abs=1.0)
        assert cam.capture().meta["ScalerCrop"] == (x + w // 4, y + h // 4, w // 2, h // 2)
        with pytest.raises(ControlError, match="ScalerCrop.*inside"):
            cam.set_controls(ScalerCrop=(3000, 0, 1000, 1000))


def test_shared_timing_machinery_drops_frames_and_reproduces_seeded_frames():
    clock = ManualClock()
    with picam(clock=clock) as cam:
        cam.capture()
        clock.advance(0.5)
        late = cam.capture()
        assert cam.dropped_frames > 5 and late.seq == cam.dropped_frames + 1
    with picam(seed=3) as a, picam(seed=3) as b:
        assert np.array_equal(a.capture().array, b.capture().array)


def test_picam_fault_injection_disconnects():
    with picam(fault_disconnect_after=1) as cam:
        cam.capture()
        with pytest.raises(CameraDisconnected):
            cam.capture()
