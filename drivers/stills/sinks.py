"""Where periodic stills go: a folder, or Redis with an on-disk spool; and the capture job.

Sinks (``--sink``):

- ``dir:PATH``: ``PATH/image_<unix-ts>.png`` (or ``.jpg``) plus ``image_<unix-ts>.json``
  holding the same fields as the Redis hash (without the bytes), both written atomically;
- ``redis://HOST:PORT/DB`` (or ``rediss://``; a bare ``redis`` means the configured URL,
  where ``REDIS_URL`` wins): a hash ``image:<unix-ts>`` with the fields ``image`` (PNG or
  JPEG bytes), ``format``, ``camera``, ``width``, ``height``, ``timestamp`` (unix seconds,
  with fractions), ``time_utc`` (ISO 8601), ``seq`` and ``metadata`` (JSON of the frame's
  metadata). ``<unix-ts>`` is whole seconds, so captures are at least 1 s apart; should
  two stills still meet in one second (overlapping runs), the later one is stored as
  ``image:<unix-ts>-1`` rather than overwrite the first.

When Redis cannot be reached, a still is kept in the spool folder
(``<data_dir>/spool/redis/<host>_<port>_<db>/``, one atomically written file per still)
and sent, oldest first, as soon as Redis answers again (before the next still, and when
the job ends); a later run sends what an earlier one left.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from camdeck.fileio.atomic import write_bytes_atomic as _write_bytes_atomic
from camdeck.drivers.errors import CameraDisconnected, DriverError

SPOOL_MAGIC = b"CAMDECK-STILL 1\n"


class SinkError(DriverError):
    """A sink that cannot store a still."""


class SinkFull(SinkError):
    """A still that could be neither stored nor kept (the disk under the sink or the spool
    is full or gone). What was stored or spooled before stays; the capture job stops."""


class BadSink(SinkError):
    """A ``--sink`` value that is not a sink: bad input."""

    bad_input = True


@dataclass(frozen=True)
class StillImage:
    """One encoded still and the facts stored with it."""

    data: bytes                      # PNG or JPEG bytes
    format: str                      # "png" or "jpeg"
    camera: str
    width: int
    height: int
    timestamp: float                 # unix seconds
    seq: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The Redis key ``image:<unix-ts>`` (whole seconds)."""
        return f"image:{int(self.timestamp)}"

    def fields(self) -> dict[str, Any]:
        """The hash fields, bytes included."""
        utc = datetime.fromtimestamp(self.timestamp, timezone.utc)
        return {"image": self.data, "format": self.format, "camera": self.camera, "width": self.width,
                "height": self.height, "timestamp": f"{self.timestamp:.6f}", "seq": self.seq,
                "time_utc": utc.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "metadata": json.dumps(dict(self.metadata), sort_keys=True, default=str)}


