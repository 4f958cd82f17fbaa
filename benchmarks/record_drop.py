"""Dropped frames of a two-camera recording on the simulated rig (issues 5 and 15's closing figures).

Records the recorder pair (lightroom, darkroom) at each resolution for ``--seconds`` with
the frame rate pinned by FrameDurationLimits (the session's ``fps``), then reports, per camera,
the frames in the file (decoded with PyAV), the dropped frames and the drop rate, the
inter-frame gaps from the timestamps file (first gap, median, p90, largest) and the session's
outcome against ``--max-drop-pct``, with the machine's load. Not a test: it takes minutes.

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


def gap_figures(path: Path) -> dict:
    """First gap, median, p90 and largest gap (ms) between frames of a timestamps file."""
    from camdeck.drivers.recording.data_file import read_timecodes

    times = read_timecodes(path)
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    if not gaps:
        return {"first": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0}
    return {"first": times[1] - times[0], "median": gaps[len(gaps) // 2],
            "p90": gaps[min(len(gaps) - 1, int(0.9 * len(gaps)))], "max": gaps[-1]}


def pinned_specs(settings, names: list[str], size: tuple[int, int], fps: float) -> list:
    """The cameras ``names`` at ``size``, pinned to ``fps`` by FrameDurationLimits (exposure below a frame)."""
    frame_us = int(round(1e6 / fps))
    specs = []
    for name in names:
        spec = settings.cameras[name]
        controls = dict(spec.controls)
        controls["FrameDurationLimits"] = (frame_us, frame_us)
        controls["ExposureTime"] = min(int(controls.get("ExposureTime", 20000)), frame_us - 1000)
        specs.append(replace(spec, resolution=size, controls=controls))
    return specs


def run_once(settings, names: list[str], size: tuple[int, int], fps: float, seconds: float, folder: Path,
             verify: bool, max_drop_pct: float = 1.0) -> tuple[str, list[dict]]:
    from camdeck.drivers.recording.session import RecordingRequest, RecordingSession

    specs = pinned_specs(settings, names, size, fps)
    session = f"bench-{size[0]}x{size[1]}"
    request = RecordingRequest(session=session, folder=folder, cameras=specs, duration_s=seconds, overwrite=True,
                               min_free_bytes=50 * 10**6, fps=fps, max_drop_pct=max_drop_pct)
    result = RecordingSession(request, settings.driver_context()).run()
    rows = []
    for cam in result.cameras:
        video = folder / f"{session}_camera_{cam.index}.h264"
        in_file = decoded_frames(video) if verify else cam.frames
        produced = in_file + cam.dropped
        rows.append({"camera": cam.name, "size": f"{size[0]}x{size[1]}", "frames": in_file, "dropped": cam.dropped,
                     "drop_pct": 100.0 * cam.dropped / produced if produced else 0.0,
                     "mb": video.stat().st_size / 1e6, "status": cam.status,
                     "gaps": gap_figures(folder / f"{session}_camera_{cam.index}.pts.txt")})
    return result.outcome, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--cameras", default="lightroom,darkroom")
    ap.add_argument("--max-drop-pct", type=float, default=1.0, help="the take's drop limit (record.max_drop_pct)")
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
            outcome, rows = run_once(settings, names, size, args.fps, args.seconds, Path(tmp), not args.no_verify,
                                     args.max_drop_pct)
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            for r in rows:
                print(f"{r['size']:>9} @{args.fps:g} {r['camera']:<10} frames {r['frames']:6d}  dropped {r['dropped']:5d}"
                      f"  ({r['drop_pct']:5.2f} %)  {r['mb']:7.1f} MB  {r['status']}")
                g = r["gaps"]
                print(f"{'':>14} gaps ms: first {g['first']:.1f}, median {g['median']:.1f}, p90 {g['p90']:.1f}, "
                      f"largest {g['max']:.1f}")
            print(f"          {args.seconds:g} s session took {time.monotonic() - t0:.1f} s; outcome {outcome}; "
                  f"load after: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
