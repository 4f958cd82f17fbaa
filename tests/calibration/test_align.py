"""R_align from landmarks, compared with the simulator's mount alignment (the truth it renders with)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from camdeck.calibration.align import (
    align_from_files,
    kabsch_rotation,
    landmark_rays,
    load_r_align,
    ransac_rotation,
    read_landmarks,
    read_scan_manifest,
)
from camdeck.calibration.errors import CalibrationFileError, CalibrationInputError
from camdeck.calibration.rotations import K_at_zoom, R_align_from_ypr, R_W_cam, rotation_angle_deg
from camdeck.drivers.sim.ptz_world import view_directions

TRUE_YPR = (37.5, 1.2, -0.8)           # the simulated mount: heading 37.5°, pitched 1.2°, rolled -0.8°
SIZE = (1280, 720)


def write_manifest(folder: Path) -> Path:
    """A reference scan's manifest: 8 pans x 2 tilts of the default sim PTZ (no images needed for align)."""
    folder.mkdir(parents=True, exist_ok=True)
    K = K_at_zoom(0.0, (60.0, 6.0), *SIZE)
    frames = [{"index": i, "image": f"images/{i:03d}.png", "pan_deg": float(p), "tilt_deg": float(t), "zoom": 0.0,
               "K": K.tolist(), "timestamp": "2026-11-21T10:00:00Z"}
              for i, (p, t) in enumerate((p, t) for t in (0.0, 30.0) for p in range(-180, 180, 45))]
    (folder / "manifest.json").write_text(json.dumps({"deployment": "sim-site", "camera": "ptz-1",
                                                      "kind": "reference", "image_size": list(SIZE),
                                                      "frames": frames}))
    return folder


def write_landmarks(path: Path, manifest_dir: Path, n: int = 10, wrong: int = 2, seed: int = 7) -> np.ndarray:
    """Landmarks whose azimuth/elevation are what the simulated mount sees at those pixels.

    Correct ones carry survey noise (0.01° per angle); ``wrong`` of them are off by 3-20 degrees.
    Returns the true R_align.
    """
    rng = np.random.default_rng(seed)
    R_align = R_align_from_ypr(*TRUE_YPR)
    manifest = json.loads((manifest_dir / "manifest.json").read_text())
    rows = ["frame,u,v,azimuth_deg,elevation_deg"]
    frames = rng.choice(len(manifest["frames"]), size=n, replace=False)
    rays = view_directions(np.array(manifest["frames"][0]["K"]), SIZE)   # the simulator's own pixel rays
    for k, idx in enumerate(frames):
        frame = manifest["frames"][idx]
        assert frame["K"] == manifest["frames"][0]["K"]
        u, v = int(rng.integers(20, SIZE[0] - 20)), int(rng.integers(20, SIZE[1] - 20))
        ray_cam = rays[v, u]
        d = R_W_cam(frame["pan_deg"], frame["tilt_deg"], R_align) @ ray_cam
        az = math.degrees(math.atan2(d[0], d[1])) + rng.normal(0, 0.01)
        el = math.degrees(math.asin(d[2])) + rng.normal(0, 0.01)
        if k < wrong:
            az += rng.choice([-1, 1]) * rng.uniform(3, 20)
            el += rng.uniform(-5, 5)
        rows.append(f"{frame['index']},{u},{v},{az:.6f},{el:.6f}")
    path.write_text("\n".join(rows) + "\n")
    return R_align


def test_r_align_is_recovered_within_005_deg_from_10_landmarks_with_20_percent_wrong(tmp_path):
    scan = write_manifest(tmp_path / "ref")
    errors = []
    for seed in range(5):
        truth = write_landmarks(tmp_path / f"lm{seed}.csv", scan, seed=seed)
        result = align_from_files(scan, tmp_path / f"lm{seed}.csv")
        errors.append(rotation_angle_deg(truth.T @ result.R_align))
        assert result.inliers.sum() == 8
        assert set(np.flatnonzero(~result.inliers)) == {0, 1}    # the two wrong ones, by construction
        assert result.residual_deg < 0.05
    assert max(errors) < 0.05, errors


