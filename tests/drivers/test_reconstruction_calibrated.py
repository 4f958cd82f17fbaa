"""Live reconstruction with cameras that know no pose (hardware): the poses come from stereo.npz.

The simulated pair is opened with its truth hidden, as a hardware pair would be; the file
holds the pair's true extrinsics, so the carve is checked against the scene's true
occupancy, expressed in the left camera's frame where the calibrated grid lives.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from camdeck.calibration.stereo import StereoCalibration, save_stereo
from camdeck.drivers.base import CameraSpec, RigSpec
from camdeck.drivers.reconstruction_source import RigPoseUnknown, open_stereo_source
from camdeck.drivers.registry import DriverContext, open_camera
from camdeck.drivers.sim.clock import ManualClock
from camdeck.drivers.sim.scene import LAB_CENTER, intrinsics_from_hfov
from camdeck.calibration.chessboard import Board
from camdeck.drivers.sim.board_render import render_board
from camdeck.drivers.sim.targets import BoardPose, PinholeView
from camdeck.fastcore.live import LiveReconstruction, ReconstructionSettings, prepare_view
from tests.drivers.asi_sdk_sim import SERIALS, SimKnobs, session_library

N = 40
SIZE = (960, 540)
RIG = RigSpec("pair", "stereo", ("left", "right"), {"baseline_mm": 100.0, "max_skew_ms": 5.0})


def specs() -> dict[str, CameraSpec]:
    return {n: CameraSpec(name=n, driver="sim", model="ASI662MC", serial=f"SIM-{n}", resolution=SIZE,
                          controls={"exposure_us": 10_000, "gain": 100}) for n in RIG.cameras}


class PoseUnknown:
    """A camera as hardware gives it: everything but the simulator's truth."""

    def __init__(self, cam) -> None:
        self._cam = cam

    def __getattr__(self, name: str):
        if name == "truth":
            raise AttributeError(name)
        return getattr(self._cam, name)


def hide_pose(spec, ctx):
    return PoseUnknown(open_camera(spec, ctx))


def ctx() -> DriverContext:
    return DriverContext(rigs={RIG.name: RIG}, seed=0, clock=ManualClock())


@pytest.fixture(scope="module")
def truth():
    """The pair's true left and right geometry (the same seed and placement as the test's pair)."""
    c = ctx()
    left, right = (open_camera(s, c) for s in specs().values())
    try:
        return left.truth, right.truth
    finally:
        left.close()
        right.close()


def calibrated_rig(tmp_path, truth, **options) -> RigSpec:
    path = tmp_path / "stereo.npz"
    save_stereo(path, StereoCalibration.from_world_poses(*truth))
    return dataclasses.replace(RIG, options={**RIG.options, "calibration": str(path), **options})


def kept_with_true_poses() -> float:
    """What the simulator's own world-frame poses keep of the objects from the same frames."""
    with open_stereo_source(RIG, specs(), ctx()) as source:
        g = source.geometry
        grid = LiveReconstruction(ReconstructionSettings(
            grid_size=N, voxel_size=1.0 / N, grid_center=tuple(g.grid_center), bayer=source.bayer,
            threshold=72, max_frames=2)).run(source).grid
        occupied = source.pair.left.truth.scene.occupancy(N, 1.0 / N, tuple(g.grid_center))
    return float((grid[occupied] > 0).mean())


