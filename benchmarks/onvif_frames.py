"""Time to one frame from a simulated ONVIF camera: snapshot URI, RTSP through PyAV, RTSP through OpenCV.

Serves one simulated PTZ camera (``--size``, default the config's 1280x720) with the ONVIF
simulator and its RTSP stream (10 fps H.264), then takes ``--runs`` frames each way through
the ONVIF driver and reports the median and spread of the wall time per frame, and each
frame's mean absolute error against the simulator's noiseless render of the true pose.
The OpenCV figure runs in a child process without PyAV (as on a machine that lacks it).
Not a test: machines here are shared and noisy.

    .venv/bin/python benchmarks/onvif_frames.py --runs 11
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OPTIONS = {"deployment": "bench", "pan_range_deg": [-180.0, 180.0], "tilt_range_deg": [-30.0, 90.0],
           "hfov_deg": [60.0, 6.0], "speed_deg_s": 120.0, "telemetry_topic": "bench/onvif"}

CHILD = """
import sys, json, time
sys.modules["av"] = None
import numpy as np
from camdeck.drivers.base import CameraSpec, Secret
from camdeck.drivers.onvif_ptz import OnvifPtzCamera
opts = json.loads(sys.argv[1]); opts["password"] = Secret(opts["password"])
times = []
with OnvifPtzCamera(CameraSpec(name="cv", driver="onvif", model="PTZ", options=opts)) as cam:
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter(); frame = cam.capture(timeout_s=30.0); times.append(time.perf_counter() - t)
np.save(sys.argv[3], frame.array)
print(json.dumps(times))
"""


def summary(times: list[float]) -> str:
    return (f"median {statistics.median(times) * 1e3:7.1f} ms  min {min(times) * 1e3:7.1f}  "
            f"max {max(times) * 1e3:7.1f}  ({len(times)} frames)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    import numpy as np

    from camdeck.drivers.base import CameraSpec, Secret
    from camdeck.drivers.onvif_ptz import OnvifPtzCamera
    from camdeck.drivers.registry import DriverContext
    from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
    from camdeck.drivers.sim.ptz import SimPtzCamera

    def error(frame: np.ndarray) -> float:
        truth = sim.truth()
        view = sim.world.render(truth.K, truth.R_W_cam, sim.size, truth.lighting)
        return float(np.abs(frame.astype(np.int16) - view.astype(np.int16)).mean())

    print(f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {w}x{h}, RTSP at 10 fps")
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimPtzCamera(CameraSpec(name="bench", driver="sim", model="PTZ", resolution=(w, h), options=OPTIONS),
                           DriverContext(data_dir=Path(tmp), time_factor=100.0), telemetry_hz=0)
        with OnvifDeviceServer(sim, "admin", Secret("bench-pw")) as server:
            opts = dict(OPTIONS, host="127.0.0.1", port=server.port, username="admin", profile="")
            results = {}
            for source in ("snapshot", "rtsp"):
                spec = CameraSpec(name=source, driver="onvif", model="PTZ",
                                  options=dict(opts, password=Secret("bench-pw"), frames_from=source))
                with OnvifPtzCamera(spec) as cam:
                    cam.move_absolute(30.0, 10.0, 0.0, timeout_s=30.0)
                    times = []
                    for _ in range(args.runs):
                        t = time.perf_counter()
                        frame = cam.capture(timeout_s=30.0)
                        times.append(time.perf_counter() - t)
                    results[source] = (times, error(frame.array))
            out = Path(tmp) / "cv.npy"
            child = subprocess.run([sys.executable, "-c", CHILD,
                                    json.dumps(dict(opts, password="bench-pw", frames_from="rtsp")),
                                    str(args.runs), str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
            if child.returncode != 0:
                print(child.stderr[-2000:], file=sys.stderr)
                return 1
            results["rtsp (OpenCV)"] = (json.loads(child.stdout.strip().splitlines()[-1]), error(np.load(out)))
        sim.close()
    for name, (times, err) in results.items():
        label = "rtsp (PyAV)" if name == "rtsp" else name
        print(f"{label:14s} {summary(times)}  mean |frame - truth| {err:.2f} grey levels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
