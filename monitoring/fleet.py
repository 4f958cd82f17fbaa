"""Fleet runs: for every configured PTZ camera (or one, or a shard), measure the mount offset and report it.

Per device, in order: check its reference scan; open it (tunnel, camera, telemetry) and
extract a query (passive: one frame where it stands once still; active: a few reference
stops); estimate ΔR against the reference (calibration.offsets); store the result in the
history (SQLite); upload the query scan (and the reference, once) to S3 and insert the result
into Athena when configured; post the report to Slack. A device that fails is recorded (history
and Slack) with its reason and the run goes on. Nothing is dropped (monitoring.fleet_results):
uploads, Athena inserts, Slack reports and history rows that cannot be sent or stored wait in the
spool, and the next run sends them first; a history that cannot be written fails the device.

``--shard i/N`` keeps the devices whose position in the sorted fleet is i modulo N (i from 0,
like a Kubernetes Indexed Job's JOB_COMPLETION_INDEX), so N schedulers split a fleet without
talking to each other.

Stopping a run (``stop``, a ``threading.Event``; the TUI sets it when the operator quits): the
runner checks it before each device and at every progress step inside one (each move and
capture of the query, each query frame of the offsets estimate). A stopped run simply stops:
the device it was in, unless its offsets were already estimated (then it is finished and
recorded as usual), is abandoned without a history row, a Slack post or an upload (it was not
measured; it did not fail), the devices after it are not started, and the report lists both in
``skipped`` with ``stopped`` true. A wait already under way (for the camera to settle, for a
move to arrive, for a tunnel to open) ends too, at its next poll (0.1-0.2 s; an ONVIF request
already sent finishes first, within its timeout); the head itself goes on to its target, and a
frame capture under way finishes.

A stop with a reason (a :class:`StopRequest` given ``request(reason)``: the CLI's SIGTERM and
SIGINT) is for a run that must end but owes its caller an account, as a scheduler's deadline
does: the device in flight is recorded as failed with that reason (its history row; not posted
to Slack nor sent to Athena, which could outlast the scheduler's grace period: the stop was the
scheduler's, not the camera's), the rest are ``skipped``, and ``stop_reason`` says why.

Per device the report also says where its telemetry came from (``telemetry_source``: mqtt,
poll or in-process) and how many of its telemetry messages were unusable and skipped
(``telemetry_malformed``).
"""
from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any, Sequence

from camdeck.drivers.errors import Stopped
from camdeck.monitoring.errors import MonitoringError, MonitoringInputError
from camdeck.monitoring.fleet_report import (  # noqa: F401  (StopRequest, FleetProgress: callers import them from here too)
    DeviceResult, FleetProgress, FleetReport, Progress, StopRequest,
)
from camdeck.monitoring.history import HistoryStore, MonitoringRecord, utc_now_iso

log = logging.getLogger(__name__)


class _RunStopped(BaseException):
    """Unwinds one device's processing when the run is stopped (a BaseException, so that no
    ``except Exception`` on the way turns it into a device failure)."""


# ---------------------------------------------------------------- selection

