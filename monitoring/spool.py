"""The local spool: S3 uploads and Athena statements kept on local disk while S3 or Athena is down.

``CloudStore`` (monitoring.cloud) puts here what it cannot send now: a copy of each scan file
(so cleaning up the scan folder loses nothing) and each Athena statement, one JSON entry each;
``CloudStore.replay_spool`` sends them on a later run, oldest first. Writes stay intact on
faults: blob, then entry, each written to a temporary name, fsynced and renamed into place, so
a crash or power loss never leaves an entry without its blob; a failed write (disk full)
removes what it wrote, and ``Spool.sweep`` removes what a crash left behind.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from camdeck.fileio.atomic import fsync_dir
from camdeck.monitoring.errors import MonitoringError

if TYPE_CHECKING:
    from camdeck.monitoring.cloud import UploadResult


class SpoolError(MonitoringError):
    """The spool could not keep a file or statement (disk full, read-only, ...): it is neither sent nor kept.

    ``result`` is the ``UploadResult`` so far when raised by ``upload_scan``.
    """

    def __init__(self, message: str, fix: str = "", result: "UploadResult | None" = None) -> None:
        super().__init__(message, fix)
        self.result = result


class Spool:
    """Uploads and statements that could not be sent yet, one JSON entry each, oldest first.

    Layout: ``root/<ns>-<id>.json`` (the entry) and, for S3 files, ``root/<ns>-<id>.blob``
    (a copy of the file). Each is written to a hidden temporary name, fsynced, renamed into
    place and its folder fsynced; the blob comes first, so an entry always has its blob even
    after a crash or power loss. A failed write (disk full) removes what it wrote and raises
    OSError; a crash between the two renames leaves a blob without entry, which ``sweep``
    removes later.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _new_name(self) -> str:
        return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"

    def put_s3(self, local: Path, bucket: str, key: str) -> Path:
        """Keep a copy of ``local`` for a later PUT to ``bucket``/``key``; returns the entry.

        Raises:
            OSError: the copy or the entry could not be written; nothing of it is left behind.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        name = self._new_name()
        blob = self.root / f"{name}.blob"
        tmp = self.root / f".{name}.blob.tmp"
        try:
            with open(local, "rb") as src, open(tmp, "wb") as dst:
                _copy_bytes(src, dst)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, blob)
            fsync_dir(self.root)
            return self._write(name, {"kind": "s3", "bucket": bucket, "key": key, "blob": blob.name})
        except BaseException:
            tmp.unlink(missing_ok=True)
            if not (self.root / f"{name}.json").exists():    # an entry in place keeps its blob
                blob.unlink(missing_ok=True)
            raise

    def put_athena(self, database: str, sql: str, needs_table: bool = True) -> Path:
        """Keep an Athena statement for later; returns the entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self._write(self._new_name(), {"kind": "athena", "database": database, "sql": sql,
                                              "needs_table": needs_table})

    def _write(self, name: str, entry: dict) -> Path:
        final = self.root / f"{name}.json"
        tmp = self.root / f".{name}.json.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(json.dumps(entry))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
            fsync_dir(self.root)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def sweep(self, min_age_s: float = 3600.0) -> int:
        """Remove what a crash left behind: temporary files and blobs without an entry, older than
        ``min_age_s`` (younger ones may belong to a write in progress). Returns how many."""
        if not self.root.is_dir():
            return 0
        entries = {p.stem for p in self.root.glob("*.json")}
        now, removed = time.time(), 0
        for path in self.root.iterdir():
            stray = path.name.endswith(".tmp") or (path.suffix == ".blob" and path.stem not in entries)
            try:
                if stray and now - path.stat().st_mtime >= min_age_s:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def entries(self) -> list[Path]:
        """Entry files, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("*.json") if not p.name.startswith("."))

    def pending(self) -> int:
        return len(self.entries())

    def load(self, entry: Path) -> dict:
        return json.loads(entry.read_text(encoding="utf-8"))

    def remove(self, entry: Path, data: dict | None = None) -> None:
        data = data if data is not None else self.load(entry)
        if data.get("blob"):
            (self.root / data["blob"]).unlink(missing_ok=True)
        entry.unlink(missing_ok=True)


def _copy_bytes(src, dst) -> None:
    """Copy an open file into another (the spool's copy; tests replace it to simulate a full disk)."""
    shutil.copyfileobj(src, dst, 1 << 20)
