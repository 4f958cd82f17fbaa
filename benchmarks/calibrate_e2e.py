"""Calibrate -> reconstruct end to end from the CLI on the simulated stereo rig, against its truth.

Usage: .venv/bin/python benchmarks/calibrate_e2e.py [--views 15] [--config config.toml] [--grid 64] [--keep DIR]

Runs the console script as an operator would, in a scratch folder:

    camdeck calibrate capture --rig asi-stereo --views N --out cap
    camdeck calibrate stereo --pairs cap --out stereo.npz --json
    (a copy of the config with [rigs.asi-stereo] calibration = "stereo.npz")
    camdeck reconstruct --rig asi-stereo --grid G --frames 3 --save-every 1ms --out grids --json

and prints one JSON object: the calibrated baseline against the simulator's true baseline (the
error in mm), the stereo rms, each step's wall time, and how much of the scene's true occupancy
the calibrated carve keeps. The truth comes from the simulator itself (drivers.sim), never from
an earlier run. The built-in config runs at 1920x1080; it takes minutes on a small machine.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _camdeck(folder: Path, *argv: str) -> tuple[float, str]:
    exe = shutil.which("camdeck", path=str(Path(sys.executable).parent)) or "camdeck"
    t0 = time.perf_counter()
    done = subprocess.run([exe, "--config", str(folder / "config.toml"), "--data-dir", str(folder / "data"), *argv],
                          cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"camdeck {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return time.perf_counter() - t0, done.stdout


def _truth(config: Path):
    import numpy as np

    from camdeck.console.config import load_settings
    from camdeck.drivers.sim.placement import relative_pose
    from camdeck.drivers.stereo import open_stereo_rig

    settings = load_settings(config)
    pair = open_stereo_rig(settings.rigs["asi-stereo"], settings.cameras, settings.driver_context())
    try:
        left, right = pair.left.truth, pair.right.truth
    finally:
        pair.close()
    return left, relative_pose(left, right), np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=15)
    parser.add_argument("--config", type=Path, default=REPO / "config.toml")
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="camdeck-e2e-"))
    folder.mkdir(parents=True, exist_ok=True)
    text = args.config.read_text()
    (folder / "config.toml").write_text(text)
    t_capture, _ = _camdeck(folder, "calibrate", "capture", "--rig", "asi-stereo", "--views", str(args.views),
                            "--out", "cap")
    t_stereo, out = _camdeck(folder, "calibrate", "stereo", "--pairs", "cap", "--out", "stereo.npz", "--json")
    stereo = json.loads(out)
    (folder / "config.toml").write_text(text.replace('# calibration = "stereo.npz"', 'calibration = "stereo.npz"'))
    t_rec, out = _camdeck(folder, "reconstruct", "--rig", "asi-stereo", "--grid", str(args.grid), "--frames", "3",
                          "--save-every", "1ms", "--out", "grids", "--json")
    rec = json.loads(out)
    left, truth, np = _truth(folder / "config.toml")
    from camdeck.fastcore import load_grid

    grid = load_grid(folder / rec["saved"][-1])
    N = grid.data.shape[0]
    idx = np.stack(np.meshgrid(*[np.arange(N)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    centres = np.asarray(grid.grid_center) + (idx - (N - 1) / 2) * grid.voxel_size
    occupied = left.scene.contains((centres - np.asarray(left.t).reshape(3)) @ left.R).reshape(N, N, N)
    print(json.dumps({
        "views": args.views, "image_size": stereo["image_size"], "pairs_used": len(stereo["used"]),
        "baseline_mm": round(stereo["baseline_mm"], 4), "true_baseline_mm": round(truth.baseline_mm, 4),
        "baseline_error_mm": round(abs(stereo["baseline_mm"] - truth.baseline_mm), 4),
        "stereo_rms_px": round(stereo["rms"], 4), "reconstruct_frame": rec["frame"], "grid": N,
        "true_occupied_kept": round(float((grid.data[occupied] > 0).mean()), 4),
        "occupied_fraction": round(float((grid.data > 0).mean()), 4),
        "seconds": {"capture": round(t_capture, 1), "stereo": round(t_stereo, 1), "reconstruct": round(t_rec, 1)},
        "folder": str(folder)}))
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
