"""Preview frames per second the TUI draws, at 80x24 and 200x60 (target >= 15).

Runs the console headless (Textual's run_test: the whole compositor runs, only the bytes
to the terminal are discarded) on the simulated rig, previewing asi-left (1920x1080 RAW8),
and counts the frames the preview widget draws per wall second over several windows.
Two rates: capped at the configured preview_fps (what an operator gets), and uncapped
(the headroom). It also prints the bytes of one preview frame as ANSI truecolor, which
is what an SSH link carries per frame.

    python benchmarks/tui_preview_fps.py [--seconds 4] [--windows 3]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time

from camdeck.console.config import BUILTIN_CONFIG, load_settings
from camdeck.console.tui.app import make_app


def ansi_bytes(cells) -> int:
    """Bytes of one preview frame written as ANSI truecolor (what the terminal link carries)."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=10_000)
    for row in cells.as_segments():
        console.print(_Line(row), end="\n")
    return len(out.getvalue().encode("utf-8"))


class _Line:
    def __init__(self, segments):
        self.segments = segments

    def __rich_console__(self, console, options):
        yield from self.segments


async def measure(size: tuple[int, int], fps_cap: float, seconds: float, windows: int, data_dir: str):
    app = make_app(load_settings(BUILTIN_CONFIG, data_dir), preview_fps=fps_cap)
    async with app.run_test(size=size) as pilot:
        preview = app.cameras_tab.preview
        deadline = time.monotonic() + 120
        while preview.frames_shown < 5:          # first render of the simulator, then warm-up
            assert time.monotonic() < deadline, "no preview within 120 s"
            await pilot.pause(0.05)
        rates = []
        for _ in range(windows):
            n0, t0 = preview.frames_shown, time.perf_counter()
            await asyncio.sleep(seconds)
            rates.append((preview.frames_shown - n0) / (time.perf_counter() - t0))
        cells = preview.cells
        return rates, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        configured = load_settings(BUILTIN_CONFIG, data_dir).console.preview_fps
        for size in ((80, 24), (200, 60)):
            for cap, label in ((configured, f"capped at {configured:g}"), (1000.0, "uncapped")):
                rates, cells = asyncio.run(measure(size, cap, args.seconds, args.windows, data_dir))
                print(f"{size[0]}x{size[1]} {label}: median {statistics.median(rates):.1f} fps "
                      f"(windows: {', '.join(f'{r:.1f}' for r in rates)}); preview {cells.cols}x{cells.rows} cells, "
                      f"{ansi_bytes(cells) / 1024:.0f} KiB per frame as ANSI truecolor")


if __name__ == "__main__":
    main()
