"""Nothing left behind by `camdeck reconstruct`: a run killed with -9 while it saves a grid leaves
that grid's temporary (tens of MB); the next run removes it on start-up, and a failed run removes
the --out folder it created."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from camdeck.fileio.leftovers import TEMPORARY

CAMDECK = [sys.executable, "-m", "camdeck.console.cli.app"]
# --device cpu: "auto" would import torch only to find no GPU; cython: the fast backend, so the
# run spends most of its time saving (each 192^3 float32 grid is 28 MB).
RECONSTRUCT = ["reconstruct", "--rig", "asi-stereo", "--device", "cpu", "--backend", "cython"]


def _temporaries(folder):
    try:
        return [entry.name for entry in os.scandir(folder) if TEMPORARY.match(entry.name)]
    except FileNotFoundError:
        return []


def _kill_mid_save(out, data_dir, cwd):
    """Start a long reconstruction saving every frame; kill -9 it as soon as a temporary shows.
    Returns (pid, temporaries left), or (pid, []) when the run was not caught mid-save."""
    proc = subprocess.Popen(CAMDECK + RECONSTRUCT + ["--grid", "192", "--duration", "10m", "--save-every", "1ms",
                                                     "--out", str(out), "--data-dir", str(data_dir)],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180        # a bound on a hang, not a timing claim
        while proc.poll() is None and time.monotonic() < deadline:
            if _temporaries(out):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
    finally:
        proc.kill()
        proc.wait()
    return proc.pid, _temporaries(out)


def test_a_reconstruct_killed_mid_save_leaves_a_temporary_that_the_next_run_removes(tmp_path):
    out, data = tmp_path / "grids", tmp_path / "data"
    for _ in range(5):                           # the kill may land just after a rename: try again
        pid, left = _kill_mid_save(out, data, tmp_path)
        if left:
            break
    assert left, "no run was caught mid-save"
    assert all(TEMPORARY.match(name)["pid"] == str(pid) for name in left)
    live = out / f".grid_999999.bin.tmp-{os.getpid()}-abcdefgh.part"     # a live writer's: not touched
    live.write_bytes(b"being written")
    res = subprocess.run(CAMDECK + RECONSTRUCT + ["--grid", "16", "--frames", "1", "--out", str(out),
                                                  "--data-dir", str(data)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert not any((out / name).exists() for name in left)
    assert live.exists()
    assert (out / "grid_000001.bin").exists()


def test_a_failed_reconstruct_leaves_no_new_out_folder(tmp_path):
    from pathlib import Path

    default = (Path(__file__).resolve().parents[2] / "config.toml").read_text()
    config = tmp_path / "config.toml"
    config.write_text(default.replace('# calibration = "stereo.npz"', 'calibration = "stereo.npz"', 1))
    (tmp_path / "stereo.npz").write_bytes(b"PK\x03\x04 cut short by a full disk")
    res = subprocess.run(CAMDECK + ["--config", str(config)] + RECONSTRUCT + ["--frames", "1", "--grid", "16",
                                                                               "--out", str(tmp_path / "new" / "grids")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("camdeck: error:")]
    assert len(errors) == 1 and "fix:" in errors[0] and "Traceback" not in res.stderr
    assert "rigs.asi-stereo.calibration" in errors[0] and "stereo.npz" in errors[0]
    assert not (tmp_path / "new").exists()
