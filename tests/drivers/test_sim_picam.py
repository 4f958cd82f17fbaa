"""The simulated Pi cameras: Picamera2 controls change the picture and the frame rate as on the real thing."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, Capability
from camdeck.drivers.errors import CameraDisconnected, ControlError
from camdeck.drivers.registry import DriverContext, open_camera
from camdeck.drivers.sim.clock import ManualClock


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

    assert noise(1600, 10.0) > 2 * noise(16000, 1.0)     # IMX219's gain tops out at 10.67 (its table)


def test_frame_rate_follows_exposure_and_frame_duration_limits():
    with picam(controls={"ExposureTime": 50_000}) as cam:
        assert cam.frame_period_s == pytest.approx(0.05)
        cam.set_controls(ExposureTime=5000)
        assert cam.frame_period_s == pytest.approx(1 / 47.57, rel=1e-3)      # the cropped 1920x1080 mode's limit
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


# ---------------------------------------------------------------- sensor modes
@pytest.mark.parametrize("model, size, mode", [
    ("IMX219", (1920, 1080), (1920, 1080, 47.57)),     # the cropped 1080p mode, not 3280x2464 at 21 fps
    ("IMX219", (1280, 720), (1920, 1080, 47.57)),      # libcamera's score: 250 against 1558 for 1640x1232
    ("IMX219", (640, 480), (640, 480, 206.65)),
    ("IMX219", (1640, 1232), (1640, 1232, 41.85)),
    ("IMX219", (3280, 2464), (3280, 2464, 21.19)),
    ("IMX708", (1280, 720), (1536, 864, 120.13)),
    ("IMX708", (1920, 1080), (2304, 1296, 56.03)),
    ("IMX708", (4608, 2592), (4608, 2592, 14.35)),
    ("IMX477", (1920, 1080), (2028, 1080, 50.03)),
])
def test_sensor_mode_is_the_one_libcamera_picks(model, size, mode):
    from camdeck.drivers.sim.picam import SENSOR_MODES, pick_sensor_mode
    picked = pick_sensor_mode(SENSOR_MODES[model], size)
    assert (picked.width, picked.height, picked.fps) == mode


def test_1080p_imx219_runs_the_cropped_mode_and_its_k_is_the_sensor_centre_at_native_pitch():
    from camdeck.drivers.sim.sensor import sensor_spec
    with picam(resolution=(1920, 1080), controls={"ExposureTime": 5000, "AnalogueGain": 1.0}) as cam:
        assert tuple(cam.sensor_mode[:3]) == (1920, 1080, 47.57)
        assert cam.info().extra["sensor_mode"]["crop_limits"] == (680, 692, 1920, 1080)
        assert cam.controls()["ScalerCrop"].value == (680, 692, 1920, 1080)       # the mode's crop
        s = sensor_spec("IMX219")
        f = 0.5 * s.sensor_size[0] / np.tan(np.radians(s.hfov_deg) / 2)           # full-sensor focal, px
        K = cam.truth.K
        assert K == pytest.approx(np.array([[f, 0, 959.5], [0, f, 539.5], [0, 0, 1]]))
        # a point seen at sensor pixel (u, v) of the full array is at (u - 680, v - 692) here
        K_full = np.array([[f, 0, (3280 - 1) / 2], [0, f, (2464 - 1) / 2], [0, 0, 1]])
        X_cam = np.array([0.31, -0.17, 2.4])
        full = K_full @ X_cam
        here = K @ X_cam
        assert here[:2] / here[2] == pytest.approx(full[:2] / full[2] - (680, 692))
        hfov = np.degrees(2 * np.arctan(960 / f))
        assert hfov == pytest.approx(38.9, abs=0.1) and hfov < s.hfov_deg      # the crop narrows the view
        assert cam.frame_period_s == pytest.approx(1 / 47.57, rel=1e-3)
        stamps = [cam.capture().timestamp for _ in range(3)]
        assert np.diff(stamps).tolist() == [21_022_000, 21_022_000]
        with pytest.raises(ControlError, match="sensor mode's crop"):
            cam.set_controls(ScalerCrop=(0, 0, 1920, 1080))                   # outside the cropped mode


def test_cropped_binned_mode_scales_and_narrows_k_and_full_field_mode_keeps_the_view():
    from camdeck.drivers.sim.sensor import sensor_spec
    s = sensor_spec("IMX708")
    f_full = 0.5 * s.sensor_size[0] / np.tan(np.radians(s.hfov_deg) / 2)
    with picam(model="IMX708", resolution=(1280, 720)) as cam:
        assert tuple(cam.sensor_mode[:3]) == (1536, 864, 120.13)
        assert cam.controls()["ScalerCrop"].value == (768, 432, 3072, 1728)
        K = cam.truth.K
        assert K[0, 0] == pytest.approx(f_full * 1280 / 3072)
        assert K[:2, 2] == pytest.approx([639.5, 359.5])
        assert np.degrees(2 * np.arctan(640 / K[0, 0])) == pytest.approx(78.9, abs=0.1)
    with picam(model="IMX708", resolution=(1920, 1080)) as cam:
        assert tuple(cam.sensor_mode[:3]) == (2304, 1296, 56.03)
        assert cam.controls()["ScalerCrop"].value == (0, 0, 4608, 2592)
        assert np.degrees(2 * np.arctan(960 / cam.truth.K[0, 0])) == pytest.approx(s.hfov_deg)
        assert [m["size"] for m in cam.sensor_modes()] == [(1536, 864), (2304, 1296), (4608, 2592)]


def test_default_scaler_crop_trims_the_mode_to_the_output_aspect_ratio():
    from camdeck.drivers.sim.picam import SENSOR_MODES, default_scaler_crop, pick_sensor_mode
    mode = pick_sensor_mode(SENSOR_MODES["IMX219"], (2000, 1500))
    assert (mode.width, mode.height) == (3280, 2464)
    assert default_scaler_crop(mode, (2000, 1500)) == (0, 2, 3280, 2460)
    assert default_scaler_crop(SENSOR_MODES["IMX296"][0], (1280, 720)) == (0, 135, 1456, 819)


# ---------------------------------------------------------------- per-frame production
@pytest.mark.parametrize("numpy_lookup", [False, True])
def test_noisy_lookup_is_the_plain_numpy_expression_bit_for_bit(numpy_lookup):
    from camdeck.drivers.sim import sensor
    rng = np.random.default_rng(4)
    shape = (37, 1000, 3)          # more than one block, and a short last one
    mean = rng.uniform(-50.0, 4200.0, shape).astype(np.float32)      # below 0 and above the top too
    sigma = rng.uniform(0.0, 80.0, shape).astype(np.float32)
    noise = rng.standard_normal(mean.size, dtype=np.float32)
    lut = rng.integers(0, 256, 4096).astype(np.uint8)
    lut16 = None if numpy_lookup else sensor.lookup_table16(lut)
    got = sensor.noisy_lookup(mean, sigma, noise, lut, lut16)
    buf = noise.reshape(shape) * sigma
    buf += mean
    np.clip(buf, 0.0, 4095, out=buf)
    assert got.shape == shape and got.dtype == np.uint8
    assert np.array_equal(got, lut[buf.astype(np.uint16)])


@pytest.mark.parametrize("model", ["IMX219", "IMX708"])
def test_controls_asked_before_start_are_what_the_frames_then_carry(model):
    # controls() works out auto exposure and white balance without building the frame state
    # (the console asks every camera at start); the frames, made from the state, must agree.
    with picam(model=model) as cam:
        asked = {n: c.value for n, c in cam.controls().items() if n in ("ExposureTime", "AnalogueGain", "ColourGains")}
        assert not cam._states                                   # nothing frame-sized was kept
        meta = cam.capture().meta
        assert asked == {"ExposureTime": meta["ExposureTime"], "AnalogueGain": meta["AnalogueGain"],
                         "ColourGains": meta["ColourGains"]}
        assert asked["ColourGains"][0] != 1.0 and asked["ExposureTime"] > 0      # auto white balance ran
        assert cam.frame_period_s == meta["FrameDuration"] / 1e6


def test_defocus_blends_the_two_blur_levels_around_each_pixel_bit_for_bit():
    # defocus keeps two blur levels alive at a time; the picture must be the blend of every
    # pixel's two levels, as when all levels were made at once.
    from camdeck.drivers.sim.sensor import _DEFOCUS_LEVELS_PX, defocus, lens_blur
    rng = np.random.default_rng(3)
    rgb = rng.uniform(0.0, 1.0, (61, 83, 3)).astype(np.float32)
    depth = rng.uniform(0.2, 6.0, (61, 83)).astype(np.float32)
    depth[0, :5] = np.inf
    got = defocus(rgb, depth, 1.0, 40.0)
    levels = np.asarray(_DEFOCUS_LEVELS_PX, np.float32)
    with np.errstate(divide="ignore"):
        dioptre = np.where(np.isfinite(depth), 1.0 / depth, 0.0)
    sigma = np.minimum((np.abs(1.0 - dioptre) * 10.0).astype(np.float32), levels[-1])
    blurred = [lens_blur(rgb, float(s)) for s in levels]
    want = np.empty_like(rgb)
    for y, x in np.ndindex(sigma.shape):
        i = int(np.clip(np.searchsorted(levels, sigma[y, x]), 1, len(levels) - 1))
        frac = ((sigma[y, x:x + 1] - levels[i - 1]) / (levels[i] - levels[i - 1]))[:, None]
        want[y, x] = (blurred[i - 1][y, x:x + 1] * (1 - frac) + blurred[i][y, x:x + 1] * frac)[0]
    assert sigma.max() > 8.0                      # every level takes part
    assert np.array_equal(got, want)


def test_defocus_of_a_frame_needs_a_few_frames_of_memory_not_one_per_blur_level():
    # A full-HD IMX708 render through defocus briefly held every blur level and whole-frame
    # blend temporaries: the console's RSS peaked at ~350 MB for half a second when its probe
    # asked the still camera for its controls.
    import tracemalloc
    from camdeck.drivers.sim.sensor import defocus
    rng = np.random.default_rng(5)
    rgb = rng.uniform(0.0, 1.0, (540, 960, 3)).astype(np.float32)
    depth = np.linspace(0.2, 8.0, 540 * 960, dtype=np.float32).reshape(540, 960)   # every level
    tracemalloc.start()
    try:
        out = defocus(rgb, depth, 1.0, 40.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The result, two levels, the per-pixel maps and what OpenCV's widest blur takes for itself
    # (3.8 frames); every level at once, blended over the whole frame, was 10 frames.
    assert out.shape == rgb.shape
    assert peak <= 4.5 * rgb.nbytes, f"{peak / rgb.nbytes:.1f} frames"
