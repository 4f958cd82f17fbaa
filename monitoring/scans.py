"""Reference and query scans of PTZ cameras: drive, wait for stability, capture, extract features, save.

A scan is a folder with ``images/``, ``features/`` and ``manifest.json`` (docs/design.md, "Files"):

    DATA_DIR/scans/<deployment>/<camera>/reference/              the camera's reference (always complete)
    DATA_DIR/scans/<deployment>/<camera>/reference.partial/      a collection in progress (resumable)
    DATA_DIR/scans/<deployment>/<camera>/query/<UTC stamp>/      one query extraction

Manifest frames carry ``index``, ``image``, ``pan_deg``, ``tilt_deg``, ``zoom``, ``K`` (3x3, px),
``timestamp`` (UTC ISO) and, beyond the design's minimum, ``features`` (the .npz path; SIFT
features also go to ``features/NNN.png.txt`` in COLMAP's import format), ``dist`` (with a lens
calibration: K and dist then come from monitoring.lens), ``telemetry`` (the sample that declared
stability) and ``stop`` (grid cell [i, j], references).
The manifest also records ``features_method``, ``complete`` and, for references, ``grid``.

The camera is driven through :mod:`monitoring.devices` (``open_device``), which resolves
``DEPLOYMENT/CAMERA`` and says where the telemetry came from; the manifests record
``telemetry_source`` and, when it polls instead of MQTT, ``telemetry_fallback``.

``settings`` arguments are console.config.Settings (duck-typed here: cameras, monitor, data_dir;
monitoring.devices reads deployments, mqtt and driver_context()).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from camdeck.fileio.atomic import write_text_atomic
from camdeck.fileio.bounded import MANIFEST_CAP, UnreadableFile, load_json
from camdeck.fileio.names import check_safe_name
from camdeck.drivers.base import CameraSpec, Frame
from camdeck.monitoring.devices import PtzDevice, open_device, resolve_device
from camdeck.monitoring.lens import calibrated_lens
from camdeck.monitoring.errors import MonitoringInputError, ScanError
from camdeck.monitoring.reference_swap import (holds_no_files, read_json_manifest, recover_reference,
                                               staging_folder, swap_in_reference)

#: progress(stage, done, total): stage is "move", "capture" or "skip".
Progress = Callable[[str, int, int], None]
MANIFEST = "manifest.json"


class ScanFileError(ScanError, MonitoringInputError):
    """A scan folder or manifest that cannot be used (bad input)."""

    bad_input = True


def utc_now_text() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(unix_s: float) -> str:
    stamp = dt.datetime.fromtimestamp(unix_s, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def grid_stops(pan_range_deg: Sequence[float], tilt_range_deg: Sequence[float], horizontal: int,
               vertical: int) -> list[tuple[int, int, float, float]]:
    """The reference grid: (i, j, pan_deg, tilt_deg) for H x V stops, in serpentine order.

    Pan stops are evenly spaced; a full circle (range >= 360) is split into ``horizontal``
    equal sectors without repeating its end, a partial one includes both ends. Tilt stops
    include both ends of the range. One stop on an axis sits at the range's centre.
    """
    if horizontal < 1 or vertical < 1:
        raise ScanFileError(f"grid {horizontal} x {vertical} is empty", "use at least 1 x 1 stops")
    p0, p1 = float(pan_range_deg[0]), float(pan_range_deg[1])
    t0, t1 = float(tilt_range_deg[0]), float(tilt_range_deg[1])
    if horizontal == 1:
        pans = [(p0 + p1) / 2.0]
    elif p1 - p0 >= 360.0 - 1e-9:
        pans = [p0 + i * 360.0 / horizontal for i in range(horizontal)]
    else:
        pans = [p0 + i * (p1 - p0) / (horizontal - 1) for i in range(horizontal)]
    tilts = [(t0 + t1) / 2.0] if vertical == 1 else [t0 + j * (t1 - t0) / (vertical - 1) for j in range(vertical)]
    stops = []
    for j, tilt in enumerate(tilts):
        order = range(horizontal) if j % 2 == 0 else range(horizontal - 1, -1, -1)
        stops.extend((i, j, pans[i], tilt) for i in order)
    return stops


def scan_root(data_dir: Path, deployment: str, camera: str) -> Path:
    """DATA_DIR/scans/DEPLOYMENT/CAMERA. Both names pass the one safe-name check first, so no name
    ('..', 'a/b', an absolute path) can put a scan outside scans/.

    Raises:
        fileio.names.UnsafeName: a name that cannot be a folder name (bad input, exit 2).
    """
    check_safe_name(deployment, "deployment")
    check_safe_name(camera, "camera")
    return Path(data_dir) / "scans" / deployment / camera


def read_manifest(folder_or_file: str | os.PathLike) -> dict[str, Any]:
    """Read and check a scan manifest (folder or manifest.json path).

    Raises:
        ScanFileError: missing, not JSON, or without the keys of docs/design.md's format.
    """
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / MANIFEST
    if not path.exists():
        raise ScanFileError(f"{path}: no scan manifest", "give a scan folder made by camdeck "
                            "(monitor collect-references or a query extraction)")
    try:
        data = load_json(path, cap=MANIFEST_CAP)     # a regular file of bounded size and depth
    except UnreadableFile as err:
        raise ScanFileError(f"{path}: not a readable JSON manifest ({err.problem})", "collect the scan again") from None
    if not isinstance(data, dict) or not isinstance(data.get("frames", []), list):
        raise ScanFileError(f"{path}: not a scan manifest (a JSON object with a frames list)", "collect the scan again")
    for key in ("deployment", "camera", "kind", "image_size", "frames"):
        if key not in data:
            raise ScanFileError(f"{path}: manifest without {key!r}", "collect the scan again")
    for n, frame in enumerate(data["frames"]):
        missing = [k for k in ("index", "image", "pan_deg", "tilt_deg", "zoom", "K") if k not in frame]
        if missing:
            raise ScanFileError(f"{path}: frame {n} lacks {', '.join(missing)}", "collect the scan again")
    return data


def _record_telemetry(manifest: dict[str, Any], device: PtzDevice) -> None:
    """Put the device's telemetry source, and why it polls when it fell back, into ``manifest``."""
    manifest["telemetry_source"] = device.telemetry_source
    manifest["telemetry_malformed"] = device.telemetry_malformed
    if device.telemetry_fallback:
        manifest["telemetry_fallback"] = device.telemetry_fallback
    else:
        manifest.pop("telemetry_fallback", None)


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    manifest["frames"].sort(key=lambda f: f["index"])
    return write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=1))


