"""Accuracy report: every accuracy figure of camdeck, measured against the simulator's ground truth.

    .venv/bin/python benchmarks/accuracy_report.py [--json] [--section carving|calibration|ptz ...]

The accuracy tests assert thresholds; this report prints the measured figures themselves (for
release and issue notes), each with its target and PASS/FAIL. It uses the library's own
functions and the very setups of the tests (their helpers are imported from tests/):

carving (fastcore; tests/fastcore/test_accuracy.py, test_backends.py)
  - IoU of the carved grid (> 0.5) with the lab scene's true occupancy (48^3, 1/48 m voxels),
    8 silhouettes (480x270) from a ring around the objects, per backend       target >= 0.8
  - fraction of truly occupied voxels kept (> 0) by the simulated stereo pair's two
    silhouettes (960x540) at their true poses, per backend                     target >= 99 %
  - per backend (cython, numpy, torch CPU): fraction of voxels differing from
    fastcore.reference (worst case over the test_backends cases and the two
    lab-scene problems above), and whether every difference is on a pixel
    boundary                                                                  target <= 0.1 %
calibration (calibration; tests/calibration/test_intrinsics.py, test_stereo.py, test_depth.py)
  - fx, fy, cx, cy relative error and RMS reprojection error from 20 views: the
    simulated ASI camera (RAW8 Bayer, 960x540) and the distorting lens       target < 0.5 %, < 0.3 px
  - stereo baseline error (and relative rotation error) from 15 simulated
    ASI pairs                                                                 target < 0.5 % (< 0.25 deg)
  - point-cloud depth: median relative error on smooth surfaces 0.5-5 m of
    one simulated ASI pair through stereo_to_pointcloud                       target < 2 %
ptz (calibration/offsets.py, calibration/align.py; tests/calibration/test_offsets.py, test_align.py)
  - bump recovery: per-axis error (pitch, yaw, roll) of offsets_from_dirs for
    bumps up to 2 deg on each axis, each with unchanged, dimmer and brighter
    lighting (the tests' lightings)                                            target <= 0.05 deg
  - an unbumped camera over 20 runs (random stops and lighting): alerts
    (MonitoringRecord.is_alert at the default 0.5 deg threshold) and the
    largest |offset| seen                                                     target 0 alerts
  - R_align error from 10 landmarks of which 2 (20 %) are wrong, over 10
    random landmark sets (seeds 0-9): worst and mean                          target <= 0.05 deg
ptz-zoom (calibration/views.py, matching.py, confidence.py; tests/calibration/test_offsets_zoom.py)
  - passive queries (one frame) at zoom 0, 0.6, 0.8 and 1.0 against a zoom-0 reference (60 deg,
    8 x 2 stops, 640x360): per-axis error (pitch, yaw, roll), worst and mean over 8 random
    poses within the reference's coverage, the tests' five bumps in turn            target <= 0.05 deg,
                                                                                no failure
  - confidence of a full view and of the same view with all but a centred 2 % patch
    hidden (flat grey), zoom 0, the same 8 poses                                  target full >= 0.8,
                                                                                patch <= 0.3

Everything is seeded and deterministic: the simulated cameras run on a ManualClock (the test
helpers open them that way) and every random draw has a fixed seed. Images are the tests'
sizes. Runs in about 1-2 minutes on 2 cores.

Output: a human table by default; ``--json`` prints one JSON object instead. The exit status
is 0 when every figure meets its target, 1 otherwise. ``--section`` (repeatable) runs only
the named sections. This is a report, not a test: it is not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # tests/ is a package at the repository root
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SECTIONS = ("carving", "calibration", "ptz", "ptz-zoom")


class Report:
    """Collects rows: (section, name, value, target text, passed, details)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.timings: dict[str, float] = {}

    def add(self, section: str, name: str, value, unit: str, target: str, passed: bool, **details) -> None:
        self.rows.append({"section": section, "name": name, "value": value, "unit": unit, "target": target,
                          "pass": bool(passed), **({"details": details} if details else {})})

    @property
    def all_pass(self) -> bool:
        return all(r["pass"] for r in self.rows)


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(f"{v:.4f}" if isinstance(v, float) else _fmt(v) for v in value) + ")"
    if isinstance(value, float):
        if value != 0 and abs(value) < 5e-4:
            return f"{value:.1e}"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def _sig(value, digits: int = 6):
    """Floats (nested) to ``digits`` significant digits: OpenCV's solvers differ run to run in the
    last bits (thread scheduling of their sums), so the printed figures stay identical."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, (list, tuple)):
        return [_sig(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _sig(v, digits) for k, v in value.items()}
    return value


def _f(x) -> float:
    return float(np.asarray(x))


# ------------------------------------------------------------------------------------------ carving

def carving(report: Report) -> None:
    """fastcore against drivers.sim.scene (the setups of tests/fastcore/test_accuracy.py)."""
    from camdeck import fastcore
    from camdeck.drivers.sim import placement
    from camdeck.drivers.sim import scene as scene_mod
    from camdeck.fastcore.reference import carve_reference
    from camdeck.fastcore.validation import check_carve_inputs
    from tests.fastcore.test_backends import CASES, blob_views, boundary_voxels

    S = "carving"
    center = np.array(scene_mod.LAB_CENTER)
    N, voxel_m = 48, 1.0 / 48
    scene = scene_mod.lab_scene()
    truth = scene.occupancy(N, voxel_m, center)

    # the ring_views fixture: 8 silhouettes (480x270), alternately low and high
    size = (480, 270)
    K = scene_mod.intrinsics_from_hfov(45, size)
    images, Rs, ts = [], [], []
    for v in range(8):
        a = 2 * np.pi * v / 8 + 0.3
        R, t = scene_mod.look_at(center + [2.2 * np.cos(a), 2.2 * np.sin(a), (0.2, 1.8)[v % 2]], center)
        images.append(scene.silhouette(K, R, t, size).astype(np.uint8) * 255)
        Rs.append(R)
        ts.append(t)
    ring = (images, K, np.array(Rs), np.array(ts))

    # the stereo_views fixture: the simulated stereo rig's two silhouettes (960x540) at its true poses
    size = (960, 540)
    K = scene_mod.intrinsics_from_hfov(60, size)
    poses = placement.stereo_poses(100.0)
    stereo = ([scene.silhouette(K, R, t, size).astype(np.uint8) * 255 for R, t in poses], K,
              np.array([p[0] for p in poses]), np.array([p[1] for p in poses]))

    backends = fastcore.available_backends()
    for backend in backends:
        grid = fastcore.carve(*ring, N, voxel_m, center, backend=backend)
        occupied = grid > 0.5
        iou = _f((occupied & truth).sum() / (occupied | truth).sum())
        report.add(S, f"IoU, 8 ring views vs true occupancy [{backend}]", iou, "", ">= 0.8", iou >= 0.8,
                   true_voxels=int(truth.sum()), carved_voxels=int(occupied.sum()))
    for backend in backends:
        grid = fastcore.carve(*stereo, N, voxel_m, center, backend=backend)
        kept = 100.0 * _f((grid[truth] > 0).mean())
        nonempty = 100.0 * _f((grid > 0).mean())
        report.add(S, f"occupied voxels kept, stereo pair [{backend}]", kept, "%", ">= 99 %", kept >= 99.0,
                   grid_nonempty_pct=round(nonempty, 3), grid_nonempty_target="< 80 %")

    # live reconstruction of a pair whose cameras report no pose (as hardware): poses from stereo.npz
    # (the pair's true extrinsics), camera frames (RAW8, noise), grid in the left camera's frame;
    # the target is "keeps as much as the simulator's own poses do from the same frames"
    kept_cal, kept_true = _calibrated_live_kept()
    report.add(S, "occupied voxels kept, live pair posed by stereo.npz (RAW8 frames)", 100.0 * kept_cal, "%",
               ">= true-pose kept - 1 %", kept_cal >= kept_true - 0.01, true_pose_kept_pct=round(100.0 * kept_true, 3))

    # backends against reference.py: the test_backends cases (N = 1, 23, 48), its attenuation
    # cases, and the two lab-scene problems above
    problems = {}
    for case in sorted(CASES):
        imgs, Kc, Rc, tc = blob_views(**CASES[case])
        for n in (1, 23, 48):
            problems[f"{case} N={n}"] = (imgs, Kc, Rc, tc, n, 2.0 / n, (0.1, -0.05, 0.0))
    imgs, Kc, Rc, tc = blob_views(3, dtype=np.float32, spread_deg=60)
    problems["float32-negative att=0.7"] = ([i - 0.25 for i in imgs], Kc, Rc, tc, 40, 0.05, (0.0, 0.0, 0.0), 0.7)
    imgs, Kc, Rc, tc = blob_views(2, spread_deg=45)
    problems["uint8 att=1.5"] = (imgs, Kc, Rc, tc, 32, 0.06, (0.0, 0.0, 0.0), 1.5)
    problems["lab ring 8 views"] = (*ring, N, voxel_m, tuple(center))
    problems["lab stereo pair"] = (*stereo, N, voxel_m, tuple(center))
    references = {name: carve_reference(*args) for name, args in problems.items()}
    for backend in ("cython", "numpy", "torch"):
        if backend not in backends:
            report.add(S, f"voxels differing from reference.py [{backend}]", "unavailable", "", "<= 0.1 %",
                       False, why=f"backend {backend!r} is not available here")
            continue
        worst, worst_case, differ_total, voxels_total, off_boundary = 0.0, "", 0, 0, 0
        for name, args in problems.items():
            got = fastcore.carve(*args, backend=backend)
            differ = ~np.isclose(got, references[name], rtol=1e-6, atol=1e-6)
            frac = _f(differ.mean())
            differ_total += int(differ.sum())
            voxels_total += differ.size
            if differ.any():
                off_boundary += int((~boundary_voxels(check_carve_inputs(*args))[differ]).sum())
            if frac > worst:
                worst, worst_case = frac, name
        label = "torch CPU" if backend == "torch" else backend
        report.add(S, f"voxels differing from reference.py, worst case [{label}]", 100.0 * worst, "%",
                   "<= 0.1 %", worst <= 0.001 and off_boundary == 0, worst_case=worst_case or "none differ",
                   problems=len(problems), differing_voxels=differ_total, voxels=voxels_total,
                   differing_off_pixel_boundary=off_boundary)


def _calibrated_live_kept() -> tuple[float, float]:
    """(kept with stereo.npz poses, kept with the simulator's poses): tests/drivers/test_reconstruction_calibrated.py's setup."""
    from camdeck.drivers.reconstruction_source import open_stereo_source
    from camdeck.drivers.registry import open_camera
    from camdeck.fastcore.live import LiveReconstruction, ReconstructionSettings
    from tests.drivers import test_reconstruction_calibrated as setup

    ctx = setup.ctx()
    cams = [open_camera(spec, ctx) for spec in setup.specs().values()]
    truth = tuple(cam.truth for cam in cams)
    for cam in cams:
        cam.close()
    left, N = truth[0], setup.N
    center_left = left.R @ np.asarray(setup.LAB_CENTER) + np.asarray(left.t).reshape(3)
    with tempfile.TemporaryDirectory() as tmp:
        rig = setup.calibrated_rig(Path(tmp), truth, grid_center_m=tuple(center_left))
        with open_stereo_source(rig, setup.specs(), setup.ctx(), open_camera=setup.hide_pose) as source:
            grid = LiveReconstruction(ReconstructionSettings(
                grid_size=N, voxel_size=1.0 / N, grid_center=tuple(source.geometry.grid_center),
                bayer=source.bayer, threshold=72, max_frames=2)).run(source).grid
    idx = np.stack(np.meshgrid(*[np.arange(N)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    world = (center_left + (idx - (N - 1) / 2) / N - np.asarray(left.t).reshape(3)) @ left.R
    occupied = left.scene.contains(world).reshape(N, N, N)
    return _f((grid[occupied] > 0).mean()), setup.kept_with_true_poses()


# -------------------------------------------------------------------------------------- calibration

def _rel_err_pct(K, K_true) -> dict:
    return {name: 100.0 * abs(_f(K[idx]) - _f(K_true[idx])) / _f(K_true[idx])
            for name, idx in (("fx", (0, 0)), ("fy", (1, 1)), ("cx", (0, 2)), ("cy", (1, 2)))}


def calibration(report: Report) -> None:
    """Intrinsics, stereo and depth against the simulated cameras' truth (the tests' setups)."""
    import cv2

    from camdeck.calibration.depth import stereo_to_pointcloud
    from camdeck.calibration.intrinsics import calibrate_intrinsics
    from camdeck.calibration.stereo import StereoCalibration, calibrate_stereo
    from camdeck.drivers.imaging import frame_to_rgb
    from camdeck.drivers.sim.placement import relative_pose
    from tests.calibration import board, camera, mono_views, open_sim_pair, sim_mono_set, sim_stereo_set
    from tests.calibration.test_depth import _true_depth_at_points

    S = "calibration"
    # 20 views from the simulated ASI camera (test_twenty_views_from_the_simulated_asi_camera_...)
    truth, frames = sim_mono_set()
    result = calibrate_intrinsics([(f"asi_{i:02d}", f.array) for i, f in enumerate(frames)], board(),
                                  pixel_format=frames[0].format)
    for name, err in _rel_err_pct(result.K, truth.K).items():
        report.add(S, f"{name} relative error, 20 views, sim ASI (RAW8 960x540)", err, "%", "< 0.5 %", err < 0.5)
    rms = float(result.rms)
    report.add(S, "RMS reprojection, 20 views, sim ASI", rms, "px", "< 0.3 px", rms < 0.3,
               views_used=len(result.views), rejected=len(result.rejected))

    # 20 views through a distorting lens (test_twenty_views_through_a_distorting_lens_...)
    views = [(f"view_{i:02d}", img) for i, img in enumerate(mono_views())]
    solved = calibrate_intrinsics(views, board())
    for name, err in _rel_err_pct(solved.K, camera().K).items():
        report.add(S, f"{name} relative error, 20 views, distorting lens", err, "%", "< 0.5 %", err < 0.5)
    rms = float(solved.rms)
    dist_err = np.abs(solved.dist.ravel()[:2] - camera().dist[:2])
    report.add(S, "RMS reprojection, 20 views, distorting lens", rms, "px", "< 0.3 px", rms < 0.3,
               views_used=len(solved.views), rejected=len(solved.rejected),
               k1_k2_abs_error=[round(_f(v), 5) for v in dist_err])

    # the stereo pair (test_the_baseline_and_relative_pose_match_the_simulator)
    left_truth, right_truth, lefts, rights = sim_stereo_set()
    st = calibrate_stereo([(f"L{i:02d}", f.array) for i, f in enumerate(lefts)],
                          [(f"R{i:02d}", f.array) for i, f in enumerate(rights)],
                          board(), pixel_format=lefts[0].format)
    rel = relative_pose(left_truth, right_truth)
    err_pct = 100.0 * abs(st.baseline_mm - rel.baseline_mm) / rel.baseline_mm
    angle = _f(np.degrees(np.linalg.norm(cv2.Rodrigues(st.R @ rel.R.T)[0])))
    report.add(S, "stereo baseline relative error, 15 sim ASI pairs", err_pct, "%", "< 0.5 %", err_pct < 0.5,
               baseline_mm=round(float(st.baseline_mm), 3), true_baseline_mm=round(rel.baseline_mm, 3),
               stereo_rms_px=round(float(st.rms), 4), pairs_used=len(st.used))
    report.add(S, "stereo relative rotation error", angle, "deg", "< 0.25 deg", angle < 0.25)

    # depth (the sim_depth fixture of test_depth.py): one pair through the pipeline at the true extrinsics
    pair = open_sim_pair()
    try:
        pair.start()
        shot = pair.capture_pair(5.0)
        lt, rt = pair.left.truth, pair.right.truth
        true_depth = pair.left.render_truth().depth
    finally:
        pair.close()
    relp = relative_pose(lt, rt)
    calib = StereoCalibration.from_extrinsics(lt.K, lt.dist, rt.K, rt.dist, relp.R, relp.T_mm, lt.image_size)
    cloud = stereo_to_pointcloud(frame_to_rgb(shot.left), frame_to_rgb(shot.right), calib)
    z_true, ok = _true_depth_at_points(cloud.points.astype(np.float64), lt.K, true_depth)
    ok &= (z_true >= 0.5) & (z_true <= 5.0)
    rel_err = np.abs(cloud.points[ok, 2] - z_true[ok]) / z_true[ok]
    median = 100.0 * _f(np.median(rel_err))
    coverage = 100.0 * _f(ok.sum() / true_depth.size)
    report.add(S, "point-cloud depth median relative error, 0.5-5 m", median, "%", "< 2 %",
               median < 2.0 and coverage > 20.0, p90_pct=round(100.0 * _f(np.percentile(rel_err, 90)), 3),
               points=int(ok.sum()), coverage_pct=round(coverage, 1), coverage_target="> 20 %")


# ---------------------------------------------------------------------------------------------- ptz

def ptz(report: Report) -> None:
    """PTZ orientation offsets and R_align (the setups of test_offsets.py and test_align.py)."""
    from camdeck.calibration.align import align_from_files
    from camdeck.calibration.offsets import offsets_from_dirs
    from camdeck.calibration.rotations import rotation_angle_deg
    from camdeck.drivers.sim.ptz_state import Bump, write_bump
    from camdeck.drivers.sim.ptz_world import Lighting
    from camdeck.monitoring.history import MonitoringRecord
    from camdeck.monitoring.settings import SlackSettings
    from tests.calibration.test_align import write_landmarks, write_manifest
    from tests.calibration.test_offsets import DIMMER, OPTIONS, REFERENCE_STOPS, sim_camera, take_scan

    S = "ptz"
    with tempfile.TemporaryDirectory(prefix="camdeck-accuracy-") as tmp:
        tmp = Path(tmp)
        data = tmp / "sim"
        data.mkdir()
        camera = sim_camera(data)
        try:
            ref = take_scan(camera, data / "reference", REFERENCE_STOPS, "reference")
        finally:
            camera.close()

        # bumps up to 2 deg on each axis (the tests' five), each under the tests' three lightings
        bumps = [Bump(pitch_deg=2.0), Bump(yaw_deg=-2.0), Bump(roll_deg=2.0),
                 Bump(pitch_deg=-1.3, yaw_deg=1.7, roll_deg=-2.0), Bump(pitch_deg=0.4, yaw_deg=-0.05, roll_deg=0.6)]
        lightings = [("unchanged", None), ("dimmer", DIMMER), ("brighter", Lighting(gain=1.3, gamma=0.8))]
        run = 0
        for bump in bumps:
            for light_name, lighting in lightings:
                write_bump(data, "ptz-1", bump)
                camera = sim_camera(data)
                camera.set_lighting(lighting)
                try:
                    truth = camera.truth()
                    query = take_scan(camera, tmp / f"bump{run}", [(20.0, 8.0), (-110.0, 15.0)], "query")
                finally:
                    camera.close()
                    write_bump(data, "ptz-1", None)
                run += 1
                result = offsets_from_dirs(ref, query, OPTIONS)
                errors = [abs(result.pitch_deg - bump.pitch_deg), abs(result.yaw_deg - bump.yaw_deg),
                          abs(result.roll_deg - bump.roll_deg)]
                total = _f(rotation_angle_deg(truth.delta_R.T @ result.delta_R))
                worst = max(errors)
                label = (f"bump ({bump.pitch_deg:+.2f}, {bump.yaw_deg:+.2f}, {bump.roll_deg:+.2f}) deg, "
                         f"lighting {light_name}: error (pitch, yaw, roll)")
                report.add(S, label, [round(float(e), 4) for e in errors], "deg", "<= 0.05 deg each",
                           worst <= 0.05 and total <= 0.05, rotation_error_deg=round(total, 4),
                           inliers=int(result.inliers), confidence=round(float(result.confidence), 3))

        # an unbumped camera, 20 runs at random stops and lighting (test_an_unbumped_camera_never_alerts_...)
        threshold = SlackSettings().alert_threshold_deg
        rng = np.random.default_rng(20)
        worst, alerts = 0.0, 0
        for run in range(20):
            camera = sim_camera(data)
            camera.set_lighting(Lighting(gain=float(rng.uniform(0.6, 1.3)), gamma=float(rng.uniform(0.75, 1.35))))
            try:
                stop = (float(rng.uniform(-180, 179)), float(rng.uniform(-5, 30)))
                query = take_scan(camera, tmp / f"still{run}", [stop], "query")
            finally:
                camera.close()
            result = offsets_from_dirs(ref, query, OPTIONS)
            record = MonitoringRecord(deployment="sim-site", device_id="ptz-1", timestamp="2026-11-21T10:00:00Z",
                                      pitch_offset_deg=result.pitch_deg, yaw_offset_deg=result.yaw_deg,
                                      roll_offset_deg=result.roll_deg, success=True)
            alerts += record.is_alert(threshold)
            worst = max(worst, record.max_abs_offset_deg())
        report.add(S, f"alerts, unbumped camera, 20 runs (threshold {threshold} deg)", alerts, "", "0",
                   alerts == 0)
        report.add(S, "largest |offset|, unbumped camera, 20 runs", worst, "deg", "< 0.05 deg (test bound)",
                   worst < 0.05)

        # R_align from 10 landmarks, 2 of them wrong (test_r_align_is_recovered_within_005_deg_...)
        scan = write_manifest(tmp / "align-ref")
        errors, exact = [], 0
        for seed in range(10):
            truth = write_landmarks(tmp / f"lm{seed}.csv", scan, seed=seed)
            result = align_from_files(scan, tmp / f"lm{seed}.csv")
            errors.append(_f(rotation_angle_deg(truth.T @ result.R_align)))
            exact += set(np.flatnonzero(~result.inliers).tolist()) == {0, 1}
        report.add(S, "R_align error, 10 landmarks / 20 % wrong, 10 sets: worst", max(errors), "deg",
                   "<= 0.05 deg", max(errors) <= 0.05, per_set=[round(e, 4) for e in errors],
                   sets_with_exactly_the_2_wrong_rejected=exact)
        report.add(S, "R_align error, 10 sets: mean", float(np.mean(errors)), "deg", "<= 0.05 deg",
                   float(np.mean(errors)) <= 0.05)


def ptz_zoom(report: Report) -> None:
    """Zoomed passive queries and the confidence of a 2 % patch (the setups of test_offsets_zoom.py)."""
    from camdeck.calibration.offsets import OffsetsFailed, offsets_from_dirs
    from camdeck.drivers.sim.ptz_state import Bump, write_bump
    from tests.calibration.test_offsets import OPTIONS, REFERENCE_STOPS, sim_camera, take_scan

    S = "ptz-zoom"
    bumps = [Bump(pitch_deg=2.0), Bump(yaw_deg=-2.0), Bump(roll_deg=2.0),
             Bump(pitch_deg=-1.3, yaw_deg=1.7, roll_deg=-2.0), Bump(pitch_deg=0.4, yaw_deg=-0.05, roll_deg=0.6)]
    rng = np.random.default_rng(13)
    poses = [(float(rng.uniform(-180, 179)), float(rng.uniform(-5, 28))) for _ in range(8)]
    with tempfile.TemporaryDirectory(prefix="camdeck-zoom-") as tmp:
        tmp = Path(tmp)
        data = tmp / "sim"
        data.mkdir()
        camera = sim_camera(data)
        try:
            ref = take_scan(camera, data / "reference", REFERENCE_STOPS, "reference")
        finally:
            camera.close()

        def measure(n: int, pose, zoom: float, bump, **kwargs):
            write_bump(data, "ptz-1", bump)
            camera = sim_camera(data)
            try:
                folders = len(list(tmp.glob("q*")))
                query = take_scan(camera, tmp / f"q{folders}", [pose], "query", zoom=zoom, **kwargs)
            finally:
                camera.close()
                write_bump(data, "ptz-1", None)
            try:
                return offsets_from_dirs(ref, query, OPTIONS)
            except OffsetsFailed:
                return None

        for zoom in (0.0, 0.6, 0.8, 1.0):
            errors, failed, conf, inliers = [], 0, [], []
            for n, pose in enumerate(poses):
                bump = bumps[n % len(bumps)]
                result = measure(n, pose, zoom, bump)
                if result is None:
                    failed += 1
                    continue
                errors.append([abs(result.pitch_deg - bump.pitch_deg), abs(result.yaw_deg - bump.yaw_deg),
                               abs(result.roll_deg - bump.roll_deg)])
                conf.append(result.confidence)
                inliers.append(result.inliers)
            err = np.array(errors) if errors else np.full((1, 3), np.nan)
            bound = 0.05
            worst = [round(_f(v), 4) for v in err.max(axis=0)]
            report.add(S, f"zoom {zoom:.1f}: worst error (pitch, yaw, roll), {len(poses)} passive queries", worst,
                       "deg", f"<= {bound} deg each, 0 failed", bool(errors) and max(worst) <= bound and failed == 0,
                       mean_error_deg=[round(_f(v), 4) for v in err.mean(axis=0)], failed=failed,
                       inliers_min=min(inliers) if inliers else 0,
                       confidence_mean=round(float(np.mean(conf)), 3) if conf else None)

        full, patch, patch_failed = [], [], 0
        for n, pose in enumerate(poses):
            bump = bumps[n % len(bumps)]
            whole = measure(n, pose, 0.0, bump)
            small = measure(n, pose, 0.0, bump, keep_area=0.02)
            if whole is not None:
                full.append(whole.confidence)
            if small is None:
                patch_failed += 1
            else:
                patch.append((small.confidence, small.coverage, small.spread_deg,
                              max(abs(small.pitch_deg - bump.pitch_deg), abs(small.yaw_deg - bump.yaw_deg),
                                  abs(small.roll_deg - bump.roll_deg))))
        report.add(S, "confidence, full view (zoom 0), lowest of 8", min(full) if full else 0.0, "", ">= 0.8",
                   bool(full) and min(full) >= 0.8, mean=round(float(np.mean(full)), 3) if full else None,
                   failed=len(poses) - len(full))
        highest = max(c for c, *_ in patch) if patch else 0.0
        report.add(S, "confidence, 2 % patch of the same views, highest", highest, "", "<= 0.3",
                   bool(patch) and highest <= 0.3, measured=len(patch), failed_no_match=patch_failed,
                   per_view=[round(c, 3) for c, *_ in patch], coverage=[round(v, 3) for _, v, _, _ in patch],
                   spread_deg=[round(v, 2) for *_, v, _ in patch], worst_error_deg=[round(e, 4) for *_, e in patch])


# -------------------------------------------------------------------------------------------- main

def print_table(report: Report, command: str, elapsed: float) -> None:
    print(f"camdeck accuracy report (against the simulator's ground truth)\ncommand: {command}\n")
    for section in SECTIONS:
        rows = [r for r in report.rows if r["section"] == section]
        if not rows:
            continue
        print(f"== {section} ({report.timings[section]:.1f} s)")
        width = max(len(r["name"]) for r in rows)
        values = [_fmt(r["value"]) + (f" {r['unit']}" if r["unit"] else "") for r in rows]
        vwidth = max(len(v) for v in values)
        twidth = max(len(r["target"]) for r in rows)
        for r, value in zip(rows, values):
            print(f"  {r['name']:<{width}}  {value:>{vwidth}}  target {r['target']:<{twidth}}  "
                  f"{'PASS' if r['pass'] else 'FAIL'}")
            if "details" in r:
                print("      " + ", ".join(f"{k}={_fmt(v)}" for k, v in r["details"].items()))
        print()
    passed = sum(r["pass"] for r in report.rows)
    print(f"{passed}/{len(report.rows)} figures meet their targets: {'PASS' if report.all_pass else 'FAIL'}; "
          f"{elapsed:.1f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--section", action="append", choices=SECTIONS,
                        help="run only this section (repeatable; default: all)")
    args = parser.parse_args(argv)
    command = " ".join(["python", "benchmarks/accuracy_report.py"] + [shlex.quote(a) for a in (argv or sys.argv[1:])])
    report = Report()
    start = time.perf_counter()
    for section in SECTIONS:
        if args.section and section not in args.section:
            continue
        t0 = time.perf_counter()
        {"carving": carving, "calibration": calibration, "ptz": ptz, "ptz-zoom": ptz_zoom}[section](report)
        report.timings[section] = time.perf_counter() - t0
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps({"command": command, "all_pass": report.all_pass, "runtime_s": round(elapsed, 1),
                          "section_runtime_s": {k: round(v, 1) for k, v in report.timings.items()},
                          "figures": _sig(report.rows)}, indent=1))
    else:
        print_table(report, command, elapsed)
    return 0 if report.all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
