"""`camdeck bench`: the fastcore carve backends side by side on one stereo frame."""
from __future__ import annotations

from typing import Optional

import typer

from camdeck.console.cli import common


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise common.BadInput(f"--sizes {text!r}: not a list of integers; fix: write e.g. 64,128,256") from None
    if not sizes or any(not 1 <= n <= 1024 for n in sizes):
        raise common.BadInput(f"--sizes {text!r}: each grid size must be in 1..1024; fix: write e.g. 64,128,256")
    return sizes


def bench(
    sizes: str = typer.Option("64,128,256", "--sizes", help="Grid sizes N (comma-separated)."),
    backends: Optional[str] = typer.Option(None, "--backends",
                                           help="Backends to run (comma-separated: cython, torch, torch-cuda, "
                                                "numpy); default: all available. numpy always runs."),
    budget_s: float = typer.Option(1.0, "--budget", min=0.0, help="Seconds per (size, backend) after 3 runs."),
) -> None:
    """Time every carve backend (median ms per frame, two 1920x1080 views) and its speedup over numpy."""
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
    if common.json_mode():
        common.emit_json(run_bench(grid_sizes, names, budget_s=budget_s))
        return
    from rich.table import Table

    console = common.stderr_console()
    with console.status("benchmarking fastcore.carve ...") as status:
        report = run_bench(grid_sizes, names, budget_s=budget_s,
                           progress=lambda row: status.update(f"{row['grid']}^3 {row['backend']}: "
                                                              f"{row['median_ms']:.2f} ms"))
    table = Table(title=f"fastcore.carve, 2 views {report['image_size'][0]}x{report['image_size'][1]}, "
                        f"{report['cpu_count']} CPUs")
    for col in ("grid", "backend", "median ms", "min ms", "runs", "speedup vs numpy"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for row in report["results"]:
        table.add_row(f"{row['grid']}^3", row["backend"], f"{row['median_ms']:.3f}", f"{row['min_ms']:.3f}",
                      str(row["runs"]), f"{row['speedup_vs_numpy']:.1f}x" if row["speedup_vs_numpy"] else "-")
    common.stdout_console().print(table)
    for row in report.get("skipped", []):
        console.print(f"{row['backend']}: skipped ({row['reason']})", markup=False, highlight=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add the command to the root app (a single command, not a group)."""
    root.command("bench")(bench)
