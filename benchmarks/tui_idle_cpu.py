"""CPU the TUI uses while the operator does nothing on the Cameras tab.

Runs the console headless (80x24) on the simulated rig and reads the process's CPU time
(all threads: UI, capture worker and the simulator itself) over several windows:
- streaming: the Cameras tab previewing asi-left at the configured preview_fps;
- paused: the same tab after `p` (no capture at all);
- other tab: the Recording tab shown (the preview stops when its tab is hidden).
Figures are percent of one core, medians over the windows.

    python benchmarks/tui_idle_cpu.py [--seconds 5] [--windows 3]
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time

from camdeck.console.config import BUILTIN_CONFIG, load_settings
from camdeck.console.tui.app import make_app


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def windows(seconds: float, count: int) -> list[float]:
    loads = []
    for _ in range(count):
        c0, t0 = cpu_s(), time.perf_counter()
        await asyncio.sleep(seconds)
        loads.append(100.0 * (cpu_s() - c0) / (time.perf_counter() - t0))
    return loads


async def measure(seconds: float, count: int, data_dir: str) -> dict[str, list[float]]:
    app = make_app(load_settings(BUILTIN_CONFIG, data_dir))
    results = {}
    async with app.run_test(size=(80, 24)) as pilot:
        tab = app.cameras_tab
        deadline = time.monotonic() + 120
        while tab.preview.frames_shown < 5 or not tab._probe_started:
            assert time.monotonic() < deadline, "no preview within 120 s"
            await pilot.pause(0.05)
        while any(w.group == "probe" and not w.is_finished for w in app.workers):
            await pilot.pause(0.1)             # the probe is done; only the stream keeps running
        await asyncio.sleep(1.0)
        results["streaming"] = await windows(seconds, count)
        await pilot.press("p")
        await asyncio.sleep(1.0)
        results["paused"] = await windows(seconds, count)
        await pilot.press("p", "2")
        await asyncio.sleep(1.0)
        results["other tab"] = await windows(seconds, count)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        fps = load_settings(BUILTIN_CONFIG, data_dir).console.preview_fps
        results = asyncio.run(measure(args.seconds, args.windows, data_dir))
    for label, loads in results.items():
        extra = f" (preview at {fps:g} fps)" if label == "streaming" else ""
        print(f"idle CPU, {label}{extra}: median {statistics.median(loads):.1f} % of one core "
              f"(windows: {', '.join(f'{x:.1f}' for x in loads)})")


if __name__ == "__main__":
    main()
