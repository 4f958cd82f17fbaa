"""MP4 takes, segment joins and the pre-trigger buffer on the simulated rig (issue 15's figures).

Three measurements, each on the recorder pair (lightroom, darkroom) with the frame rate
pinned by FrameDurationLimits, files decoded with PyAV:

- duration: a ``--seconds`` take to fragmented MP4; per camera, the MP4's span (last pts -
  first pts + one frame interval; the container's duration less its start) against the
  wall-clock time the take ran (monotonic, from the take's zero, its cameras' first steady
  frames, to the session's "stopping" event), and what a raw .h264 played at the nominal rate
  would claim instead;
- joins: a ``--seconds`` take split every ``--segment`` seconds; every frame a camera gave
  the capture loop is remembered, and a frame lost at a join is a captured frame whose
  timestamp lies between the last frame of part K and the first of part K + 1;
- pretrigger: armed for ``--armed`` seconds with a ``--pretrigger`` buffer, per size: the
  compressed bytes the buffers hold (now and at peak) and the process RSS, against the RSS
  of the same cameras recording without a buffer for as long (each in a fresh process);
- rate: the buffer of a full window at exactly ``--fps`` (frames rendered as fast as the
  machine can, timestamps 1/fps apart), so the figure does not depend on the load.

Not a test: it takes minutes at the defaults.

    .venv/bin/python benchmarks/record_mp4.py                         # all three, 60 s takes
    .venv/bin/python benchmarks/record_mp4.py --only duration --seconds 10
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from record_drop import parse_size, pinned_specs   # the sibling benchmark (this folder is sys.path[0])

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # tests/ is a package at the repository root
    sys.path.insert(0, str(ROOT))

from tests.drivers.test_recording_mp4_take import capturing_opener  # noqa: E402  (remembers every frame's timestamp)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def decode_pts(path: Path) -> list[int]:
    import av

    with av.open(str(path)) as container:
        return [f.pts for f in container.decode(video=0)]


def container_span_s(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        s = container.streams.video[0]
        return float((s.duration - (s.start_time or 0)) * s.time_base) if s.duration else float("nan")


def run_session(settings, specs, folder: Path, session: str, **kwargs):
    from camdeck.drivers.recording.session import RecordingRequest, RecordingSession

    marks: dict[str, float] = {}
    box: dict[str, RecordingSession] = {}

    def on_event(event):
        if event.kind in ("started", "stopping") and event.kind not in marks:
            marks[event.kind] = time.monotonic()
            if event.kind == "started":
                # The take's zero is its cameras' first steady frames, found a little before the
                # "started" event reaches us: the wall clock counts from the zero, back-dated by
                # the session clock's reading of how long ago it was.
                rec = box["rec"]
                marks["late_s"] = (rec.clock() - rec.tracks[0].zero_ns) / 1e9
                marks["zero"] = marks["started"] - marks["late_s"]

    captured: dict[str, list[int]] = {}
    request = RecordingRequest(session=session, folder=folder, cameras=specs, overwrite=True,
                               min_free_bytes=50 * 10**6, **kwargs)
    rec = box["rec"] = RecordingSession(request, settings.driver_context(), progress=on_event,
                                        open_camera=capturing_opener(captured))
    return rec, rec.run(), marks, captured


def bench_duration(settings, names, args, folder: Path) -> None:
    size = parse_size(args.size)
    specs = pinned_specs(settings, names, size, args.fps)
    rec, result, marks, _ = run_session(settings, specs, folder, "dur", duration_s=args.seconds, format="mp4")
    wall = marks["stopping"] - marks["zero"]
    print(f"duration: {args.seconds:g} s take, {args.size}@{args.fps:g}, mp4; wall clock (the take's zero -> "
          f"stopping) {wall:.3f} s (the started event came {1000 * marks['late_s']:.1f} ms after the zero)")
    for cam in result.cameras:
        path = folder / f"dur_camera_{cam.index}.mp4"
        pts = decode_pts(path)
        gaps = [b - a for a, b in zip(pts, pts[1:])]
        step = statistics.median(gaps) if gaps else 0
        span = (pts[-1] - pts[0] + step) / 1e6
        nominal = len(pts) / args.fps
        print(f"  {cam.name:<10} frames {len(pts):5d} dropped {cam.dropped:4d}  mp4 span {span:8.3f} s "
              f"(container {container_span_s(path):8.3f} s, first pts {pts[0] / 1e3:7.3f} ms)  "
              f"span - wall {1000 * (span - wall):+8.1f} ms  raw .h264 at {args.fps:g} fps: {nominal:8.3f} s")
    print(f"  status: {result.outcome}; load after: {load()}")


def bench_joins(settings, names, args, folder: Path) -> None:
    size = parse_size(args.size)
    specs = pinned_specs(settings, names, size, args.fps)
    rec, result, _, captured = run_session(settings, specs, folder, "seg", duration_s=args.seconds, format="mp4",
                                           segment_s=args.segment)
    print(f"joins: {args.seconds:g} s take, {args.size}@{args.fps:g}, mp4, --segment {args.segment:g}s")
    for cam, track in zip(result.cameras, rec.tracks):
        parts = sorted(folder.glob(f"seg_camera_{cam.index}_part*.mp4"), key=lambda p: int(p.stem.rsplit("part")[1]))
        pts_parts = [decode_pts(p) for p in parts]
        cap_us = [(ts - track.zero_ns) // 1000 for ts in captured[cam.name]]
        lost = 0
        for a, b in zip(pts_parts, pts_parts[1:]):
            lost += sum(1 for t in cap_us if a[-1] < t < b[0])
        in_files = sum(len(p) for p in pts_parts)
        print(f"  {cam.name:<10} parts {len(parts):3d} joins {len(parts) - 1:3d}  frames lost at joins {lost}  "
              f"frames in parts {in_files} / captured {len(cap_us)} (queue drops {track.queue_dropped})")
    print(f"  status: {result.outcome}; load after: {load()}")


def bench_pretrigger(settings, names, args, folder: Path) -> None:
    """Each mode runs in a fresh process, so one run's heap does not inflate the other's RSS."""
    import json
    import subprocess

    print(f"pretrigger: {args.pretrigger:g} s buffer, armed {args.armed:g} s, two cameras @{args.fps:g}, mp4; "
          f"RSS of a fresh process each")
    for size_text in args.sizes.split(","):
        figures = {}
        for mode in ("recording", "armed"):
            cmd = [sys.executable, __file__, "--child", mode, "--size", size_text, "--fps", str(args.fps),
                   "--pretrigger", str(args.pretrigger), "--armed", str(args.armed), "--cameras", ",".join(names)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        base, armed = figures["recording"], figures["armed"]
        print(f"  {size_text:>9}: buffered {sum(armed['bytes']) / 1e6:6.2f} MB (per camera "
              f"{', '.join(f'{b / 1e6:.2f}' for b in armed['bytes'])} MB, {', '.join(map(str, armed['frames']))} frames;"
              f" peak {', '.join(f'{b / 1e6:.2f}' for b in armed['peak'])} MB)  RSS armed {armed['rss']:.0f} MB vs "
              f"recording {base['rss']:.0f} MB ({armed['rss'] - base['rss']:+.0f} MB); fps {armed['fps']}  load {load()}")


def bench_buffer_at_rate(settings, names, args) -> None:
    """The buffer of a full window at exactly ``--fps``, whatever the machine's load: each
    camera's frames are rendered as fast as they come and encoded with timestamps 1/fps apart."""
    from camdeck.drivers.recording.encoders import LibX264Encoder
    from camdeck.drivers.recording.pretrigger import PreTriggerOutput
    from camdeck.drivers.imaging import frame_to_rgb
    from camdeck.drivers.registry import DriverContext, open_camera

    n = int(round((args.pretrigger + 2.0) * args.fps))       # the window and two seconds more
    print(f"pretrigger at rate: {args.pretrigger:g} s buffer, {n} frames at exactly {args.fps:g} fps per camera "
          f"(libx264 ultrafast crf 23, as a take)")
    for size_text in args.sizes.split(","):
        size = parse_size(size_text)
        row = []
        for spec in pinned_specs(settings, names, size, args.fps):
            ctx = DriverContext(rigs=settings.rigs, data_dir=settings.data_dir, seed=0, time_factor=50.0)
            cam = open_camera(spec, ctx)
            try:
                cam.start()
                buffer = PreTriggerOutput(lambda: None, int(args.pretrigger * 1e9))
                enc = LibX264Encoder(size[0], size[1], args.fps)
                enc.start(buffer)
                period_ns = int(round(1e9 / args.fps))
                for i in range(n):
                    enc.encode(frame_to_rgb(cam.capture(5.0)), i * period_ns)
                enc.stop()
                cam.stop()
            finally:
                cam.close()
            seconds = buffer.buffered_frames() / args.fps
            row.append(f"{spec.name} {buffer.buffered_bytes / 1e6:.2f} MB ({buffer.buffered_frames()} frames, "
                       f"{seconds:.2f} s, {8 * buffer.buffered_bytes / seconds / 1e6:.2f} Mbit/s)")
        print(f"  {size_text:>9}: " + "; ".join(row))


