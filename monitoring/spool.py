"""The local spool: what a run could not send or store now, kept on disk for a later run.

Kinds of entry, one JSON file each:

- ``s3``: a copy of a scan file (so cleaning up the scan folder loses nothing) for a later PUT
  (``put_s3``; sent by ``CloudStore.replay_spool``);
- ``athena``: an Athena statement (``put_athena``; sent by ``CloudStore.replay_spool``);
- ``slack``: a Slack report that could not be posted (``put("slack", ...)``; sent by
  ``SlackNotifier.replay_spool`` with a "delayed" mark);
- ``history``: a result the history database could not store (``put("history", ...)``;
  stored by the fleet run's history replay).

Any job can spool through ``put(kind, data)`` and replay with ``claimed(kind)``.

Writes stay intact on faults: blob, then entry, each written to a temporary name, fsynced and
renamed into place, so a crash or power loss never leaves an entry without its blob; a failed
write (disk full) removes what it wrote, and ``Spool.sweep`` removes what a crash left behind.

Concurrent runs sharing one spool (shards on one volume) never send an entry twice: a replay
*claims* each entry before sending it, by renaming ``<name>.json`` to
``<name>.claim-<unix ns>-<token>`` (a rename succeeds for exactly one process), then deletes the
claim once sent or renames it back when the send failed. A claim left by a crashed run goes back
to the queue after ``claim_ttl_s`` (``sweep``), so it is sent late, never lost.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

log = logging.getLogger(__name__)

#: a claim renamed from ``<name>.json``: ``<name>.claim-<unix ns>-<token>``
_CLAIM = re.compile(r"(?P<name>[^.]+)\.claim-(?P<ns>\d+)-[0-9a-f]+")

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

    def __init__(self, root: str | Path, claim_ttl_s: float = 3600.0) -> None:
        self.root = Path(root)
        self.claim_ttl_s = claim_ttl_s

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
        return self.put("athena", {"database": database, "sql": sql, "needs_table": needs_table})

    def put(self, kind: str, data: dict) -> Path:
        """Keep one JSON-ready ``data`` of ``kind`` (e.g. "slack", "history") for a later run; returns the entry.

        Raises:
            OSError: the entry could not be written (disk full, read-only); nothing is left behind.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        return self._write(self._new_name(), dict(data, kind=kind))

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
        """Tidy what a crash left behind; returns how many files it removed.

        Claims older than ``claim_ttl_s`` go back to the queue (their run died before it sent or
        released them). Temporary files and blobs without an entry or claim, older than
        ``min_age_s`` (younger ones may belong to a write in progress), are removed.
        """
        if not self.root.is_dir():
            return 0
        now, removed = time.time(), 0
        for path in self.root.iterdir():
            match = _CLAIM.fullmatch(path.name)
            if match and now - int(match["ns"]) / 1e9 >= self.claim_ttl_s:
                try:
                    os.rename(path, self.root / f"{match['name']}.json")
                    log.info("spool: claim %s expired; back in the queue", path.name)
                except OSError:
                    continue
        entries = {p.stem for p in self.root.glob("*.json")}
        entries |= {m["name"] for m in map(_CLAIM.fullmatch, (p.name for p in self.root.iterdir())) if m}
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
        """Delete an entry (or claim) and its blob."""
        data = data if data is not None else self.load(entry)
        if data.get("blob"):
            (self.root / data["blob"]).unlink(missing_ok=True)
        entry.unlink(missing_ok=True)

    def claim(self, entry: Path) -> "Claim | None":
        """Take ``entry`` for sending, atomically: None when another run took it (or it is gone).

        Raises:
            ValueError: the claimed entry is not readable JSON (it is released, kept for inspection).
        """
        target = entry.with_name(f"{entry.stem}.claim-{time.time_ns()}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(entry, target)
        except FileNotFoundError:
            return None
        try:
            data = self.load(target)
        except (OSError, ValueError) as err:
            os.rename(target, entry)
            raise ValueError(f"spool entry {entry.name} is unreadable ({type(err).__name__})") from None
        return Claim(self, target, entry, data)

    def claimed(self, kinds: Iterable[str] | None = None) -> Iterator["Claim"]:
        """Claim the waiting entries of ``kinds`` (all when None) one by one, oldest first.

        The caller ends each claim with ``done()`` (sent: deleted) or ``release()`` (back in the
        queue, same place in the order); a claim it drops is released after ``claim_ttl_s``.
        Unreadable entries are skipped and kept.
        """
        wanted = None if kinds is None else set(kinds)
        for entry in self.entries():
            if wanted is not None:
                try:
                    if self.load(entry).get("kind") not in wanted:
                        continue
                except FileNotFoundError:
                    continue                  # another run claimed it meanwhile
                except (OSError, ValueError):
                    log.warning("spool entry %s is unreadable; kept for inspection", entry.name)
                    continue
            try:
                claim = self.claim(entry)
            except ValueError as err:
                log.warning("%s; kept for inspection", err)
                continue
            if claim is not None:
                yield claim


class Claim:
    """One spool entry taken by this run: ``data`` to send, then ``done()`` or ``release()``."""

    def __init__(self, spool: Spool, path: Path, entry: Path, data: dict) -> None:
        self.spool = spool
        self.path = path
        self.entry = entry
        self.data = data
        self.kind = str(data.get("kind", ""))

    @property
    def blob(self) -> Path | None:
        """The copied file of an ``s3`` entry."""
        return self.spool.root / self.data["blob"] if self.data.get("blob") else None

    def done(self) -> None:
        """Sent: delete the entry and its blob."""
        self.spool.remove(self.path, self.data)

    def release(self) -> None:
        """Not sent: put the entry back where it was in the queue."""
        try:
            os.rename(self.path, self.entry)
        except FileNotFoundError:   # swept back meanwhile (a claim held past claim_ttl_s)
            pass


def _copy_bytes(src, dst) -> None:
    """Copy an open file into another (the spool's copy; tests replace it to simulate a full disk)."""
    shutil.copyfileobj(src, dst, 1 << 20)