def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/N"`` -> (i, N) with 0 <= i < N; None for None or "".

    Raises:
        MonitoringInputError: not of that form (the message gives the fix).
    """
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise MonitoringInputError(f"--shard {text!r}: not i/N", "write e.g. --shard 0/4 (i counts from 0)")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise MonitoringInputError(f"--shard {text}: index {i} is outside 0..{max(n - 1, 0)}",
                                   "i counts from 0 to N-1, like JOB_COMPLETION_INDEX of a Kubernetes Indexed Job")
    return i, n


def fleet_devices(settings: Any, device: str | None = None, shard: tuple[int, int] | None = None) -> list:
    """The devices of a run: all configured PTZ cameras, or ``--device``'s, then the shard's share.

    Returns:
        ``monitoring.devices.DeviceRef`` list, sorted by "deployment/camera".
    Raises:
        UnknownDevice (bad input): ``device`` names no configured camera.
    """
    from camdeck.monitoring.devices import select_devices

    devices = sorted(select_devices(settings, device), key=lambda d: d.id)
    if shard is not None:
        i, n = shard
        devices = [d for k, d in enumerate(devices) if k % n == i]
    return devices


def active_stops(reference, count: int = 4) -> list[tuple[float, float, float]]:
    """Stops for an active query: ``count`` reference positions spread in pan at the tilt nearest 0°.

    Taking reference positions means every query frame sees exactly what a reference frame saw.
    """
    frames = list(reference.frames)
    tilt = min({f.tilt_deg for f in frames}, key=lambda t: (abs(t), t))
    row = sorted((f for f in frames if f.tilt_deg == tilt), key=lambda f: f.pan_deg)
    step = max(1, len(row) // max(1, count))
    return [(f.pan_deg, f.tilt_deg, f.zoom) for f in row[::step][:count]]


# ---------------------------------------------------------------- the run

class FleetRunner:
    """Runs devices one after another with shared history, cloud and Slack clients.

    Args:
        settings: console.config.Settings.
        history: the history store (default: storage.history_db under data_dir).
        cloud: a CloudStore (default: one for [storage]).
        notifier: a SlackNotifier (default: one for [slack]).
        progress: called with a FleetProgress at every step (from the calling thread).
        stop: set it (from any thread) to stop the run; see the module docstring.
    """

    def __init__(self, settings: Any, *, history: HistoryStore | None = None, cloud=None, notifier=None,
                 progress: Progress | None = None, stop: threading.Event | None = None) -> None:
        from camdeck.monitoring.cloud import CloudStore
        from camdeck.monitoring.notify import SlackNotifier
        from camdeck.monitoring.spool import Spool

        self.settings = settings
        self.history = history or HistoryStore.from_settings(settings.storage, settings.data_dir)
        self.cloud = cloud or CloudStore(settings.storage, settings.data_dir)
        self.spool = getattr(self.cloud, "spool", None) or Spool(Path(settings.data_dir) / "spool")
        self.notifier = notifier or SlackNotifier(settings.slack, spool=self.spool)
        self._require_extras()
        self.progress = progress
        self.stop = stop

    def _require_extras(self) -> None:
        """Configured S3/Athena or Slack without the fleet extra stops the run before any camera moves.

        Raises:
            MissingExtra: (exit 2) naming boto3 or slack_sdk and ``pip install 'camdeck[fleet]'``.
        """
        from camdeck.fastcore.extras import require_extra

        if getattr(self.cloud, "s3_enabled", False) or getattr(self.cloud, "athena_enabled", False):
            require_extra("boto3", "S3/Athena storage ([storage])")
        if getattr(self.notifier, "enabled", False):
            require_extra("slack_sdk", "Slack alerts ([slack])")
        if getattr(getattr(self.settings, "monitor", None), "features", "") == "disk":
            require_extra("torch", 'features = "disk"')
            require_extra("kornia.feature", 'features = "disk"')

    @property
    def stopping(self) -> bool:
        """The run was asked to stop."""
        return self.stop is not None and self.stop.is_set()

    def _check_stop(self) -> None:
        if self.stopping:
            raise _RunStopped()

    def _stop_reason(self) -> str:
        """Why the run was stopped, when the stop gave a reason ("" otherwise)."""
        return str(getattr(self.stop, "reason", "") or "") if self.stopping else ""

    def run(self, devices: Sequence[Any], *, stabilize_time_s: float | None = None, timeout_s: float | None = None,
            active: bool = False, active_count: int = 4) -> FleetReport:
        """Process every device; never stops at a failed one (only when ``stop`` is set).

        Args:
            devices: ``DeviceRef`` list (see :func:`fleet_devices`).
            stabilize_time_s: stillness before a capture (default [monitor] stabilize_time_s).
            timeout_s: per wait and move (default [monitor] timeout_s).
            active: drive to stops instead of capturing where the camera stands.
            active_count: stops per active query.
        """
        monitor = self.settings.monitor
        stabilize = monitor.stabilize_time_s if stabilize_time_s is None else stabilize_time_s
        timeout = monitor.timeout_s if timeout_s is None else timeout_s
        report = FleetReport()
        from camdeck.monitoring.fleet_results import replay_spool

        replay = replay_spool(history=self.history, spool=self.spool, notifier=self.notifier, cloud=self.cloud)
        report.spool_sent, report.spool_remaining, report.spool = replay.sent, replay.remaining, replay.to_dict()
        if replay.sent or replay.remaining:
            log.info("spool: %d sent, %d still waiting", replay.sent, replay.remaining)
        for index, ref in enumerate(devices):
            result = None if self.stopping else self.run_device(ref, index, len(devices), stabilize, timeout,
                                                                active, active_count)
            if result is None:     # stopped before or inside this device
                report.stopped = True
                report.skipped.append(ref.id)
            else:
                report.devices.append(result)
        if self.stopping:     # a device recorded as "stopped by signal" is not skipped, but the run stopped
            report.stopped = True
            report.stop_reason = self._stop_reason()
            log.info("fleet run stopped: %d device(s) not processed", len(report.skipped))
        return report

    def _emit(self, device: str, stage: str, index: int, count: int, done: int = 0, total: int = 0,
              message: str = "") -> None:
        if self.progress is not None:
            try:
                self.progress(FleetProgress(device, stage, index, count, done, total, message))
            except Exception:  # a broken progress display must not fail the run
                log.exception("fleet progress callback failed")

    def run_device(self, ref: Any, index: int, count: int, stabilize_s: float, timeout_s: float, active: bool,
                   active_count: int = 4) -> DeviceResult | None:
        """One device, start to finish; failures end up in the result, never raised.

        Returns None when a bare ``stop`` was set meanwhile: the device is abandoned unrecorded.
        A StopRequest with a reason instead records the device as failed with that reason
        (history only) and returns its result.
        """
        from camdeck.calibration.align import read_scan_manifest
        from camdeck.calibration.offsets import OffsetsOptions, estimate_offsets
        from camdeck.monitoring.scans import extract_query, scan_root

        name = ref.id
        timestamp = utc_now_iso()
        mode = "active" if active else "passive"
        result = DeviceResult(ref.deployment, ref.camera, success=False)
        positions: list[dict[str, float]] = []
        location = ""
        offsets = None
        stopped = False
        opened: list[Any] = []           # the device, once open: its telemetry counts outlive a failure
        self._emit(name, "start", index, count, message=f"{name}: {mode} run")
        try:
            ref_dir = scan_root(self.settings.data_dir, ref.deployment, ref.camera) / "reference"
            reference = self._reference(ref_dir, name)
            self._emit(name, "reference", index, count, message=f"{len(reference.frames)} reference frames")
            stops = active_stops(reference, active_count) if active else None

            def scan_progress(stage: str, done: int, total: int) -> None:
                self._check_stop()
                self._emit(name, stage, index, count, done, total, f"query {stage} {done}/{total}")

            self._check_stop()
            query = extract_query(name, stabilize_s, timeout_s, stops, settings=self.settings,
                                  progress=scan_progress, stop=self.stop, on_open=opened.append)
            positions = [{"pan_deg": float(p), "tilt_deg": float(t), "zoom": float(z)} for p, t, z in query.positions]
            location = str(query.folder)

            def offsets_progress(done: int, total: int, message: str) -> None:
                self._check_stop()
                self._emit(name, "offsets", index, count, done, total, message)

            offsets = estimate_offsets(reference, read_scan_manifest(query.folder),
                                       OffsetsOptions(method=self.settings.monitor.features), offsets_progress)
            self._write_reports(query.folder, offsets)
            location = self._upload(ref, ref_dir, query.folder, timestamp, result) or location
        except (_RunStopped, Stopped):
            if not self._stop_reason():
                log.info("fleet run stopped during %s: not recorded", name)
                self._emit(name, "stopped", index, count, message="run stopped: not measured")
                return None
            stopped = True
            result.error = self._stop_reason()
            log.warning("%s: %s: recorded as failed", name, result.error)
        except Exception as err:  # every failure is this device's, recorded; the run goes on
            result.error = _one_line(err)
            if not _is_domain_error(err):
                log.exception("fleet run of %s failed unexpectedly", name)
        if opened:
            result.telemetry_source = opened[0].telemetry_source or None
            result.telemetry_malformed = opened[0].telemetry_malformed
        record = MonitoringRecord(
            deployment=ref.deployment, device_id=ref.camera, timestamp=timestamp,
            pitch_offset_deg=offsets.pitch_deg if offsets else None,
            yaw_offset_deg=offsets.yaw_deg if offsets else None,
            roll_offset_deg=offsets.roll_deg if offsets else None,
            mode=mode, capture_positions=tuple(positions), files_location=location,
            success=offsets is not None and result.error is None, failure_logs=result.error or "",
            frames=offsets.frames if offsets else None, inliers=offsets.inliers if offsets else None,
            confidence=offsets.confidence if offsets else None)
        result.record = record
        result.success = record.success
        if offsets is not None:
            result.pitch_deg, result.yaw_deg, result.roll_deg = offsets.pitch_deg, offsets.yaw_deg, offsets.roll_deg
            result.alert = record.is_alert(self.settings.slack.alert_threshold_deg)
        from camdeck.monitoring.fleet_results import record_device

        # stopped by a signal: the history (or the spool) has it; Athena and Slack could outlast
        # the scheduler's grace period, so they are skipped and the row says notified false
        self._emit(name, "store", index, count, message="history" if stopped else "Slack, history, Athena")
        recorded = record_device(record, history=self.history, spool=self.spool,
                                 notifier=None if stopped else self.notifier, cloud=None if stopped else self.cloud)
        result.record = recorded.record
        result.notified, result.notify_error = recorded.notified, recorded.notify_error
        if recorded.history_error:     # measured, but not stored: a failure (exit 1), the row is spooled
            result.success = False
            result.error = f"{result.error}; {recorded.history_error}" if result.error else recorded.history_error
        if stopped:
            self._emit(name, "failed", index, count, message=result.error or "stopped")
            return result
        if result.success:
            self._emit(name, "done", index, count, message=_summary(result))
        else:
            self._emit(name, "failed", index, count, message=result.error or "failed")
        return result

    def _reference(self, ref_dir: Path, name: str):
        from camdeck.calibration.align import read_scan_manifest
        from camdeck.calibration.errors import CalibrationFileError
        from camdeck.monitoring.reference_swap import recover_reference

        recover_reference(ref_dir)     # a collection that crashed between its two renames
        if not (ref_dir / "manifest.json").is_file():
            raise MonitoringInputError(f"{name}: no reference scan in {ref_dir}",
                                       f"run camdeck monitor collect-references --device {name}")
        try:
            reference = read_scan_manifest(ref_dir)
        except CalibrationFileError as err:
            raise MonitoringInputError(f"{name}: reference scan unusable ({err.message})",
                                       f"run camdeck monitor collect-references --device {name} --restart") from None
        if reference.raw.get("complete") is False:
            raise MonitoringInputError(f"{name}: the reference scan in {ref_dir} is incomplete",
                                       f"finish it: camdeck monitor collect-references --device {name}")
        return reference

    def _write_reports(self, folder: Path, offsets) -> None:
        from camdeck.calibration.report import write_offsets_csv, write_offsets_xlsx
        from camdeck.fastcore.extras import MissingExtra

        summary = offsets.to_dict()
        try:
            write_offsets_csv(summary, folder / "offsets.csv")
            write_offsets_xlsx(summary, folder / "offsets.xlsx")
        except MissingExtra as err:  # a core install: the CSV is written, the workbook needs openpyxl
            log.info("offsets.xlsx in %s skipped: %s", folder, err)
        except Exception as err:  # the report is a convenience; the numbers go to history anyway
            log.warning("offsets report in %s not written: %s", folder, _one_line(err))

    def _upload(self, ref: Any, ref_dir: Path, query_dir: Path, timestamp: str, result: DeviceResult) -> str:
        """Upload the reference (once per reference scan) and the query; returns the query's location."""
        if not self.cloud.s3_enabled:
            return ""
        from camdeck.monitoring.cloud_reference import upload_reference

        up = upload_reference(self.cloud, ref_dir, ref.deployment, ref.camera)   # once per reference scan
        if up is not None:
            result.uploaded += up.uploaded
            result.spooled += up.spooled
        up = self.cloud.upload_scan(query_dir, ref.deployment, ref.camera, "query", timestamp=timestamp)
        result.uploaded += up.uploaded
        result.spooled += up.spooled
        return up.location


