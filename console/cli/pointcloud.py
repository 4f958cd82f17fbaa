"""`camdeck pointcloud --rig NAME`: stereo depth and coloured point clouds from a stereo rig.

Captures synchronised pairs, and every n-th pair goes through calibration.depth's pipeline
(rectify, SGBM disparity, kornia depth and points, range filter); optionally a colour-mapped
disparity PNG and a binary PLY per processed pair.

Near limit: SGBM's automatic search range stops at 256 disparities, so the nearest depth it
reaches is f * B / 256: about 0.72 m for the ASI662MC pair at 1920x1080 (f 1844 px, B 100 mm).
``--max-disparity`` asks for a larger range (a multiple of 16) to see nearer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from camdeck.console.cli import bounds, common
from camdeck.fileio.leftovers import remove_stale_temporaries, removed_if_failed


def register(root: typer.Typer) -> None:
    """Add the command to the root app (it is a single command, not a group)."""
    root.command("pointcloud")(pointcloud)


def pointcloud(
    rig: str = typer.Option(..., "--rig", help="A stereo rig from config.toml (e.g. asi-stereo)."),
    every_n: int = typer.Option(5, "--every-n", callback=bounds.count("--every-n", 1, 10000),
                                help="Process one captured pair in this many (1 to 10000)."),
    frames: Optional[int] = typer.Option(None, "--frames", callback=bounds.count("--frames", 1, 100000),
                                         help="Pairs to capture, 1 to 100000 (default: --every-n, so one is processed)."),
    save_disparity: bool = typer.Option(False, "--save-disparity", help="Write a colour-mapped disparity PNG."),
    save_pointcloud: bool = typer.Option(False, "--save-pointcloud", help="Write a binary PLY with colour."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: DATA_DIR/pointcloud/RIG)."),
    stereo_file: Optional[Path] = typer.Option(None, "--stereo", metavar="FILE",
                                               help="stereo.npz from `camdeck calibrate stereo` (a simulated "
                                                    "rig defaults to its true geometry)."),
    min_depth_m: float = typer.Option(0.2, "--min-depth", callback=bounds.number("--min-depth", 0.01, 1000.0),
                                      help="Range filter: nearest depth kept, metres (the left camera's z; "
                                           "0.01 to 1000)."),
    max_depth_m: float = typer.Option(7.5, "--max-depth", callback=bounds.number("--max-depth", 0.01, 1000.0),
                                      help="Range filter: farthest depth kept, metres (the left camera's z; "
                                           "0.01 to 1000)."),
    max_disparity: Optional[int] = typer.Option(
        None, "--max-disparity", metavar="PX", callback=bounds.count("--max-disparity", 16, 4096),
        help="SGBM search range, px, a multiple of 16. Default: what --min-depth needs, capped at 256, "
             "so the nearest depth reached is f*B/256 (about 0.72 m for the ASI662MC pair at 1920x1080); "
             "give more (e.g. 512) to see nearer, at a cost in time."),
    timeout_s: float = typer.Option(5.0, "--timeout", callback=bounds.number("--timeout", 0.1, 600.0),
                                    help="Capture timeout per pair, seconds (0.1 to 600)."),
) -> None:
    """Stereo depth on a rig: disparity (SGBM), depth and coloured point clouds (PLY).

    Depth is searched up to 256 disparities unless --max-disparity says more: the near limit is
    f*B/256, about 0.72 m for the ASI662MC pair at 1920x1080.
    """
    from camdeck.calibration.depth import DepthOptions, PointCloudJob, require_depth_libraries

    require_depth_libraries("camdeck pointcloud (stereo depth)")
    if max_disparity is not None and (max_disparity < 16 or max_disparity % 16):
        raise common.BadInput(f"--max-disparity {max_disparity}: not a positive multiple of 16; "
                              "fix: use e.g. 256, 384 or 512")
    if not 0 < min_depth_m < max_depth_m:
        raise common.BadInput(f"--min-depth {min_depth_m:g} / --max-depth {max_depth_m:g}: need 0 < min < max; "
                              "fix: e.g. --min-depth 0.5 --max-depth 5")
    settings = common.settings()
    rig_spec = _stereo_rig(settings, rig)
    options = DepthOptions(min_depth_m=min_depth_m, max_depth_m=max_depth_m, num_disparities=max_disparity)
    out_dir = out or (Path(settings.data_dir) / "pointcloud" / rig)
    with removed_if_failed(out_dir):       # a failed run leaves no new empty folder
        out_dir = common.check_output_dir(out_dir)
        remove_stale_temporaries(out_dir)          # PNG/PLY temporaries a kill -9 of an earlier run left
        n_frames = frames or every_n
        stereo_given, given_source = None, ""
        if stereo_file:
            stereo_given, given_source = _load_stereo(stereo_file), str(stereo_file)
        elif rig_spec.options.get("calibration"):
            stereo_given, given_source = _rig_calibration(rig_spec), str(rig_spec.options["calibration"])
        if stereo_given is not None:
            _check_disparity_fits(stereo_given, options)

        from camdeck.drivers.imaging import frame_to_rgb
        from camdeck.drivers.stereo import open_stereo_rig

        pair = open_stereo_rig(rig_spec, settings.cameras, settings.driver_context())
        try:
            stereo, source = (stereo_given, given_source) if stereo_given else (_sim_truth(pair, rig), "sim-truth")
            if stereo_given is None:
                _check_disparity_fits(stereo, options)
            job = PointCloudJob(stereo, out_dir, every_n=every_n, save_disparity=save_disparity,
                                save_pointcloud=save_pointcloud, options=options)

            def pairs() -> Iterator[tuple[Any, Any]]:
                for _ in range(n_frames):
                    sf = pair.capture_pair(timeout_s)
                    yield frame_to_rgb(sf.left), frame_to_rgb(sf.right)

            console = None if common.json_mode() else common.stderr_console()

            def progress(event: str, info: dict[str, Any]) -> None:
                if console is not None and event == "frame":
                    files = ", ".join(str(info[k]) for k in ("disparity", "pointcloud") if k in info)
                    console.print(f"pair {info['index']}: {info['points']} points"
                                  + (f", median depth {info['median_depth_m']:.2f} m" if info["median_depth_m"] else "")
                                  + (f" -> {files}" if files else ""), highlight=False)

            _start(pair)
            records = job.run(pairs(), progress)
        finally:
            _close(pair)
    result = {"rig": rig, "calibration": source, "frames": n_frames, "every_n": every_n, "out": str(out_dir),
              "baseline_mm": round(stereo.baseline_mm, 4), "depth_range_m": [min_depth_m, max_depth_m],
              "num_disparities": _num_disparities(stereo, options),
              "nearest_depth_m": round(_nearest(stereo, options), 4), "processed": records}
    if common.json_mode():
        common.emit_json(result)
    else:
        common.stdout_console().print(f"{rig}: processed {len(records)} of {n_frames} pairs "
                                      f"(baseline {stereo.baseline_mm:.1f} mm, {source}); out {out_dir}",
                                      highlight=False)


def _stereo_rig(settings, name: str):
    rig = settings.rigs.get(name)
    stereo_rigs = sorted(n for n, r in settings.rigs.items() if r.type == "stereo")
    if rig is None or rig.type != "stereo":
        why = "is not a stereo rig" if rig is not None else "is not a configured rig"
        raise common.BadInput(f"--rig {name}: {why}; fix: use one of the stereo rigs: "
                              f"{', '.join(stereo_rigs) or 'none configured'}")
    return rig


def _load_stereo(path: Path):
    from camdeck.calibration.stereo import load_stereo

    return load_stereo(path)


def _rig_calibration(rig_spec):
    """The rig's ``calibration`` file (stereo.npz); a missing or corrupt one names its key."""
    from camdeck.calibration.errors import CalibrationError
    from camdeck.calibration.stereo import load_stereo

    key = f"rigs.{rig_spec.name}.calibration"
    try:
        return load_stereo(rig_spec.options["calibration"])
    except CalibrationError as err:
        raise common.BadInput(f"{key}: {err.message}; fix: {err.fix or 'run camdeck calibrate stereo again'}") from None


