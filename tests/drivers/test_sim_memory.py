"""The simulated rig does not hold frame-sized arrays for cameras nobody streams (issue 12).

The console keeps every camera of the rig open for hours: its probe asks each one for its
controls, the preview streams one, a reconstruction borrows the stereo pair and gives it
back. Each check runs in a fresh interpreter (the render cache is process-wide) and counts,
with tracemalloc, the bytes still allocated afterwards (numpy reports its buffers to it).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MB = 2 ** 20

# What a console does with the built-in simulated rig, minus the UI: open every camera but the
# PTZ ones (the console leaves those closed), ask each for its controls, then stream the stereo
# pair a little and stop it (a reconstruction). Prints the bytes held after each step, once the
# stopped cameras' idle release has run.
CONSOLE_LIKE = """
import json, sys, tracemalloc
tracemalloc.start()
from camdeck.console.config import BUILTIN_CONFIG, load_settings
from camdeck.drivers.registry import open_camera
from camdeck.drivers.sim import simcam
simcam.IDLE_RELEASE_S = 0.1            # the console waits 10 s; the check need not

def idle_released(cams):
    # wait for each stopped camera's release timer (a thread) to have run
    for cam in cams:
        timer = cam._idle_timer
        if timer is not None:
            timer.join(60)
settings = load_settings(BUILTIN_CONFIG, sys.argv[1])
ctx = settings.driver_context(None)
cams = [open_camera(spec, ctx) for spec in settings.cameras.values() if spec.kind != "ptz"]
for cam in cams:
    cam.controls()
asked = tracemalloc.get_traced_memory()[0]
idle_released(cams)
probed = tracemalloc.get_traced_memory()[0]
pair = [cam for cam in cams if cam.name in ("asi-left", "asi-right")]
for cam in pair:
    cam.start()
frames = [cam.capture() for cam in pair for _ in range(3)]
del frames
streaming = tracemalloc.get_traced_memory()[0]
for cam in pair:
    cam.controls()
    cam.stop()
idle_released(cams)
stopped = tracemalloc.get_traced_memory()[0]
for cam in cams:
    cam.close()
print(json.dumps(dict(cameras=[c.name for c in cams], pair=[c.name for c in pair], asked=asked, probed=probed,
                      streaming=streaming, stopped=stopped)))
"""

# The scene's textures and the render cache (at most 72 MiB) stay; the frame
# states (a full-HD Pi camera's: ~50 MB) and noise banks (16 MB per full-HD camera) of stopped
# cameras do not. Before the fix: ~180 MB after the probe, ~310 MB after the pair stopped.
HELD_LIMIT_MB = 120
# While the full-HD stereo pair streams (a reconstruction), each camera holds its mean and
# sigma (8 MB each), its noise bank (16 MB) and its render's radiance (25 MB): ~138 MB with
# the textures and what else the cache keeps. Before (a full-frame scratch per camera, depth
# and mask in every render, a 96 MiB cache): 173 MB.
STREAMING_LIMIT_MB = 150


def _held_after_console_steps(tmp_path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CONSOLE_LIKE, str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_stopped_simulated_cameras_hold_no_frame_sized_arrays(tmp_path):
    held = _held_after_console_steps(tmp_path)
    assert len(held["cameras"]) >= 4 and len(held["pair"]) == 2, held      # the rig the console opens
    # Asked for its controls, a Pi camera works out auto exposure and white balance from the
    # render without building its frame state (before: 138 MB held until the idle release).
    assert held["asked"] / MB < HELD_LIMIT_MB, f"{held['asked'] / MB:.0f} MB held right after the probe"
    assert held["probed"] / MB < HELD_LIMIT_MB, f"{held['probed'] / MB:.0f} MB held after the probe"
    assert held["streaming"] / MB < STREAMING_LIMIT_MB, f"{held['streaming'] / MB:.0f} MB held while the pair streams"
    assert held["stopped"] / MB < HELD_LIMIT_MB, f"{held['stopped'] / MB:.0f} MB held after the pair stopped"
