"""`camdeck reconstruct`: live voxel reconstruction from a stereo rig (fastcore.live).

The reconstruction is a job (console/cli/job_scope.py): ``camdeck jobs`` lists it, ``camdeck jobs
stop ID`` (or SIGINT/SIGTERM) ends it after the frame in hand (the last grid is saved), and it
goes on to its planned end when the terminal hangs up.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from camdeck.console.cli import bounds, common
from camdeck.fileio.leftovers import removed_if_failed


def _rig(settings, name: str):
    rig = settings.rigs.get(name)
    if rig is None:
        stereo = [r.name for r in settings.rigs.values() if r.type == "stereo"]
        raise common.BadInput(f"--rig {name}: no such rig; fix: choose one of {', '.join(stereo) or '(none configured)'}")
    if rig.type != "stereo":
        raise common.BadInput(f"--rig {name}: a {rig.type} rig; fix: reconstruct needs a stereo rig")
    return rig


def reconstruct(
    rig: str = typer.Option(..., "--rig", metavar="NAME", help="The stereo rig (rigs.NAME in config.toml)."),
    grid: int = typer.Option(128, "--grid", callback=bounds.count("--grid", 1, 1024),
                             help="Voxels per axis N (1 to 1024)."),
    frames: Optional[int] = typer.Option(None, "--frames", callback=bounds.count("--frames", 1, 10_000_000),
                                         help="Stop after N frames (1 to 10000000)."),
    duration: Optional[str] = typer.Option(None, "--duration", help="Stop after this long (e.g. 10s)."),
    save_every: Optional[str] = typer.Option("1s", "--save-every", help="Save the grid at most this often."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Folder for grids (default DATA_DIR/reconstruct)."),
    extent_m: float = typer.Option(1.0, "--extent-m", callback=bounds.number("--extent-m", 0.01, 1000.0),
                                   help="Edge of the grid cube, metres (0.01 to 1000)."),
    threshold: int = typer.Option(72, "--threshold", callback=bounds.count("--threshold", 0, 255),
                                  help="Gray level below which a pixel is background (0 to 255)."),
    fusion: str = typer.Option("none", "--fusion", help="Temporal fusion: none, ema or min."),
    backend: str = typer.Option("auto", "--backend", help="Carve backend: auto, cython, torch or numpy."),
    device: str = typer.Option("auto", "--device",
                               help="Where the carve runs: cpu, cuda (the torch backend on the GPU) or auto "
                                    "(CUDA when torch sees a GPU, else the CPU)."),
    save_format: str = typer.Option("bin", "--format", help="Grid files: bin, npy or both."),
    preview: bool = typer.Option(False, "--preview", help="Print the latest grid's middle z slice (ASCII) as it runs."),
) -> None:
    """Carve a voxel grid from every synchronized pair; print fps and latency; save grids (.bin/.npy)."""
    from camdeck.drivers.reconstruction_source import open_stereo_source
    from camdeck.fastcore.errors import CarveInputError
    from camdeck.fastcore.live import SAVE_FORMATS, LiveReconstruction, ReconstructionSettings

    if save_format not in SAVE_FORMATS:
        raise common.BadInput(f"--format {save_format!r}: unknown; fix: use --format bin, npy or both")
    run_on, backend = _device_and_backend(device, backend)
    make_settings = partial(ReconstructionSettings, save_format=save_format, device=run_on)
    _PREVIEW["on"] = preview and not common.json_mode()

    if frames is not None and duration is not None:
        raise common.BadInput("--frames and --duration: give one of them, not both; fix: drop one of the two")
    duration_s = bounds.parse_seconds(duration, "--duration", 0.1, 86400.0) if duration else None
    if frames is None and duration_s is None:
        duration_s = 10.0
    every_s = bounds.parse_seconds(save_every, "--save-every", 0.001, 86400.0) if save_every else None
    if every_s is not None and every_s <= 0:
        raise common.BadInput("--save-every: must be positive; fix: write e.g. 1s")
    settings = common.settings()
    spec = _rig(settings, rig)
    out_dir = out or (Path(settings.data_dir) / "reconstruct")
    with removed_if_failed(out_dir):       # a failed run leaves no new empty folder
        out_dir = common.check_output_dir(out_dir)
        from camdeck.console.cli.job_scope import cli_job

        console = common.stderr_console()
        plan = f"{frames} frames" if frames is not None else f"{duration_s:g} s"
        with open_stereo_source(spec, settings.cameras, settings.driver_context()) as source:
            try:
                job_settings = make_settings(
                    grid_size=grid, voxel_size=extent_m / grid, grid_center=tuple(source.geometry.grid_center),
                    backend=backend, bayer=source.bayer, threshold=threshold, fusion=fusion, save_every_s=every_s,
                    out_dir=out_dir, max_frames=frames, duration_s=duration_s)
                show = [_printer(console)]       # guarded once the job exists
                live = LiveReconstruction(job_settings, progress=lambda event: show[0](event))
            except CarveInputError as err:
                raise common.BadInput(str(err)) from None
            with cli_job("reconstruct", f"rig {rig}, grid {grid}", plan=plan, outputs=[out_dir]) as job:
                show[0] = job.guard(show[0])
                job.stop_with(lambda reason: live.stop())
                summary = live.run(source)
                job.finish("stopped" if job.stop_reason else "finished",
                           f"{summary.frames} frames, {len(summary.saved)} grids saved"
                           + (f" (stopped by {job.stop_reason})" if job.stop_reason else ""), [out_dir])
    result = {"rig": rig, "frame": source.geometry.frame, "grid": grid, "frames": summary.frames, "elapsed_s": round(summary.elapsed_s, 3),
              "fps": round(summary.fps, 2), "mean_latency_ms": round(summary.mean_latency_ms, 2),
              "saved": [str(p) for p in summary.saved],
              "occupied_fraction": float((summary.grid > 0).mean()) if summary.grid is not None else 0.0}
    result.update(device=run_on, backend=backend)
    if common.json_mode():
        common.emit_json(result)
    else:
        console.print(f"{summary.frames} frames in {summary.elapsed_s:.1f} s ({summary.fps:.1f} fps, "
                      f"latency {summary.mean_latency_ms:.1f} ms); {len(summary.saved)} grids in {out_dir}")


def _device_and_backend(device: str, backend: str) -> tuple[str, str]:
    """The resolved --device and the backend for it, before any camera opens.

    Raises:
        BadInput: an unknown device, or a CPU-only backend with --device cuda.
        DeviceUnavailable, MissingExtra: CUDA asked for and absent (one line, exit 2).
    """
    from camdeck.fastcore.devices import check_device_name, resolve_device
    from camdeck.fastcore.errors import CarveInputError

    try:
        check_device_name(device)
    except CarveInputError:
        raise common.BadInput(f"--device {device!r}: unknown; fix: use --device cpu, cuda or auto") from None
    if device.startswith("cuda") and backend not in ("auto", "torch"):
        raise common.BadInput(f"--backend {backend} runs on the CPU only; fix: use --backend torch (or auto) "
                              "with --device cuda, or --device cpu")
    run_on = resolve_device(device, f"--device {device}")
    if run_on != "cpu":
        return run_on, "torch"
    return run_on, backend


# The preview goes out at most this often (wall time): a fast carve would flood the terminal.
PREVIEW_EVERY_S = 1.0


#: reconstruct() sets it for _printer, whose one-argument call stays as it is so other code can wrap it.
_PREVIEW = {"on": False}


def _printer(console, preview: bool | None = None):
    import time

    preview = _PREVIEW["on"] if preview is None else preview
    last_preview = [None]

    def progress(event) -> None:
        if event.kind == "frame" and not common.json_mode():
            console.print(f"frame {event.frame}: {event.fps:5.1f} fps, latency {event.latency_ms:6.1f} ms, "
                          f"carve {event.carve_ms:6.2f} ms, occupied {event.occupied_fraction:.1%}",
                          highlight=False)
            now = time.monotonic()
            if preview and event.grid is not None and (last_preview[0] is None
                                                       or now - last_preview[0] >= PREVIEW_EVERY_S):
                last_preview[0] = now
                _print_preview(console, event.grid, event.frame)
        elif event.kind == "saved" and not common.json_mode():
            console.print(f"saved {event.path}", highlight=False)
    return progress


def _print_preview(console, grid, frame: int) -> None:
    from camdeck.console.cli.grid import slice_picture

    n = grid.shape[2]
    console.print(f"frame {frame}: slice z={n // 2} of 0..{n - 1}", highlight=False, markup=False)
    for row in slice_picture(grid, "z"):
        console.print(row, highlight=False, markup=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add the command to the root app (a single command, not a group)."""
    root.command("reconstruct")(reconstruct)