def _num_disparities(stereo, options) -> int:
    from camdeck.calibration.depth import pick_num_disparities

    return int(options.num_disparities or pick_num_disparities(stereo, options.min_depth_m))


def _nearest(stereo, options) -> float:
    from camdeck.calibration.depth import nearest_depth_m

    return nearest_depth_m(stereo, _num_disparities(stereo, options))


def _check_disparity_fits(stereo, options) -> None:
    """--max-disparity below the image width; a warning when --min-depth is nearer than the search reaches."""
    from camdeck.calibration.depth import check_num_disparities, needed_disparities
    from camdeck.calibration.errors import CalibrationInputError

    if options.num_disparities:
        try:
            check_num_disparities(options.num_disparities, int(stereo.image_size[0]), "--max-disparity")
        except CalibrationInputError as err:
            raise common.BadInput(f"{err.message}; fix: {err.fix}") from None
    nearest = _nearest(stereo, options)
    if nearest > options.min_depth_m * 1.001:
        need = needed_disparities(stereo, options.min_depth_m)
        common.log.warning("--min-depth %.2f m is nearer than %d disparities reach (%.2f m); "
                           "pass --max-disparity %d to see that near", options.min_depth_m,
                           _num_disparities(stereo, options), nearest, need)


def _sim_truth(pair, rig: str):
    """The true geometry of a simulated pair (what a perfect `calibrate stereo` would give)."""
    from camdeck.calibration.stereo import StereoCalibration

    truths = [getattr(getattr(pair, side, None), "truth", None) for side in ("left", "right")]
    if any(t is None for t in truths):
        raise common.BadInput(f"--rig {rig}: no stereo calibration given and the cameras are not simulated; "
                              "fix: run camdeck calibrate stereo and pass --stereo stereo.npz")
    return StereoCalibration.from_world_poses(truths[0], truths[1])


def _start(pair) -> None:
    start = getattr(pair, "start", None)
    if callable(start):
        start()


def _close(pair) -> None:
    for name in ("close", "stop"):
        fn = getattr(pair, name, None)
        if callable(fn):
            fn()
            return
