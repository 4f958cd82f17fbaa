"""TUI start to first preview frame, on the simulated rig (target < 1.5 s).

Each run is a fresh process, as an operator starting `camdeck tui` gets: the clock starts
before the console's modules are imported and stops when the preview widget has drawn its
first frame (headless Textual app, 80x24). A second figure uses an instant synthetic camera,
to separate the console's own start-up from the simulator's first render.

    python benchmarks/tui_start.py [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent('''
    import asyncio, json, sys, time
    t0 = time.perf_counter()
    from camdeck.console.config import BUILTIN_CONFIG, load_settings
    from camdeck.console.tui.app import make_app

    def instant_opener():
        """Cameras that answer at once with a fixed 1920x1080 mosaic (no simulator render)."""
        import numpy as np
        from camdeck.drivers.base import CameraBase, ControlRange, Frame
        frame_array = (np.indices((1080, 1920)).sum(axis=0) % 256).astype(np.uint8)

        class Instant(CameraBase):
            dropped_frames = 0
            seq = 0
            def controls(self):
                return {"exposure_us": ControlRange("exposure_us", 32, 10**7, 10000, 10000),
                        "gain": ControlRange("gain", 0, 570, 100, 100)}
            def capture(self, timeout_s=None):
                self.seq += 1
                return Frame(frame_array, self.seq * 10_000_000, self.seq, self.name,
                             {"format": "RAW8_RGGB", "exposure_us": 10000, "gain": 100})
        return lambda spec, ctx: Instant(spec.name)

    t_import = time.perf_counter() - t0

    async def main(kind, data_dir):
        opener = instant_opener() if kind == "instant" else None
        app = make_app(load_settings(BUILTIN_CONFIG, data_dir), camera_opener=opener)
        async with app.run_test(size=(80, 24)) as pilot:
            t_mount = time.perf_counter() - t0
            while app.cameras_tab.preview.frames_shown < 1:
                await pilot.pause(0.005)
            elapsed = time.perf_counter() - t0
        print(json.dumps({"seconds": elapsed, "import": t_import, "mounted": t_mount}))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
''')


def run_once(kind: str) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        out = subprocess.run([sys.executable, "-c", CHILD, kind, data_dir], capture_output=True, text=True,
                             timeout=300)
    if out.returncode:
        raise SystemExit(f"run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for kind, label in (("sim", "simulated rig (asi-left, 1920x1080 RAW8)"),
                        ("instant", "instant synthetic camera (console only)")):
        runs = [run_once(kind) for _ in range(args.runs)]
        times = [r["seconds"] for r in runs]
        print(f"start -> first preview frame, {label}: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs; imports done at "
              f"{statistics.median(r['import'] for r in runs):.2f} s, app mounted at "
              f"{statistics.median(r['mounted'] for r in runs):.2f} s)")


if __name__ == "__main__":
    main()
