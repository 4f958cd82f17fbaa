"""`camdeck grid show FILE`: a saved voxel grid (.bin or .npy) as an ASCII slice or max projection.

The pictures come from console/render.py's ``voxel_slice_ascii`` (the TUI's Reconstruction tab
draws the same ones); the file is read with fastcore's ``load_grid``. ``--json`` prints the
grid's statistics and occupancy instead of a picture. ``camdeck reconstruct --preview`` prints
the latest grid's slice with :func:`slice_picture` as it runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from camdeck.console.cli import bounds, common

app = typer.Typer(help="Look at saved voxel grids (.bin, .npy).", no_args_is_help=True)

AXES = ("x", "y", "z")
DEFAULT_WIDTH = 64
MAX_WIDTH = 1000        # characters: wider than any terminal
MAX_SLICE = 65_535      # a grid side is at most 1024 (reconstruct --grid); the file decides the real range


def slice_picture(grid, axis: str = "z", index: Optional[int] = None, *, max_projection: bool = False,
                  width: int = DEFAULT_WIDTH) -> list[str]:
    """ASCII rows of one slice (default: the middle one) or the max projection along ``axis``.

    Args:
        grid: (N, N, N) array indexed [i, j, k] = [x, y, z].
        axis: "x", "y" or "z", the axis the picture looks along.
        index: slice index along ``axis`` (None: the middle); ignored with ``max_projection``.
        width: characters per row; rows follow the picture's aspect (a cell is twice as tall as wide).

    Raises:
        ValueError: an unknown axis, an index out of range, a width below 1.
    """
    from camdeck.console.render import voxel_slice_ascii

    a = AXES.index(axis) if axis in AXES else -1
    if a < 0:
        raise ValueError(f"axis must be x, y or z; got {axis!r}")
    if width < 1:
        raise ValueError(f"width must be at least 1; got {width}")
    shape = [n for d, n in enumerate(grid.shape) if d != a]          # (columns, rows) of the picture
    height = max(1, round(width * shape[1] / shape[0] / 2))
    if max_projection:
        return voxel_slice_ascii(grid, axis, mode="max", width=width, height=height)
    middle = grid.shape[a] // 2 if index is None else index
    return voxel_slice_ascii(grid, axis, middle, mode="slice", width=width, height=height)


def grid_stats(grid) -> dict[str, Any]:
    """JSON-friendly statistics: shape, dtype, min/max/mean, occupied voxels (> 0) and their fraction,
    and the occupied fraction of each slice along x, y and z."""
    import numpy as np

    data = np.asarray(grid)
    occupied = data > 0
    per_axis = {axis: [round(float(v), 6) for v in occupied.mean(axis=tuple(d for d in range(3) if d != a))]
                for a, axis in enumerate(AXES)}
    return {"shape": list(data.shape), "dtype": str(data.dtype),
            "min": float(data.min()), "max": float(data.max()), "mean": float(data.mean(dtype=np.float64)),
            "occupied": int(occupied.sum()), "occupied_fraction": round(float(occupied.mean()), 6),
            "occupancy_by_slice": per_axis}


@app.command("show")
def show(
    file: Path = typer.Argument(..., metavar="FILE", help="A grid saved by camdeck (.bin or .npy)."),
    axis: str = typer.Option("z", "--axis", help="Look along x, y or z."),
    slice_index: Optional[int] = typer.Option(None, "--slice", metavar="I", callback=bounds.count("--slice", 0, MAX_SLICE),
                                              help="Slice index along --axis (default: the middle)."),
    max_projection: bool = typer.Option(False, "--max", help="Maximum projection along --axis instead of a slice."),
    width: int = typer.Option(DEFAULT_WIDTH, "--width", metavar="W", callback=bounds.count("--width", 1, MAX_WIDTH),
                              help=f"Picture width in characters (1 to {MAX_WIDTH})."),
) -> None:
    """Print an ASCII density slice (or --max projection) of a saved grid; --json prints stats and occupancy."""
    from camdeck.fastcore.grid_io import load_grid

    if axis not in AXES:
        raise common.BadInput(f"--axis {axis!r}: not an axis; fix: use --axis x, y or z")
    if slice_index is not None and max_projection:
        raise common.BadInput("--slice and --max: give one of them; fix: drop --slice for a projection")
    loaded = load_grid(file)                   # GridFileError names the file (exit 2)
    data = loaded.data
    n = data.shape[AXES.index(axis)]
    if slice_index is not None and not 0 <= slice_index < n:
        raise common.BadInput(f"--slice {slice_index}: outside the grid; fix: give 0..{n - 1} along {axis}")
    index = n // 2 if slice_index is None else slice_index
    view = "max" if max_projection else "slice"
    if common.json_mode():
        report = {"file": str(file), "voxel_size": loaded.voxel_size,
                  "grid_center": list(loaded.grid_center) if loaded.grid_center is not None else None,
                  **grid_stats(data), "axis": axis, "view": view}
        if not max_projection:
            report["slice"] = index
        common.emit_json(report)
        return
    rows = slice_picture(data, axis, index, max_projection=max_projection, width=width)
    what = f"max projection along {axis}" if max_projection else f"slice {axis}={index} of 0..{n - 1}"
    stats = grid_stats(data)
    size = f", voxel {loaded.voxel_size * 1000:.2f} mm" if loaded.voxel_size else ""
    console = common.stdout_console()
    console.print(f"{file}: {'x'.join(map(str, data.shape))} {data.dtype}{size}; {what}; "
                  f"occupied {stats['occupied_fraction']:.1%}", highlight=False, markup=False, soft_wrap=True)
    for row in rows:
        console.print(row, highlight=False, markup=False, soft_wrap=True)
