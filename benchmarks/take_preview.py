"""What the Recording tab's take preview costs a take (issue 15 item 6), on the simulated recorder pair.

Records the pair (lightroom, darkroom) at one resolution for ``--seconds``, twice per round: once
without a preview and once with the preview doing what console/tui/tabs/take_preview.py does (read
each FrameTap's newest frame at ``--preview-fps`` and render it as terminal cells of
``--cells``). Reports per run the frames filed, the frames dropped and the drop rate per camera,
and the preview's render time per picture (median, p90). Rounds alternate the order, so a busy
machine does not favour one side. Not a test: it takes a while at the default 20 s.

    .venv/bin/python benchmarks/take_preview.py                          # 2 rounds, 20 s, 640x480
    .venv/bin/python benchmarks/take_preview.py --seconds 10 --size 1280x720 --rounds 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def preview_loop(taps: dict, done: threading.Event, fps: float, cells: tuple[int, int], costs: list[float]) -> None:
    """The take preview's worker, without Textual: newest frame of each tap -> cells, ``fps`` times a second."""
    from camdeck.console.render import frame_to_rgb
    from camdeck.console.render_cells import render_cells

    drawn: dict[str, int] = {}
    while not done.is_set():
        tick = time.monotonic()
        for name, tap in list(taps.items()):
            frame, count = tap.latest()
            if frame is None or drawn.get(name) == count:
                continue
            start = time.perf_counter()
            render_cells(frame_to_rgb(frame.array, frame.format), *cells, depth="truecolor")
            costs.append(time.perf_counter() - start)
            drawn[name] = count
        done.wait(max(0.0, 1.0 / fps - (time.monotonic() - tick)))


def run_once(settings, size: tuple[int, int], seconds: float, folder: Path, preview: bool, args) -> dict:
    from camdeck.drivers.recording.frame_tap import tapping
    from camdeck.drivers.recording.session import RecordingRequest, RecordingSession
    from camdeck.drivers.registry import open_camera

    specs = [replace(settings.cameras[n], resolution=size) for n in ("lightroom", "darkroom")]
    request = RecordingRequest(session=f"pv-{int(preview)}", folder=folder, cameras=specs, duration_s=seconds,
                               overwrite=True, min_free_bytes=50 * 10**6)
    taps: dict = {}
    ctx = settings.driver_context()
    session = RecordingSession(request, ctx, open_camera=tapping(open_camera, taps))
    costs: list[float] = []
    done = threading.Event()
    reader = threading.Thread(target=preview_loop, args=(taps, done, args.preview_fps, args.cells, costs))
    if preview:
        reader.start()
    try:
        result = session.run()
    finally:
        done.set()
        if preview:
            reader.join()
    return {"preview": preview, "outcome": result.outcome,
            "cameras": [(c.name, c.frames, c.dropped) for c in result.cameras], "costs": costs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", type=parse_size, default=(640, 480))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preview-fps", type=float, default=2.0)
    parser.add_argument("--cells", type=parse_size, default=(38, 7), help="COLSxROWS of each preview")
    args = parser.parse_args()

    from camdeck.console.config import BUILTIN_CONFIG, load_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(BUILTIN_CONFIG, Path(tmp) / "data")
        print(f"# {args.size[0]}x{args.size[1]}, {args.seconds:g} s takes, preview {args.preview_fps:g} fps at "
              f"{args.cells[0]}x{args.cells[1]} cells; load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
        for r in range(args.rounds):
            for preview in ((False, True) if r % 2 == 0 else (True, False)):
                row = run_once(settings, args.size, args.seconds, Path(tmp), preview, args)
                cams = "; ".join(f"{n} {f} filed, {d} dropped ({100 * d / max(1, f + d):.1f} %)"
                                 for n, f, d in row["cameras"])
                cost = ""
                if row["costs"]:
                    ms = sorted(1000 * c for c in row["costs"])
                    cost = (f"; preview {len(ms)} pictures, render median {statistics.median(ms):.2f} ms, "
                            f"p90 {ms[int(0.9 * (len(ms) - 1))]:.2f} ms")
                print(f"round {r + 1} preview {'on ' if preview else 'off'}: {row['outcome']}; {cams}{cost}")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