def run_fleet(settings: Any, *, device: str | None = None, shard: str | tuple[int, int] | None = None,
              stabilize_time_s: float | None = None, timeout_s: float | None = None, active: bool = False,
              progress: Progress | None = None, stop: threading.Event | None = None,
              **runner_kwargs: Any) -> FleetReport:
    """``camdeck monitor run``: select the devices and process each (see :class:`FleetRunner`).

    ``stop``: set it from another thread to stop the run (see the module docstring).

    Raises:
        MonitoringInputError: a bad ``shard`` or ``device`` (before any camera moves).
    """
    shard_pair = parse_shard(shard) if isinstance(shard, str) else shard
    devices = fleet_devices(settings, device, shard_pair)
    runner = FleetRunner(settings, progress=progress, stop=stop, **runner_kwargs)
    return runner.run(devices, stabilize_time_s=stabilize_time_s, timeout_s=timeout_s, active=active)


def _is_domain_error(err: BaseException) -> bool:
    from camdeck.calibration.errors import CalibrationError

    try:
        from camdeck.drivers.errors import DriverError
    except ImportError:  # pragma: no cover
        DriverError = ()  # type: ignore[assignment]
    return isinstance(err, (MonitoringError, CalibrationError, DriverError, OSError))


def _one_line(err: BaseException) -> str:
    text = str(err) or err.__class__.__name__
    return " ".join(text.split())


def _summary(result: DeviceResult) -> str:
    mark = "ALERT " if result.alert else ""
    return (f"{mark}pitch {result.pitch_deg:+.3f}°, yaw {result.yaw_deg:+.3f}°, roll {result.roll_deg:+.3f}°")
