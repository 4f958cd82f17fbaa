"""Where periodic stills go: a folder, or Redis with an on-disk spool (drivers/stills/redis_sink.py).

The job that takes the stills is drivers/stills/capture_job.py.

Sinks (``--sink``):

- ``dir:PATH``: ``PATH/image_<unix-ts>.png`` (or ``.jpg``) plus ``image_<unix-ts>.json``
  holding the same fields as the Redis hash (without the bytes), both written atomically; a
  still the folder cannot take (its disk full, the folder gone) waits in
  ``<data_dir>/spool/dir/<folder>-<digest>/`` and is written before the next one;
- ``redis://HOST:PORT/DB`` (or ``rediss://``; a bare ``redis`` means the configured URL,
  where ``REDIS_URL`` wins): a hash ``image:<unix-ts>`` with the fields ``image`` (PNG or
  JPEG bytes), ``format``, ``camera``, ``width``, ``height``, ``timestamp`` (unix seconds,
  with fractions), ``time_utc`` (ISO 8601), ``seq`` and ``metadata`` (JSON of the frame's
  metadata). ``<unix-ts>`` is whole seconds, so captures are at least 1 s apart; should
  two stills still meet in one second (overlapping runs), the later one is stored as
  ``image:<unix-ts>-1`` rather than overwrite the first.

When Redis cannot take a still (down, restarting, loading, out of memory), the still is kept
in the spool folder (``<data_dir>/spool/redis/<host>_<port>_<db>/``, one atomically written
file per still) and sent, oldest first, as soon as Redis answers again (before the next
still, and when the job ends); a later run sends what an earlier one left.

A sink Redis refuses is bad input (SinkRefused, exit 2), not something to retry: a wrong or
missing password (NOAUTH/WRONGPASS), a user without the rights (NOPERM), a database the
server does not have (``/99`` on a server with 16), ``rediss://`` to a server that speaks
plain Redis or ``redis://`` to one that speaks TLS, an untrusted TLS certificate. ``open`` asks the server once, so a refusal is
known before the first still; one that comes later (a password changed mid-run) keeps the
still in hand in the spool. URLs are shown through camdeck.fileio.redact.redact_url only.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from camdeck.drivers.errors import DriverError
from camdeck.fileio.atomic import write_bytes_atomic as _write_bytes_atomic
from camdeck.fileio.redact import redact_url, scrub


class SinkError(DriverError):
    """A sink that cannot store a still."""


class SinkFull(SinkError):
    """A still that could be neither stored nor kept (the disk under the sink or the spool
    is full or gone). What was stored or spooled before stays; the capture job stops."""


class BadSink(SinkError):
    """A ``--sink`` value that is not a sink: bad input."""

    bad_input = True


class SinkRefused(BadSink):
    """Redis answered and refused the sink as given (login, rights, database, TLS): bad input.

    ``kept_in`` is the spool folder when a still in hand was kept there, else None.
    """

    def __init__(self, message: str, fix: str = "", *, kept_in: Path | None = None) -> None:
        super().__init__(message, fix)
        self.kept_in = kept_in


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
    """Stills as image files in a folder (``dir:PATH``).

    Args:
        folder: where the stills go.
        spool_dir: where a still waits when the folder cannot take it (its disk full, the
            folder gone); it is written to the folder before the next still. None: no spool,
            such a still ends the job (SinkFull).
    """

    def __init__(self, folder: Path, spool_dir: Path | None = None) -> None:
        from camdeck.drivers.stills.spool import StillSpool

        self.folder = Path(folder)
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        self.spool = StillSpool(self.spool_dir) if self.spool_dir is not None else None

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
        """Write the spool's stills, then ``image_<unix-ts>.png|jpg`` and its ``.json`` (a second
        still in the same second becomes ``image_<unix-ts>-1``, as in Redis); spool it when
        the folder cannot take it.

        Raises:
            SinkFull: the still could be neither written nor kept in the spool.
        """
        replayed = 0
        try:
            replayed = self._replay()
            return self._write(still, replayed)
        except OSError as err:   # a full or vanished disk
            why = err.strerror or str(err)
            if self.spool is None:
                raise SinkFull(f"still {still.key} could not be written to {self.folder} ({why})",
                               f"free disk space in {self.folder} or choose another --sink dir:PATH") from None
            try:
                self.spool.keep(still)
            except OSError as spool_err:
                raise SinkFull(f"still {still.key} could not be written to {self.folder} ({why}) nor kept in the "
                               f"spool {self.spool_dir} ({spool_err.strerror or spool_err})",
                               f"free disk space in {self.folder} (or pass another --data-dir); the stills "
                               "already in the spool are written on the next run") from None
            return StoreResult(key=still.key, stored=False, spooled=True, replayed=replayed,
                               location=str(self.spool_dir), error=f"{self.folder}: {why}")

    def _write(self, still: StillImage, replayed: int = 0) -> StoreResult:
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
        except OSError:
            try:
                image.unlink(missing_ok=True)       # its .json is missing: no half still stays behind
            except OSError:
                pass
            raise
        return StoreResult(key=stem.replace("_", ":", 1), stored=True, replayed=replayed, location=str(image))

    def _replay(self) -> int:
        return self.spool.replay(lambda key, still: self._write(still)) if self.spool is not None else 0

    def pending(self) -> int:
        """Stills waiting in the spool."""
        return self.spool.pending() if self.spool is not None else 0

    def replay(self) -> int:
        """Write what the spool holds; returns how many went (0 while the folder cannot take them)."""
        try:
            return self._replay()
        except OSError:
            return 0

    def close(self) -> None:
        pass


def one_line(err: BaseException) -> str:
    """``err`` as one line, with any secret (URL password, remembered value) masked."""
    return scrub(" ".join((str(err) or type(err).__name__).split()))


def parse_sink(text: str, *, data_dir: Path, default_redis_url: str = "redis://127.0.0.1:6379/0"):
    """``dir:PATH`` -> FolderSink; ``redis://...``/``rediss://...``/``unix://...``/``redis`` -> RedisSink (not opened).

    Raises:
        BadSink: anything else, naming the accepted forms (a Redis URL without a host, a
            database that is not a number, a port out of range...).
    """
    text = (text or "").strip()
    if text.startswith("dir:"):
        folder = text[4:]
        if not folder:
            raise BadSink("--sink dir: needs a folder", "write --sink dir:PATH")
        path = Path(folder).expanduser()
        # one spool per folder: its name, and a digest of its absolute path so two "out" folders differ
        digest = hashlib.sha1(str(path.absolute()).encode()).hexdigest()[:10]
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.absolute().name)[:40] + "-" + digest
        return FolderSink(path, Path(data_dir) / "spool" / "dir" / name)
    if text == "redis":
        text = default_redis_url
    if text.startswith(("redis://", "rediss://", "unix://")):
        from camdeck.drivers.stills.redis_sink import RedisSink, redis_spool_name

        name = re.sub(r"[^A-Za-z0-9_.-]", "_", redis_spool_name(text))
        return RedisSink(text, Path(data_dir) / "spool" / "redis" / name)
    raise BadSink(f"--sink {redact_url(text)!r} is not a sink",
                  "write --sink redis://HOST:PORT/DB or --sink dir:PATH")