def _save_frame(folder: Path, index: int, frame: Frame, device: PtzDevice, sample: Any,
                features: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """Write the image (PNG) and features of one capture; returns its manifest entry."""
    from camdeck.drivers.imaging import frame_to_rgb, write_image_atomic

    rgb = frame_to_rgb(frame)
    image = f"images/{index:03d}.png"
    write_image_atomic(folder / image, rgb)
    meta = frame.meta
    pan, tilt, zoom = (meta.get("pan_deg"), meta.get("tilt_deg"), meta.get("zoom"))
    if pan is None:
        pan, tilt, zoom = device.camera.position()
    K, dist = meta.get("K"), None
    lens = calibrated_lens(device.spec)       # config `calibration`: K and dist of the measured lens
    if lens is not None:
        K, dist = lens.at(zoom, (int(rgb.shape[1]), int(rgb.shape[0])))
    elif K is None:
        K = device.camera.intrinsics(zoom).tolist()
    entry = {"index": index, "image": image, "pan_deg": float(pan), "tilt_deg": float(tilt), "zoom": float(zoom),
             "K": [[float(v) for v in row] for row in K],
             "timestamp": utc_text(time.time())}
    if dist is not None:
        entry["dist"] = dist
    if features:
        from camdeck.calibration.features import extract_features, save_colmap_features, save_features

        name = f"features/{index:03d}.npz"
        found = extract_features(rgb, features)
        save_features(folder / name, found)
        entry["features"] = name
        if features == "sift":           # COLMAP's feature import: features/<image name>.txt
            save_colmap_features(folder / "features" / f"{Path(image).name}.txt", found)
    if sample is not None:
        entry["telemetry"] = sample.as_dict()
    entry.update(extra)
    return entry


@dataclass
class ScanResult:
    """A finished (or resumed-and-finished) reference scan."""

    folder: Path
    manifest_path: Path
    frames: int
    captured: int
    resumed: int
    archived: Path | None = None


def collect_references(settings: Any, device_id: str, *, horizontal: int | None = None,
                       vertical: int | None = None, settle_s: float = 1.0, timeout_s: float | None = None,
                       features: str | None = None, folder: Path | None = None, restart: bool = False,
                       progress: Progress | None = None, stop: threading.Event | None = None) -> ScanResult:
    """Grid-scan one camera: at each stop move, wait for stability, capture, extract features, save.

    Args:
        settings: the validated config.
        device_id: "DEPLOYMENT/CAMERA" (or a camera name).
        horizontal, vertical: stops (default: [monitor] horizontal_stops x vertical_stops).
        settle_s: seconds (camera time) without motion before a capture.
        timeout_s: per-stop limit in wall seconds (default [monitor] timeout_s).
        features: "sift" | "disk" | "" (none) (default [monitor] features).
        folder: where to write (default DATA_DIR/scans/DEPLOYMENT/CAMERA/reference).
        restart: ignore an interrupted scan instead of resuming it.
        progress: ``progress(stage, done, total)``.
        stop: set it from another thread to end the scan at its next move or wait (raises
            drivers.errors.Stopped; the frames saved so far stay in ``<folder>.partial``, for a resume).
    The scan builds in ``<folder>.partial`` and replaces ``folder`` only once complete
    (monitoring.reference_swap): a failure at any point leaves the reference in use as it was.
    Interrupted scans resume from ``<folder>.partial``: frames whose image (and features) exist
    are kept when the grid matches. The replaced reference is kept as ``<folder>-<created>``.
    """
    monitor = settings.monitor
    horizontal = horizontal or monitor.horizontal_stops
    vertical = vertical or monitor.vertical_stops
    timeout_s = timeout_s or monitor.timeout_s
    features = monitor.features if features is None else features
    ref = resolve_device(settings, device_id)
    spec: CameraSpec = settings.cameras[ref.camera]
    folder = Path(folder) if folder else scan_root(settings.data_dir, ref.deployment, ref.camera) / "reference"
    final, folder = folder, staging_folder(folder)      # build beside the reference in use, swap at the end
    recover_reference(final)
    pan_range = tuple(spec.options.get("pan_range_deg", (-180.0, 180.0)))
    tilt_range = tuple(spec.options.get("tilt_range_deg", (-30.0, 90.0)))
    stops = grid_stops(pan_range, tilt_range, horizontal, vertical)
    grid = {"horizontal": horizontal, "vertical": vertical, "pan_range_deg": list(pan_range),
            "tilt_range_deg": list(tilt_range), "features": features or None}
    manifest = _prepare_staging(final, folder, grid, restart)
    done = {f["index"]: f for f in manifest["frames"] if _frame_files_exist(folder, f)}
    manifest["frames"] = list(done.values())
    manifest.update(deployment=ref.deployment, camera=ref.camera, kind="reference", grid=grid,
                    features_method=features or None, complete=False)
    resumed = len(done)
    with open_device(settings, ref, stop=stop) as device:
        manifest["image_size"] = list(device.image_size())
        _record_telemetry(manifest, device)
        for index, (i, j, pan, tilt) in enumerate(stops):
            if index in done:
                if progress:
                    progress("skip", index + 1, len(stops))
                continue
            if progress:
                progress("move", index, len(stops))
            sample = device.move_and_settle(pan, tilt, 0.0, settle_s, timeout_s)
            frame = device.camera.capture(timeout_s=timeout_s)
            entry = _save_frame(folder, index, frame, device, sample, features, {"stop": [i, j]})
            manifest["image_size"] = [int(frame.array.shape[1]), int(frame.array.shape[0])]
            manifest["frames"].append(entry)
            _record_telemetry(manifest, device)
            _write_manifest(folder, manifest)
            if progress:
                progress("capture", index + 1, len(stops))
    manifest["complete"] = True
    _write_manifest(folder, manifest)
    archived = swap_in_reference(folder, final, utc_now_text())
    return ScanResult(folder=final, manifest_path=final / MANIFEST, frames=len(manifest["frames"]),
                      captured=len(stops) - resumed, resumed=resumed, archived=archived)


def _frame_files_exist(folder: Path, frame: dict[str, Any]) -> bool:
    if not (folder / frame["image"]).is_file():
        return False
    return "features" not in frame or (folder / frame["features"]).is_file()


def _prepare_staging(folder: Path, staging: Path, grid: dict[str, Any], restart: bool) -> dict[str, Any]:
    """The manifest to continue in ``staging`` (an interrupted scan of the same grid) or a fresh one.

    ``folder`` (the reference in use) is never written here. An interrupted scan left in
    ``folder`` itself by an older camdeck moves to ``staging`` so it resumes; a ``folder`` that
    holds only empty folders (a failed start of an older camdeck) is ignored, swapped out later.

    Raises:
        ScanFileError: ``folder`` holds files but is not a camdeck scan.
    """
    fresh = {"deployment": "", "camera": "", "kind": "reference", "created": utc_now_text(),
             "image_size": [0, 0], "frames": []}
    current = read_json_manifest(folder)
    if folder.exists() and current is None and not holds_no_files(folder):
        raise ScanFileError(f"{folder}: exists and is not a camdeck scan", "choose an empty folder or remove it")
    if current is not None and not current.get("complete") and not staging.exists():
        os.rename(folder, staging)          # an older camdeck's interrupted scan: resume it beside
    old = read_json_manifest(staging)
    if old is not None and not restart and old.get("grid") == grid and isinstance(old.get("frames"), list):
        staging.joinpath("images").mkdir(parents=True, exist_ok=True)
        return old
    if staging.exists():
        shutil.rmtree(staging)              # ours: a staging folder of another grid, or without a manifest
    (staging / "images").mkdir(parents=True, exist_ok=True)
    return fresh


@dataclass
class QueryResult:
    """What :func:`extract_query` captured.

    Attributes:
        frames: the camera frames, (H, W, 3) uint8 RGB arrays in ``frame.array``.
        telemetry: per frame, the telemetry sample that declared stability.
        positions: per frame, (pan_deg, tilt_deg, zoom) at capture.
        folder: the query scan folder.
        manifest_path: its manifest.json.
        deployment, camera: which device.
    """

    frames: list[Frame]
    telemetry: list[Any]
    positions: list[tuple[float, float, float]]
    folder: Path
    manifest_path: Path
    deployment: str = ""
    camera: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def extract_query(device_id: str, stabilize_time: float, timeout: float,
                  active_ptz_stops: Sequence[Sequence[float]] | bool | None = None, *, settings: Any,
                  features: str | None = None, folder: Path | None = None,
                  progress: Progress | None = None, stop: threading.Event | None = None,
                  on_open: Callable[[PtzDevice], None] | None = None) -> QueryResult:
    """Capture query frames of one camera.

    Passive (``active_ptz_stops`` None/False/empty): wait until the camera has been still for
    ``stabilize_time`` seconds (camera time), then capture one frame where it stands.
    Active: drive to each stop ((pan_deg, tilt_deg) or (pan_deg, tilt_deg, zoom); True means the
    reference grid of [monitor]), wait for stability, capture.

    Args:
        device_id: "DEPLOYMENT/CAMERA" (or a camera name).
        stabilize_time: seconds without motion before each capture.
        timeout: wall seconds allowed per wait for stability (and per move).
        settings: the validated config.
        features: "sift" | "disk" | "" (none) (default [monitor] features).
        folder: where to write (default DATA_DIR/scans/DEPLOYMENT/CAMERA/query/<UTC stamp>).
        stop: set it from another thread to end a move or a wait at once (raises Stopped).
        on_open: called with the opened device (its telemetry source and counts stay readable
            after a failure).
    Raises:
        TelemetryTimeout: the camera did not settle in time; DriverError subclasses for camera faults;
        drivers.errors.Stopped: ``stop`` was set.
    """
    ref = resolve_device(settings, device_id)
    spec: CameraSpec = settings.cameras[ref.camera]
    features = settings.monitor.features if features is None else features
    if active_ptz_stops is True:
        stops = [(p, t, 0.0) for _, _, p, t in grid_stops(spec.options.get("pan_range_deg", (-180.0, 180.0)),
                                                         spec.options.get("tilt_range_deg", (-30.0, 90.0)),
                                                         settings.monitor.horizontal_stops,
                                                         settings.monitor.vertical_stops)]
    else:
        stops = [tuple(float(v) for v in s) + ((0.0,) if len(s) == 2 else ()) for s in (active_ptz_stops or [])]
    created = utc_now_text()
    if folder is None:
        base = scan_root(settings.data_dir, ref.deployment, ref.camera) / "query"
        folder = base / created.replace(":", "").replace("-", "")
        n = 1
        while folder.exists():
            folder = base / f"{created.replace(':', '').replace('-', '')}-{n}"
            n += 1
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"deployment": ref.deployment, "camera": ref.camera, "kind": "query",
                                "created": created, "image_size": [0, 0], "frames": [],
                                "mode": "active" if stops else "passive", "features_method": features or None,
                                "stabilize_time_s": stabilize_time, "complete": False}
    frames: list[Frame] = []
    samples: list[Any] = []
    positions: list[tuple[float, float, float]] = []
    total = max(1, len(stops))
    with open_device(settings, ref, stop=stop) as device:
        if on_open is not None:
            on_open(device)
        _record_telemetry(manifest, device)
        for index in range(total):
            if stops:
                if progress:
                    progress("move", index, total)
                sample = device.move_and_settle(*stops[index], stabilize_time, timeout)
            else:
                sample = device.wait_stable(stabilize_time, timeout)
            frame = device.camera.capture(timeout_s=timeout)
            entry = _save_frame(folder, index, frame, device, sample, features, {})
            manifest["image_size"] = [int(frame.array.shape[1]), int(frame.array.shape[0])]
            manifest["frames"].append(entry)
            _record_telemetry(manifest, device)
            _write_manifest(folder, manifest)
            frames.append(frame)
            samples.append(sample)
            positions.append((entry["pan_deg"], entry["tilt_deg"], entry["zoom"]))
            if progress:
                progress("capture", index + 1, total)
        _record_telemetry(manifest, device)
    manifest["complete"] = True
    path = _write_manifest(folder, manifest)
    extra = {"telemetry_source": manifest["telemetry_source"]}
    if manifest.get("telemetry_fallback"):
        extra["telemetry_fallback"] = manifest["telemetry_fallback"]
    return QueryResult(frames=frames, telemetry=samples, positions=positions, folder=folder, manifest_path=path,
                       deployment=ref.deployment, camera=ref.camera, extra=extra)