def child(settings, names, args) -> None:
    """One session (recording, or armed with a buffer), sampled after ``--armed`` s; one JSON line."""
    import json

    from camdeck.drivers.recording.session import RecordingRequest, RecordingSession

    specs = pinned_specs(settings, names, parse_size(args.size), args.fps)
    box: dict = {}

    def sample() -> None:
        time.sleep(args.armed)
        rec = box["rec"]
        outs = [t.output for t in rec.tracks]
        box.update(rss=rss_mb(), bytes=[getattr(o, "buffered_bytes", 0) for o in outs],
                   peak=[getattr(o, "peak_buffered_bytes", 0) for o in outs],
                   frames=[o.buffered_frames() if hasattr(o, "buffered_frames") else 0 for o in outs],
                   fps=[round(t.stats().fps, 1) for t in rec.tracks])
        rec.request_stop("benchmark")

    with tempfile.TemporaryDirectory(prefix="camdeck-bench-") as tmp:
        kwargs = {"pretrigger_s": args.pretrigger} if args.child == "armed" else {}
        request = RecordingRequest(session="pre", folder=Path(tmp), cameras=specs, overwrite=True,
                                   min_free_bytes=50 * 10**6, format="mp4", **kwargs)
        box["rec"] = RecordingSession(request, settings.driver_context())
        sampler = threading.Thread(target=sample)
        sampler.start()
        box["rec"].run()
        sampler.join()
    print(json.dumps({k: box[k] for k in ("rss", "bytes", "peak", "frames", "fps")}))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("duration", "joins", "pretrigger", "rate"), action="append")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the duration and joins takes")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--size", default="1280x720", help="size of the duration and joins takes")
    ap.add_argument("--segment", type=float, default=2.0, help="part length of the joins take, s")
    ap.add_argument("--pretrigger", type=float, default=10.0)
    ap.add_argument("--armed", type=float, default=15.0, help="seconds armed before the memory is sampled")
    ap.add_argument("--sizes", default="1280x720,1920x1080", help="sizes of the pre-trigger measurement")
    ap.add_argument("--cameras", default="lightroom,darkroom")
    ap.add_argument("--child", choices=("recording", "armed"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    from camdeck.console.config import load_settings

    settings = load_settings(None, None)
    names = args.cameras.split(",")
    if args.child:
        child(settings, names, args)
        return 0
    only = args.only or ["duration", "joins", "pretrigger", "rate"]
    print(f"cpus: {os.cpu_count()}, load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="camdeck-bench-") as tmp:
        for name, bench in (("duration", bench_duration), ("joins", bench_joins), ("pretrigger", bench_pretrigger)):
            if name in only:
                bench(settings, names, args, Path(tmp))
        if "rate" in only:
            bench_buffer_at_rate(settings, names, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
