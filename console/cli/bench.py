"""`camdeck bench`: the fastcore carve backends side by side on one stereo frame."""
from __future__ import annotations

from typing import Optional

import typer

from camdeck.console.cli import bounds, common


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise common.BadInput(f"--sizes {text!r}: not a list of integers; fix: write e.g. 64,128,256") from None
    if not sizes or any(not 1 <= n <= 1024 for n in sizes):
        raise common.BadInput(f"--sizes {text!r}: each grid size must be in 1..1024; fix: write e.g. 64,128,256")
    return sizes


def _scenes(text: str) -> tuple[str, ...]:
    from camdeck.fastcore.bench import SCENES

    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in SCENES]
    if not names or unknown:
        raise common.BadInput(f"--scenes {text!r}: unknown scene {', '.join(unknown) or '(none)'}; "
                              f"fix: choose from {', '.join(SCENES)}")
    return names


def bench(
    sizes: str = typer.Option("64,128,256", "--sizes", help="Grid sizes N (comma-separated)."),
    backends: Optional[str] = typer.Option(None, "--backends",
                                           help="Backends to run (comma-separated: cython, torch, torch-cuda, "
                                                "numpy); default: all available. numpy always runs."),
    budget_s: float = typer.Option(1.0, "--budget", callback=bounds.number("--budget", 0.0, 600.0),
                                   help="Seconds per (size, backend) after 3 runs (0 to 600)."),
    scenes: str = typer.Option("lab,dense", "--scenes",
                               help="Scenes (comma-separated): lab (~31 % occupied), dense (~58 %)."),
    contended: bool = typer.Option(False, "--contended",
                                   help="Also time each row while a child process spins on one core; "
                                        "report its p90 over the quiet median."),
) -> None:
    """Time every carve backend (median and p90 ms per frame, two 1920x1080 views) and its speedup over numpy."""
    from camdeck import fastcore
    from camdeck.fastcore.bench import run_bench

    names = None
    if backends:
        names = [b.strip() for b in backends.split(",") if b.strip()]
        if any(b in ("torch", "torch-cuda") for b in names):
            from camdeck.fastcore.extras import require_extra
            require_extra("torch", "bench --backends torch")   # names the extra when torch is missing
        if "torch-cuda" in names:
            from camdeck.fastcore.devices import resolve_device
            resolve_device("cuda", "bench --backends torch-cuda",   # no CUDA: one line, exit 2
                           "leave torch-cuda out (e.g. --backends cython,torch), or run on a machine with a CUDA GPU")
        known = set(fastcore.available_backends()) | {"torch-cuda", "numpy"}
        unknown = [b for b in names if b not in known]
        if unknown:
            raise common.BadInput(f"--backends: {', '.join(unknown)} not available here; "
                                  f"fix: choose from {', '.join(sorted(known))}")
    grid_sizes = _sizes(sizes)
    scene_names = _scenes(scenes)
    if common.json_mode():
        common.emit_json(run_bench(grid_sizes, names, budget_s=budget_s, scenes=scene_names, contended=contended))
        return
    from rich import box
    from rich.table import Table

    console = common.stderr_console()
    with console.status("benchmarking fastcore.carve ...") as status:
        report = run_bench(grid_sizes, names, budget_s=budget_s, scenes=scene_names, contended=contended,
                           progress=lambda row: status.update(f"{row['scene']} {row['grid']}^3 {row['backend']}: "
                                                              f"{row['median_ms']:.2f} ms"))
    load = report["loadavg_start"]
    for scene in scene_names:      # one table per scene: the contended columns must fit 80 columns
        rows = [row for row in report["results"] if row["scene"] == scene]
        occupied = max(row["occupied_fraction"] for row in rows)
        table = Table(title=f"{scene} scene ({occupied:.0%} occupied at {rows[-1]['grid']}^3), 2 views "
                            f"{report['image_size'][0]}x{report['image_size'][1]}, {report['cpu_count']} CPUs"
                            + (f", load {load[0]:.2f}" if load else "") + "; ms",
                      box=box.SIMPLE, pad_edge=False)
        cols = ["grid", "backend", "median", "p90", "runs", "x numpy"]     # times in ms
        if contended:
            cols += ["busy", "busy p90", "ratio"]   # ratio: busy p90 over the quiet median
        for col in cols:
            table.add_column(col, justify="left" if col == "backend" else "right", no_wrap=True)
        for row in rows:
            cells = [f"{row['grid']}^3", row["backend"], f"{row['median_ms']:.3f}", f"{row['p90_ms']:.3f}",
                     str(row["runs"]), f"{row['speedup_vs_numpy']:.1f}x" if row["speedup_vs_numpy"] else "-"]
            if contended:
                cells += [f"{row['contended_median_ms']:.3f}", f"{row['contended_p90_ms']:.3f}",
                          f"{row['contended_p90_over_quiet_median']:.2f}x"]
            table.add_row(*cells)
        common.stdout_console().print(table)
    for row in report.get("skipped", []):
        console.print(f"{row['backend']}: skipped ({row['reason']})", markup=False, highlight=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add the command to the root app (a single command, not a group)."""
    root.command("bench")(bench)
