"""Valid calibration inputs written the way camdeck writes them, for the bad-file tests and the
readers' fuzz target to damage: stereo.npz, calibration.npz, features .npz, a scan folder
(manifest.json, features/, no images: align needs none) and a landmarks CSV."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from camdeck.calibration.features import Features, save_features
from camdeck.calibration.stereo import StereoCalibration, save_stereo

SIZE = (1920, 1080)             # the simulated ASI pair's frame, so a stereo.npz fits asi-stereo
K = np.array([[1844.0, 0.0, 959.5], [0.0, 1844.0, 539.5], [0.0, 0.0, 1.0]])


def write_stereo(path: Path) -> Path:
    """A rectifiable stereo.npz: two identical cameras 100 mm apart."""
    pair = StereoCalibration.from_extrinsics(K, np.zeros(5), K, np.zeros(5), np.eye(3), np.array([-100.0, 0.0, 0.0]),
                                             SIZE)
    return save_stereo(path, pair)


def write_calibration(path: Path) -> Path:
    """A calibration.npz with the keys calibration.intrinsics.save_calibration writes."""
    np.savez(path, K=K, dist=np.zeros((1, 5)), image_size=np.array(SIZE, dtype=np.int64), rms=np.float64(0.3))
    return path


def write_features(path: Path, n: int = 40, seed: int = 0) -> Path:
    """A SIFT-shaped features .npz of ``n`` random keypoints."""
    rng = np.random.default_rng(seed)
    feats = Features(keypoints=(rng.random((n, 2)) * SIZE).astype(np.float32),
                     descriptors=rng.integers(0, 255, (n, 128)).astype(np.float32),
                     scores=rng.random(n).astype(np.float32), sizes=(rng.random(n) * 8 + 1).astype(np.float32),
                     method="sift", image_size=SIZE, angles_deg=(rng.random(n) * 360).astype(np.float32))
    return save_features(path, feats)


def write_scan(folder: Path, frames: int = 4, seed: int = 0) -> Path:
    """A scan folder: manifest.json of ``frames`` pan stops and a features .npz per frame."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(frames):
        feats = f"features/{index:03d}.npz"
        write_features(folder / feats, seed=seed + index)
        entries.append({"index": index, "image": f"images/{index:03d}.png", "features": feats,
                        "pan_deg": -90.0 + 60.0 * index, "tilt_deg": 10.0 * (index % 2), "zoom": 0.0,
                        "K": K.tolist(), "timestamp": "2026-11-21T10:00:00Z"})
    manifest = {"deployment": "sim-site", "camera": "ptz-1", "kind": "reference", "created": "2026-11-21T10:00:00Z",
                "image_size": list(SIZE), "frames": entries}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def landmarks_text(scan: Path) -> str:
    """A landmarks CSV for the scan at ``scan`` (ten rows) whose directions agree with a mount
    turned 30° east (so ``calibrate align`` solves it)."""
    from camdeck.calibration.align import Landmark, landmark_rays, read_scan_manifest
    from camdeck.calibration.rotations import R_align_from_ypr

    manifest = read_scan_manifest(scan)
    picks = [Landmark(k % len(manifest.frames), 200.0 + 150 * k, 300.0 + 60 * (k % 5), 0.0, 0.0) for k in range(10)]
    mount, _ = landmark_rays(manifest, picks)
    world = mount @ R_align_from_ypr(30.0, 0.0, 0.0).T
    rows = ["frame,u,v,azimuth_deg,elevation_deg"]
    for lm, (x, y, z) in zip(picks, world):
        rows.append(f"{lm.frame},{lm.u:g},{lm.v:g},{np.degrees(np.arctan2(x, y)):.6f},{np.degrees(np.arcsin(z)):.6f}")
    return "\n".join(rows) + "\n"