def test_the_cli_writes_r_align_npy_and_reports_the_residual(cli, tmp_path):
    scan = write_manifest(tmp_path / "ref")
    truth = write_landmarks(tmp_path / "lm.csv", scan)
    res = cli("calibrate", "align", "--scan", scan, "--landmarks", tmp_path / "lm.csv", "--out",
              tmp_path / "R_align.npy", "--json")
    assert res.code == 0, res.err
    report = res.json()
    assert report["inliers"] == 8 and report["landmarks"] == 10 and report["outliers"] == [0, 1]
    assert report["residual_deg"] < 0.05
    R = load_r_align(tmp_path / "R_align.npy")
    assert R.dtype == np.float64 and R.shape == (3, 3)
    assert rotation_angle_deg(truth.T @ R) < 0.05


@pytest.mark.parametrize("content, needle", [
    ("frame,u,v,azimuth\n0,1,2,3\n", "header lacks azimuth_deg, elevation_deg"),
    ("frame,u,v,azimuth_deg,elevation_deg\n0,1,x,3,4\n", "line 2, column v"),
    ("frame,u,v,azimuth_deg,elevation_deg\n0,1,2,3,95\n", "outside [-90, 90]"),
    ("frame,u,v,azimuth_deg,elevation_deg\n99,1,2,3,4\n0,1,2,3,4\n0,5,5,5,5\n", "no frame with index 99"),
    ("frame,u,v,azimuth_deg,elevation_deg\n0,1,2,3,4\n", "at least 3"),
])
def test_bad_landmarks_exit_2_naming_the_problem(cli, tmp_path, content, needle):
    scan = write_manifest(tmp_path / "ref")
    (tmp_path / "lm.csv").write_text(content)
    res = cli("calibrate", "align", "--scan", scan, "--landmarks", tmp_path / "lm.csv", "--out", tmp_path / "R.npy")
    assert res.code == 2
    assert needle in res.err


def test_a_missing_or_corrupt_scan_exits_2(cli, tmp_path):
    (tmp_path / "lm.csv").write_text("frame,u,v,azimuth_deg,elevation_deg\n")
    res = cli("calibrate", "align", "--scan", tmp_path / "nope", "--landmarks", tmp_path / "lm.csv")
    assert res.code == 2 and "folder not found" in res.err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(CalibrationFileError):
        read_scan_manifest(tmp_path / "bad")
    with pytest.raises(CalibrationInputError):
        read_landmarks(tmp_path / "missing.csv")


def test_kabsch_and_ransac_find_a_known_rotation_among_outliers():
    rng = np.random.default_rng(1)
    truth = R_align_from_ypr(-120.0, 10.0, 5.0)
    src = rng.normal(size=(200, 3))
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    dst = src @ truth.T
    assert rotation_angle_deg(kabsch_rotation(src, dst).T @ truth) < 1e-4
    dst[:80] = rng.normal(size=(80, 3))
    dst[:80] /= np.linalg.norm(dst[:80], axis=1, keepdims=True)
    R, inliers = ransac_rotation(src, dst, threshold_deg=0.1)
    assert rotation_angle_deg(R.T @ truth) < 1e-4
    assert inliers[80:].all() and inliers[:80].sum() < 3


def test_landmark_rays_follow_design_conventions(tmp_path):
    # A landmark at the image centre of the frame at pan 90, tilt 0 of an unrotated mount points east.
    scan = write_manifest(tmp_path / "ref")
    manifest = read_scan_manifest(scan)
    frame = next(f for f in manifest.frames if f.pan_deg == 90.0 and f.tilt_deg == 0.0)
    (tmp_path / "lm.csv").write_text(f"frame,u,v,azimuth_deg,elevation_deg\n{frame.index},"
                                     f"{frame.K[0, 2]},{frame.K[1, 2]},90,0\n")
    mount, world = landmark_rays(manifest, read_landmarks(tmp_path / "lm.csv"))
    assert np.allclose(mount[0], [1.0, 0.0, 0.0], atol=1e-12)
    assert np.allclose(world[0], [1.0, 0.0, 0.0], atol=1e-12)