def encode_still(rgb: np.ndarray, image_format: str = "png", jpeg_quality: int = 90) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG or JPEG bytes."""
    import cv2

    fmt = image_format.lower()
    if fmt not in ("png", "jpeg", "jpg"):
        raise BadSink(f"image format {image_format!r} is not supported", "use --format png or --format jpeg")
    bgr = np.ascontiguousarray(rgb[..., ::-1]) if rgb.ndim == 3 else rgb
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if fmt != "png" else []
    ok, buf = cv2.imencode(".png" if fmt == "png" else ".jpg", bgr, params)
    if not ok:
        raise SinkError(f"OpenCV could not encode the still as {fmt}", "check the frame's shape and dtype")
    return buf.tobytes()




@dataclass(frozen=True)
class StoreResult:
    """What happened to one still: stored now, or spooled for later; and what was replayed."""

    key: str
    stored: bool
    spooled: bool = False
    replayed: int = 0
    location: str = ""
    error: str = ""


class FolderSink:
    """Stills as image files in a folder (``dir:PATH``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def describe(self) -> str:
        return f"dir:{self.folder}"

    def open(self) -> None:
        """Create the folder; BadSink if it cannot be written."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".camdeck-probe-", dir=self.folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise BadSink(f"sink folder {self.folder} is not writable ({err.strerror or err})",
                          "choose a writable folder: --sink dir:PATH") from None

    def put(self, still: StillImage) -> StoreResult:
        """Write ``image_<unix-ts>.png|jpg`` and its ``.json``; a second still in the same
        second becomes ``image_<unix-ts>-1``, as in Redis."""
        ext = "png" if still.format == "png" else "jpg"
        base, n = still.key.replace(":", "_"), 0
        stem = base
        while (self.folder / f"{stem}.json").exists():
            n += 1
            stem = f"{base}-{n}"
        image = self.folder / f"{stem}.{ext}"
        meta = {k: v for k, v in still.fields().items() if k != "image"}
        meta["metadata"] = dict(still.metadata)
        meta["file"] = image.name
        try:
            _write_bytes_atomic(image, still.data)
            _write_bytes_atomic(self.folder / f"{stem}.json", (json.dumps(meta, indent=2, default=str) + "\n").encode())
        except OSError as err:   # a full or vanished disk: no half still is left (the image goes too)
            try:
                image.unlink(missing_ok=True)       # its .json is missing: no half still stays behind
            except OSError:
                pass
            raise SinkFull(f"still {still.key} could not be written to {self.folder} ({err.strerror or err})",
                           f"free disk space in {self.folder} or choose another --sink dir:PATH") from None
        return StoreResult(key=stem.replace("_", ":", 1), stored=True, location=str(image))

    def pending(self) -> int:
        return 0

    def replay(self) -> int:
        return 0

    def close(self) -> None:
        pass


class RedisSink:
    """Stills as Redis hashes, with an on-disk spool for when Redis is away.

    Args:
        url: ``redis://HOST:PORT/DB`` (or rediss://).
        spool_dir: folder for stills Redis could not take.
        timeout_s: socket connect/read timeout; a down server is noticed this fast.
    """

    def __init__(self, url: str, spool_dir: Path, *, timeout_s: float = 2.0) -> None:
        self.url = url
        self.spool_dir = Path(spool_dir)
        self.timeout_s = timeout_s
        self._client = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return _redact_url(self.url)

    def open(self) -> None:
        """Create the client and the spool folder (no connection is needed yet)."""
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BadSink(f"spool folder {self.spool_dir} cannot be created ({err.strerror})",
                          "pass a writable --data-dir") from None
        try:
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=self.timeout_s, socket_timeout=self.timeout_s,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2), health_check_interval=5)
        except ValueError as err:
            raise BadSink(f"--sink {self.describe()}: {err}", "write redis://HOST:PORT/DB") from None

    def _store(self, still_fields: dict[str, Any], key: str) -> str:
        """HSET the still under ``key``; returns the key used.

        Two stills in one second (runs overlapping, a spool replayed next to a fresh
        still) never overwrite each other: the later one goes to ``key-1``, ``key-2``...
        The same still stored twice (a replay after a lost reply) lands on its own key.
        """
        candidate, n = key, 0
        while True:
            existing = self._client.hget(candidate, "timestamp")
            if existing is None or existing.decode() == str(still_fields["timestamp"]):
                break
            n += 1
            candidate = f"{key}-{n}"
        self._client.hset(candidate, mapping=still_fields)
        return candidate

    def _errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

    def put(self, still: StillImage) -> StoreResult:
        """Send the spool first (oldest first), then ``still``; spool it if Redis is away."""
        with self._lock:
            replayed = 0
            try:
                replayed = self._replay_locked()
                key = self._store(still.fields(), still.key)
                return StoreResult(key=key, stored=True, replayed=replayed, location=self.describe())
            except self._errors() as err:
                try:
                    self._spool(still)
                except OSError as spool_err:   # nowhere to keep it: say so; the spool keeps what it has
                    raise SinkFull(f"still {still.key} could not be sent to {self.describe()} ({_one_line(err)}) "
                                   f"nor kept in the spool {self.spool_dir} ({spool_err.strerror or spool_err})",
                                   f"free disk space in {self.spool_dir} (or pass another --data-dir); "
                                   "the stills already in the spool are sent on the next run") from None
                return StoreResult(key=still.key, stored=False, spooled=True, replayed=replayed,
                                   location=str(self.spool_dir), error=_one_line(err))

    def replay(self) -> int:
        """Send what the spool holds; returns how many went (0 when Redis is still away)."""
        with self._lock:
            try:
                return self._replay_locked()
            except self._errors():
                return 0

    def _replay_locked(self) -> int:
        sent = 0
        for path in sorted(self.spool_dir.glob("*.still")):
            try:
                key, fields = _read_spooled(path)
            except (OSError, ValueError):
                path.rename(path.with_suffix(".bad"))  # keep it for a human, stop retrying it
                continue
            self._store(fields, key)
            path.unlink()
            sent += 1
        return sent

    def _spool(self, still: StillImage) -> Path:
        fields = still.fields()
        header = {k: v for k, v in fields.items() if k != "image"}
        header["key"] = still.key
        blob = SPOOL_MAGIC + json.dumps(header).encode() + b"\n" + still.data
        # time first in the name keeps the replay in capture order
        path = self.spool_dir / f"{still.timestamp:017.6f}_{still.seq:08d}.still"
        _write_bytes_atomic(path, blob)
        return path

    def pending(self) -> int:
        """Stills waiting in the spool."""
        return sum(1 for _ in self.spool_dir.glob("*.still")) if self.spool_dir.is_dir() else 0

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None


def _read_spooled(path: Path) -> tuple[str, dict[str, Any]]:
    blob = path.read_bytes()
    if not blob.startswith(SPOOL_MAGIC):
        raise ValueError(f"{path.name}: not a spooled still")
    head, sep, data = blob[len(SPOOL_MAGIC):].partition(b"\n")
    if not sep:
        raise ValueError(f"{path.name}: truncated")
    header = json.loads(head)
    key = header.pop("key")
    header["image"] = data
    return key, header


def _one_line(err: BaseException) -> str:
    return " ".join((str(err) or type(err).__name__).split())


def _redact_url(url: str) -> str:
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)


def parse_sink(text: str, *, data_dir: Path, default_redis_url: str = "redis://127.0.0.1:6379/0"):
    """``dir:PATH`` -> FolderSink; ``redis://...``/``rediss://...``/``redis`` -> RedisSink (not opened).

    Raises:
        BadSink: anything else, naming the accepted forms.
    """
    text = (text or "").strip()
    if text.startswith("dir:"):
        folder = text[4:]
        if not folder:
            raise BadSink("--sink dir: needs a folder", "write --sink dir:PATH")
        return FolderSink(Path(folder).expanduser())
    if text == "redis":
        text = default_redis_url
    if text.startswith(("redis://", "rediss://", "unix://")):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(text)
            port = parts.port or 6379
            db = (parts.path or "/0").strip("/") or "0"
        except ValueError as err:
            raise BadSink(f"--sink {_redact_url(text)}: {err}", "write redis://HOST:PORT/DB") from None
        if not db.isdigit():
            raise BadSink(f"--sink {_redact_url(text)}: database {db!r} is not a number", "write redis://HOST:PORT/DB")
        spool = Path(data_dir) / "spool" / "redis" / re.sub(r"[^A-Za-z0-9_.-]", "_", f"{parts.hostname}_{port}_{db}")
        return RedisSink(text, spool)
    raise BadSink(f"--sink {text!r} is not a sink", "write --sink redis://HOST:PORT/DB or --sink dir:PATH")


# ---------------------------------------------------------------- the capture job

@dataclass(frozen=True)
class CaptureEvent:
    """Progress of a periodic capture: ``kind`` is "stored", "spooled", "error" or "done"."""

    kind: str
    index: int = 0
    key: str = ""
    location: str = ""
    replayed: int = 0
    pending: int = 0
    message: str = ""
    width: int = 0
    height: int = 0
    timestamp: float = 0.0


@dataclass
class CaptureSummary:
    """What a periodic capture did."""

    captured: int = 0
    stored: int = 0
    spooled: int = 0
    replayed: int = 0
    pending: int = 0
    lost: int = 0                    # stills neither stored nor kept (the sink's disk was full)
    errors: list[str] = field(default_factory=list)
    stopped_by: str = "count"        # count, signal, camera, sink

    @property
    def ok(self) -> bool:
        return not self.errors and self.pending == 0


def _meta_scalars(meta: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in meta.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[str(k)] = v
        elif isinstance(v, (tuple, list)) and all(isinstance(x, (int, float)) for x in v):
            out[str(k)] = list(v)
    return out


def run_periodic_capture(camera: Any, sink: Any, *, every_s: float, count: int | None = None,
                         image_format: str = "png", capture_timeout_s: float = 5.0,
                         stop_event: threading.Event | None = None,
                         progress: Callable[[CaptureEvent], None] | None = None,
                         clock: Callable[[], float] = time.monotonic,
                         wall: Callable[[], float] = time.time) -> CaptureSummary:
    """Capture a still from ``camera`` every ``every_s`` seconds into ``sink``.

    Ticks are scheduled from the start (no drift); a slow store skips to the next due
    tick. Stops after ``count`` stills, when ``stop_event`` is set, when the camera is
    disconnected, or when the sink can neither store nor spool a still (SinkFull: a full
    disk; an "error" event names it, what was stored or spooled before stays, and the job
    still ends with its "done" event and summary). The camera is started here and stopped
    at the end (not closed).

    Args:
        camera: an opened Camera.
        sink: an opened FolderSink or RedisSink.
        every_s: interval in seconds (> 0).
        count: how many stills, or None for until stopped.
        image_format: "png" or "jpeg".

    Returns:
        CaptureSummary; ``ok`` is false after a capture error or with stills left in the spool.
    """
    from camdeck.drivers.imaging import frame_to_rgb

    stop = stop_event or threading.Event()
    emit = progress or (lambda event: None)
    summary = CaptureSummary()
    fmt = "png" if image_format.lower() == "png" else "jpeg"
    summary.replayed += sink.replay()
    camera.start()
    start = clock()
    try:
        k = 0
        while count is None or summary.captured < count:
            due = start + k * every_s
            delay = due - clock()
            if delay > 0 and stop.wait(delay):
                summary.stopped_by = "signal"
                break
            if stop.is_set():
                summary.stopped_by = "signal"
                break
            try:
                frame = camera.capture(capture_timeout_s)
            except CameraDisconnected as err:
                summary.errors.append(_one_line(err))
                emit(CaptureEvent("error", index=summary.captured, message=_one_line(err)))
                summary.stopped_by = "camera"
                break
            except DriverError as err:
                summary.errors.append(_one_line(err))
                emit(CaptureEvent("error", index=summary.captured, message=_one_line(err)))
                k = max(k + 1, int((clock() - start) // every_s) + 1)
                continue
            ts = wall()
            rgb = frame_to_rgb(frame)
            still = StillImage(data=encode_still(rgb, fmt), format=fmt, camera=camera.name,
                               width=int(rgb.shape[1]), height=int(rgb.shape[0]), timestamp=ts, seq=frame.seq,
                               metadata=_meta_scalars(frame.meta))
            summary.captured += 1
            try:
                result = sink.put(still)
            except SinkError as err:   # neither stored nor spooled (a full disk): stop, keep what is there
                summary.lost += 1
                summary.errors.append(_one_line(err))
                emit(CaptureEvent("error", index=summary.captured, key=still.key, message=_one_line(err),
                                  width=still.width, height=still.height, timestamp=ts))
                summary.stopped_by = "sink"
                break
            summary.replayed += result.replayed
            if result.stored:
                summary.stored += 1
            else:
                summary.spooled += 1
            emit(CaptureEvent("stored" if result.stored else "spooled", index=summary.captured, key=result.key,
                              location=result.location, replayed=result.replayed, pending=sink.pending(),
                              message=result.error, width=still.width, height=still.height, timestamp=ts))
            # next tick strictly after now: a slow store never causes a burst of catch-up stills
            k = max(k + 1, int((clock() - start) // every_s) + 1)
    finally:
        camera.stop()
    summary.replayed += sink.replay()
    summary.pending = sink.pending()
    emit(CaptureEvent("done", index=summary.captured, pending=summary.pending, replayed=summary.replayed,
                      message=summary.stopped_by))
    return summary