def test_a_pair_without_poses_carves_with_the_calibration_in_the_left_cameras_frame(tmp_path, truth):
    left = truth[0]
    center_left = left.R @ np.asarray(LAB_CENTER) + np.asarray(left.t).reshape(3)
    rig = calibrated_rig(tmp_path, truth, grid_center_m=tuple(center_left))
    with open_stereo_source(rig, specs(), ctx(), open_camera=hide_pose) as source:
        g = source.geometry
        assert g.frame == "left camera" and g.undistort is None           # an ideal pinhole: no maps
        np.testing.assert_allclose(g.R[0], np.eye(3))
        np.testing.assert_allclose(g.t[0], 0.0)
        assert np.linalg.norm(g.t[1]) == pytest.approx(0.100, rel=1e-6)
        job = LiveReconstruction(ReconstructionSettings(
            grid_size=N, voxel_size=1.0 / N, grid_center=tuple(g.grid_center), bayer=source.bayer,
            threshold=72, max_frames=2))
        grid = job.run(source).grid
    # Voxel centres (DESIGN's convention) in the left camera's frame -> world -> the scene's truth.
    idx = np.stack(np.meshgrid(*[np.arange(N)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    centres_left = center_left + (idx - (N - 1) / 2) / N
    world = (centres_left - np.asarray(left.t).reshape(3)) @ left.R          # R^T (x - t), row-wise
    occupied = left.scene.contains(world).reshape(N, N, N)
    assert occupied.sum() > 500
    # Camera frames (noise, dark texture under the threshold) lose a few percent of the objects
    # even with the true poses; the calibrated grid must keep as much as they do.
    kept, reference = float((grid[occupied] > 0).mean()), kept_with_true_poses()
    assert reference > 0.9 and kept >= reference - 0.01
    assert (grid > 0).mean() < 0.8                                        # the background is carved


def test_calibrated_poses_project_world_points_where_the_true_cameras_see_them(tmp_path):
    """A toed-in pair (±6°) with different lenses: the left-camera-frame geometry built from
    stereo.npz must project every point exactly as the two true cameras do."""
    from camdeck.drivers.reconstruction_source import calibrated_geometry
    from camdeck.drivers.sim.placement import rotation_from_vector_deg

    size = (960, 540)
    left = PinholeView(intrinsics_from_hfov(60.0, size), np.zeros(5), rotation_from_vector_deg([2.0, 6.0, 1.0]),
                       np.array([0.3, -0.2, 1.0]), size)
    R_r = rotation_from_vector_deg([-1.0, -6.0, 0.5])
    centre_right = -left.R.T @ left.t + np.array([0.25, 0.0, 0.0])          # 250 mm to the side
    right = PinholeView(intrinsics_from_hfov(50.0, size), np.zeros(5), R_r, -R_r @ centre_right, size)
    path = tmp_path / "toed.npz"
    save_stereo(path, StereoCalibration.from_world_poses(left, right))
    g = calibrated_geometry(dataclasses.replace(RIG, options={**RIG.options, "calibration": str(path)}), size)
    world = np.random.default_rng(1).uniform([-1, -1, 3], [1, 1, 6], (50, 3))
    x_left = world @ left.R.T + left.t                       # the world as the left camera's frame
    for view, cam in ((0, left), (1, right)):
        ours = (x_left @ g.R[view].T + g.t[view]) @ g.K[view].T
        true = (world @ cam.R.T + cam.t) @ cam.K.T
        np.testing.assert_allclose(ours[:, :2] / ours[:, 2:], true[:, :2] / true[:, 2:], atol=1e-6)


def test_without_a_calibration_the_fix_names_the_config_key(truth):
    with pytest.raises(RigPoseUnknown) as caught:
        open_stereo_source(RIG, specs(), ctx(), open_camera=hide_pose)
    assert caught.value.bad_input and "rigs.pair.calibration" in str(caught.value)
    assert "camdeck calibrate stereo" in caught.value.fix


def test_a_missing_or_mismatched_calibration_file_is_bad_input(tmp_path, truth):
    missing = dataclasses.replace(RIG, options={**RIG.options, "calibration": str(tmp_path / "nope.npz")})
    with pytest.raises(RigPoseUnknown) as caught:
        open_stereo_source(missing, specs(), ctx(), open_camera=hide_pose)
    assert "rigs.pair.calibration" in str(caught.value) and "nope.npz" in str(caught.value)
    other_size = {n: dataclasses.replace(s, resolution=(640, 480)) for n, s in specs().items()}
    with pytest.raises(RigPoseUnknown) as caught:
        open_stereo_source(calibrated_rig(tmp_path, truth), other_size, ctx(), open_camera=hide_pose)
    assert "960x540" in str(caught.value) and "640x480" in str(caught.value)


def test_undistort_maps_turn_a_distorted_view_back_into_the_pinhole_one():
    import cv2

    size = (640, 480)
    K = intrinsics_from_hfov(70.0, size)
    dist = np.array([-0.28, 0.09, 0.0, 0.0, 0.0])
    pose = BoardPose(np.eye(3), np.array([-0.12, -0.09, 0.0]))
    board = Board(cols=9, rows=6, square_mm=30.0)
    R, t = np.eye(3), np.array([0.0, 0.0, 0.45])
    plain = dict(background=np.full((size[1], size[0], 3), 0.3, np.float32), noise_sigma=0.0)  # nothing in
    pinhole = render_board(PinholeView(K, np.zeros(5), R, t, size), board, pose, **plain)      # screen space
    distorted = render_board(PinholeView(K, dist, R, t, size), board, pose, **plain)
    maps = cv2.initUndistortRectifyMap(K, dist, None, K, size, cv2.CV_16SC2)
    gray = lambda img: prepare_view(img, K, bayer=None, factor=1, threshold=None)[0]  # noqa: E731
    fixed = prepare_view(distorted, K, bayer=None, factor=1, threshold=None, undistort=maps)[0]
    inner = (slice(60, 420), slice(80, 560))
    before = np.abs(gray(distorted)[inner].astype(int) - gray(pinhole)[inner]).mean()
    after = np.abs(fixed[inner].astype(int) - gray(pinhole)[inner]).mean()
    assert after < 0.2 * before                     # measured: 1.0 against 11.6 grey levels


# ---------------------------------------------------------------- the CLI on the simulated ASI SDK

@pytest.fixture
def zwo_config(tmp_path_factory, monkeypatch, workdir):
    """./config.toml whose stereo cameras are ZWO cameras on the simulated SDK (no pose, frame counters)."""
    from camdeck.drivers import zwo_sdk
    from tests.conftest import REPO

    lib = session_library(tmp_path_factory)
    monkeypatch.setenv("ZWO_ASI_LIB", str(lib))
    knobs = SimKnobs(lib)
    knobs.reset()
    text = (REPO / "config.toml").read_text()
    for sim_serial, serial in zip(("SIM662L0001", "SIM662R0002"), SERIALS):
        text = text.replace('driver = "sim"\nmodel = "ASI662MC"', 'driver = "zwoasi"\nmodel = "ASI662MC"', 1)
        text = text.replace(f'serial = "{sim_serial}"\nresolution = [1920, 1080]',
                            f'serial = "{serial}"\nresolution = [640, 480]')
    assert text.count('driver = "zwoasi"') == 2
    config = workdir / "config.toml"
    config.write_text(text)
    yield config
    zwo_sdk._IN_USE.clear()
    knobs.reset()


def _with_calibration(config, path) -> None:
    config.write_text(config.read_text().replace('# calibration = "stereo.npz"', f'calibration = "{path}"'))


def test_reconstruct_on_zwo_cameras_needs_and_uses_the_calibration(cli, zwo_config, workdir, truth):
    result = cli("reconstruct", "--rig", "asi-stereo", "--grid", "16", "--frames", "2", "--json")
    assert result.code == 2 and "rigs.asi-stereo.calibration" in result.err and len(result.err.splitlines()) == 1
    K = intrinsics_from_hfov(60.0, (640, 480))
    cal = StereoCalibration.from_extrinsics(K, np.zeros((1, 5)), K, np.zeros((1, 5)), np.eye(3),
                                            np.array([-100.0, 0.0, 0.0]), (640, 480))
    save_stereo(workdir / "stereo.npz", cal)
    _with_calibration(zwo_config, workdir / "stereo.npz")
    result = cli("reconstruct", "--rig", "asi-stereo", "--grid", "16", "--frames", "2", "--save-every", "1ms",
                 "--out", workdir / "grids", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["frame"] == "left camera" and report["frames"] == 2 and report["saved"]


def test_reconstruct_refuses_a_calibration_of_another_frame_size(cli, zwo_config, workdir, truth):
    save_stereo(workdir / "big.npz", StereoCalibration.from_world_poses(*truth))     # 960x540
    _with_calibration(zwo_config, workdir / "big.npz")
    result = cli("reconstruct", "--rig", "asi-stereo", "--grid", "16", "--frames", "1")
    assert result.code == 2 and "960x540" in result.err and "640x480" in result.err
