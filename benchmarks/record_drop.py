"""Dropped frames of a two-camera recording on the simulated rig (issue 5's closing figures).

Records the recorder pair (lightroom, darkroom) at each resolution for ``--seconds`` with
the frame rate pinned by FrameDurationLimits, then reports, per camera, the frames the
sensor produced, the frames in the file (decoded with PyAV), the dropped frames and the
drop rate, with the machine's load. Not a test: it takes minutes at the default 60 s.

    .venv/bin/python benchmarks/record_drop.py                      # 60 s at 1280x720 and 1920x1080
    .venv/bin/python benchmarks/record_drop.py --seconds 10 --sizes 1280x720
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def decoded_frames(path: Path) -> int:
    import av

    with av.open(str(path), format="h264") as container:
        return sum(1 for _ in container.decode(video=0))


def run_once(settings, names: list[str], size: tuple[int, int], fps: float, seconds: float, folder: Path,
             verify: bool) -> list[dict]:
    from camdeck.drivers.recording.session import RecordingRequest, RecordingSession

    frame_us = int(round(1e6 / fps))
    specs = []
    for name in names:
        spec = settings.cameras[name]
        controls = dict(spec.controls)
        controls["FrameDurationLimits"] = (frame_us, frame_us)
        controls["ExposureTime"] = min(int(controls.get("ExposureTime", 20000)), frame_us - 1000)
        specs.append(replace(spec, resolution=size, controls=controls))
    session = f"bench-{size[0]}x{size[1]}"
    request = RecordingRequest(session=session, folder=folder, cameras=specs, duration_s=seconds, overwrite=True,
                               min_free_bytes=50 * 10**6)
    result = RecordingSession(request, settings.driver_context()).run()
    rows = []
    for cam in result.cameras:
        video = folder / f"{session}_camera_{cam.index}.h264"
        in_file = decoded_frames(video) if verify else cam.frames
        produced = in_file + cam.dropped
        rows.append({"camera": cam.name, "size": f"{size[0]}x{size[1]}", "frames": in_file, "dropped": cam.dropped,
                     "drop_pct": 100.0 * cam.dropped / produced if produced else 0.0,
                     "mb": video.stat().st_size / 1e6, "status": cam.status})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--cameras", default="lightroom,darkroom")
    ap.add_argument("--no-verify", action="store_true", help="skip decoding the files to count frames")
    args = ap.parse_args(argv)

    from camdeck.console.config import load_settings

    settings = load_settings(None, None)
    names = args.cameras.split(",")
    print(f"cpus: {os.cpu_count()}, load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="camdeck-bench-") as tmp:
        for size_text in args.sizes.split(","):
            size = parse_size(size_text)
            t0 = time.monotonic()
            rows = run_once(settings, names, size, args.fps, args.seconds, Path(tmp), not args.no_verify)
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            for r in rows:
                print(f"{r['size']:>9} @{args.fps:g} {r['camera']:<10} frames {r['frames']:6d}  dropped {r['dropped']:5d}"
                      f"  ({r['drop_pct']:5.2f} %)  {r['mb']:7.1f} MB  {r['status']}")
            print(f"          {args.seconds:g} s session took {time.monotonic() - t0:.1f} s; load after: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
