"""Simulator cost: the first full-HD render, camera open, and per-frame production.

Prints, each measured in a fresh process (cold caches, one thread):
- the first ``Scene.render`` of the asi-left view at 1920x1080, CPU ms (``time.process_time``);
- opening asi-left and taking its first frame, then asi-right (another pose: another render),
  then asi-left again (the render cache), CPU ms;
- per-frame production (noise, quantisation, tone curve) of the ASI at 1920x1080 RAW8 and of
  the Pi cameras (IMX219) at 1280x720 and 1920x1080, ms (median over frames, one thread).

Exactness (the simulator is the ground truth, so an optimisation must not change a render):

    python benchmarks/sim_render.py --save-ref /tmp/ref.npz    # before a change
    python benchmarks/sim_render.py --check-ref /tmp/ref.npz   # after it: max |diff| per case

The reference holds renders (rgb, depth, object mask) of several poses and sizes, and frames
of the ASI and of Pi cameras at sizes whose sensor mode is full-field (so their geometry is
the same with and without the cropped sensor modes). To make a reference from another
checkout (say, the code before a change), run this script with PYTHONPATH set to it.

    python benchmarks/sim_render.py [--frames 40] [--save-ref PATH | --check-ref PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

CHILD_PRELUDE = textwrap.dedent('''
    import json, sys, time
    import camdeck.drivers.sim
    import numpy as np
    from camdeck.drivers.base import CameraSpec, RigSpec
    from camdeck.drivers.registry import DriverContext, open_camera
    from camdeck.drivers.sim.clock import ManualClock

    RIG = RigSpec("asi-stereo", "stereo", ("asi-left", "asi-right"), {"baseline_mm": 100.0})
    ASI_CONTROLS = {"exposure_us": 10000, "gain": 100, "wb_r": 52, "wb_b": 95, "offset": 8,
                    "high_speed": True, "bandwidth": 80}

    def asi(name, ctx):
        return open_camera(CameraSpec(name, "sim", "ASI662MC", serial="SIM-" + name, resolution=(1920, 1080),
                                      controls=ASI_CONTROLS), ctx)

    def picam(model, size, ctx, name="pi-bench", **controls):
        controls = controls or {"ExposureTime": 20000, "AnalogueGain": 2.0}
        return open_camera(CameraSpec(name, "sim", model, resolution=size, controls=controls,
                                      options={"camera_num": 0}), ctx)
''')

CHILD_FIRST = CHILD_PRELUDE + textwrap.dedent('''
    from camdeck.drivers.sim.placement import camera_pose
    from camdeck.drivers.sim.scene import intrinsics_from_hfov, lab_scene
    from camdeck.drivers.sim.sensor import sensor_spec
    s = sensor_spec("ASI662MC")
    R, t = camera_pose(CameraSpec("asi-left", "sim", "ASI662MC"), {"asi-stereo": RIG})
    K = intrinsics_from_hfov(s.hfov_deg, s.sensor_size)
    c0 = time.process_time(); w0 = time.perf_counter()
    lab_scene(0).render(K, R, t, (1920, 1080))
    print(json.dumps({"render_cpu_ms": 1e3 * (time.process_time() - c0),
                      "render_wall_ms": 1e3 * (time.perf_counter() - w0)}))
''')

CHILD_OPEN = CHILD_PRELUDE + textwrap.dedent('''
    ctx = DriverContext(rigs={"asi-stereo": RIG}, seed=0, clock=ManualClock())
    out = {}
    for label, name in (("open_left", "asi-left"), ("open_right", "asi-right"), ("reopen_left", "asi-left")):
        c0 = time.process_time()
        with asi(name, ctx) as cam:
            cam.capture()
        out[label + "_cpu_ms"] = 1e3 * (time.process_time() - c0)
    print(json.dumps(out))
''')

CHILD_FRAMES = CHILD_PRELUDE + textwrap.dedent('''
    n = int(sys.argv[1])
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass
    ctx = DriverContext(seed=0, clock=ManualClock())
    cams = {"asi_1080p": asi("asi-left", ctx), "pi_720p": picam("IMX219", (1280, 720), ctx),
            "pi_1080p": picam("IMX219", (1920, 1080), ctx), "pi708_1080p": picam("IMX708", (1920, 1080), ctx)}
    out = {}
    for label, cam in cams.items():
        state = cam._state(cam._settings())
        cam._produce(state, 0)
        times = []
        for seq in range(1, n + 1):
            w0 = time.perf_counter()
            cam._produce(state, seq)
            times.append(time.perf_counter() - w0)
        out[label + "_frame_ms"] = 1e3 * sorted(times)[len(times) // 2]
        cam.close()
    print(json.dumps(out))
''')

CHILD_REF = CHILD_PRELUDE + textwrap.dedent('''
    # Renders and frames that the geometry change of the sensor modes leaves alone.
    from camdeck.drivers.sim.placement import camera_pose
    from camdeck.drivers.sim.scene import LAB_CENTER, intrinsics_from_hfov, lab_scene, look_at
    from camdeck.drivers.sim.sensor import sensor_spec
    mode, path = sys.argv[1], sys.argv[2]
    out = {}
    s = sensor_spec("ASI662MC")
    K_asi = intrinsics_from_hfov(s.hfov_deg, s.sensor_size)
    poses = {"asi_left": camera_pose(CameraSpec("asi-left", "sim", "ASI662MC"), {"asi-stereo": RIG}),
             "asi_right": camera_pose(CameraSpec("asi-right", "sim", "ASI662MC"), {"asi-stereo": RIG})}
    cases = [("asi_left_1080p", 0, K_asi, *poses["asi_left"], (1920, 1080)),
             ("asi_right_1080p", 0, K_asi, *poses["asi_right"], (1920, 1080))]
    extra = [((0.0, 0.0, 1.2), LAB_CENTER, 55.0, (640, 360), 0),
             ((0.0, 0.0, 1.2), LAB_CENTER, 55.0, (161, 121), 1),
             ((0.9, 1.4, 1.6), (-0.1, 2.6, 0.8), 80.0, (800, 600), 0),     # close, wide, looking down
             ((0.05, 2.0, 1.0), (0.2, 2.6, 0.95), 100.0, (480, 360), 0),   # among the objects
             ((0.0, 2.55, 1.0), (0.0, -3.0, 1.0), 120.0, (320, 240), 0),   # objects behind and beside
             ((0.0, 0.0, 1.0), (0.0, -5.0, 8.0), 40.0, (97, 55), 0),       # sky only
             ((-2.0, 1.0, 0.3), (0.3, 2.8, 1.3), 30.0, (333, 211), 2),     # low, narrow, odd size
             ((0.0, 2.5, 3.0), (0.0, 2.5001, 0.0), 90.0, (256, 256), 0)]   # straight down
    for i, (pos, tgt, fov, size, seed) in enumerate(extra):
        up = (0.0, 1.0, 0.0) if i == len(extra) - 1 else (0.0, 0.0, 1.0)
        R, t = look_at(pos, tgt, up)
        cases.append((f"pose{i}_{size[0]}x{size[1]}_s{seed}", seed, intrinsics_from_hfov(fov, size), R, t, size))
    for name, seed, K, R, t, size in cases:
        r = lab_scene(seed).render(K, R, t, size)
        out[name + ".rgb"], out[name + ".depth"], out[name + ".mask"] = r.rgb, r.depth, r.object_mask
    ctx = DriverContext(rigs={"asi-stereo": RIG}, seed=0, clock=ManualClock())
    # Pi sizes whose sensor mode and crop are full-field before and after the libcamera modes
    cams = {"asi": asi("asi-left", ctx), "pi219_1640x1232": picam("IMX219", (1640, 1232), ctx),
            "pi708_2304x1296": picam("IMX708", (2304, 1296), ctx, ExposureTime=20000, AnalogueGain=2.0,
                                     LensPosition=1.0, Saturation=1.4, Sharpness=2.0),
            "pi219_ae": picam("IMX219", (1640, 1232), ctx, name="pi-ae", AeEnable=True)}
    for label, cam in cams.items():
        for k in range(3):
            out[f"frame.{label}.{k}"] = cam.capture().array
        cam.close()
    if mode == "save":
        np.savez_compressed(path, **out)
        print(json.dumps({"simulator": drivers.sim.__file__, "saved": path, "arrays": len(out)}))
    else:
        ref = np.load(path)
        report = {"simulator": drivers.sim.__file__}
        for key in ref.files:
            a, b = ref[key], out[key]
            if a.shape != b.shape:
                report[key] = f"shape {a.shape} -> {b.shape}"
                continue
            if a.dtype == bool:
                report[key] = f"{int((a != b).sum())} px differ"
                continue
            fa, fb = a.astype(np.float64), b.astype(np.float64)
            both_inf = np.isinf(fa) & np.isinf(fb) & (fa == fb)
            d = np.where(both_inf, 0.0, np.abs(fa - fb))
            report[key] = f"max |diff| {float(np.nanmax(d)):.3g}, {int((d > 0).sum())} px differ"
        print(json.dumps(report, indent=1))
''')


def run_child(code: str, *args: str) -> dict:
    env = dict(os.environ, **ONE_THREAD)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p)
    # not run from ROOT: "python -c" puts the working directory ahead of PYTHONPATH
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         cwd=tempfile.gettempdir(), timeout=600)
    if out.returncode:
        raise SystemExit(f"run failed:\n{out.stderr}")
    return json.loads(out.stdout[out.stdout.index("{"):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes for the first-render figures")
    parser.add_argument("--frames", type=int, default=40, help="frames per per-frame figure")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--save-ref", metavar="PATH", help="save reference renders and frames, then stop")
    ref.add_argument("--check-ref", metavar="PATH", help="compare with a saved reference, then stop")
    args = parser.parse_args()
    if args.save_ref or args.check_ref:
        mode, path = ("save", args.save_ref) if args.save_ref else ("check", args.check_ref)
        print(json.dumps(run_child(CHILD_REF, mode, path), indent=1))
        return
    first = [run_child(CHILD_FIRST) for _ in range(args.runs)]
    for key in ("render_cpu_ms", "render_wall_ms"):
        vals = [r[key] for r in first]
        print(f"first render asi-left 1920x1080, {key[7:]}: median {statistics.median(vals):.0f} "
              f"(min {min(vals):.0f}, max {max(vals):.0f}, {args.runs} runs)")
    opened = [run_child(CHILD_OPEN) for _ in range(args.runs)]
    for key in opened[0]:
        vals = [r[key] for r in opened]
        print(f"{key[:-7]} + first frame, CPU ms: median {statistics.median(vals):.0f} "
              f"(min {min(vals):.0f}, max {max(vals):.0f})")
    frames = run_child(CHILD_FRAMES, str(args.frames))
    for key, val in frames.items():
        print(f"per-frame production {key[:-9]}: {val:.1f} ms (median of {args.frames})")


if __name__ == "__main__":
    main()
