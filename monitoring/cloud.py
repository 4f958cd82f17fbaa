"""Cloud storage for fleet runs: scans to S3, results to an Athena Iceberg table, through boto3.

Both are optional (``[storage]`` in config.toml): an empty ``s3_bucket`` means no uploads, an
empty ``athena_database`` means no Athena. What cannot be sent now waits in a local spool
(``data_dir/spool``) and goes out on a later run (``CloudStore.replay_spool``): a spooled scan
file is copied into the spool first, so nothing is lost when the scan folder is cleaned up.
Spool writes are crash-safe (monitoring.spool); when the spool cannot be written (disk full)
the partial copy is removed and a ``SpoolError`` says what was neither sent nor kept. The
Athena statements themselves are built by monitoring.athena_sql.

S3 layout, under ``s3_prefix``::

    {deployment}/{camera}/reference_scan/{images,features}/...  + manifest.json
    {deployment}/{camera}/query_scan/{timestamp}/{images,features}/...  + manifest.json

The Athena endpoint comes from boto3's own configuration (``AWS_ENDPOINT_URL_ATHENA`` or
``AWS_ENDPOINT_URL`` for a local stand-in); S3's from ``storage.s3_endpoint_url`` when set.
Errors name the bucket, key and the service's error code, never a credential.
"""
from __future__ import annotations

import errno
import logging
import mimetypes
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from camdeck.monitoring.athena_sql import athena_insert_sql, athena_table_ddl
from camdeck.monitoring.errors import CloudError, MonitoringInputError
from camdeck.monitoring.history import MonitoringRecord
from camdeck.monitoring.spool import Spool, SpoolError
from camdeck.fastcore.extras import require_extra

log = logging.getLogger(__name__)

_SAFE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


# ---------------------------------------------------------------- results

@dataclass
class UploadResult:
    """What ``upload_scan`` did: files sent now, files spooled for later, and where they go."""

    location: str
    uploaded: int = 0
    spooled: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class ReplayResult:
    """What ``replay_spool`` did: entries sent, entries still waiting, the errors seen."""

    sent: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)


def scan_timestamp(iso: str | None = None) -> str:
    """A query scan's folder name in S3: ``20261121T100000Z`` (from an ISO string, or now)."""
    if iso:
        stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        stamp = stamp.astimezone(timezone.utc) if stamp.tzinfo else stamp
    else:
        stamp = datetime.now(timezone.utc)
    return stamp.strftime("%Y%m%dT%H%M%SZ")


# ---------------------------------------------------------------- the store

class CloudStore:
    """S3 uploads and Athena inserts for one run, with the spool behind both.

    Args:
        storage: ``StorageSettings`` (monitoring.settings).
        data_dir: the data folder; the spool lives in ``data_dir/spool``.
        session: a boto3 Session to use (default: a new one for ``storage.region``).
        wait: sleep function used while polling Athena (injected by tests).
        athena_timeout_s: how long to wait for one Athena statement to finish.
    """

    def __init__(self, storage, data_dir: str | Path, *, session=None, wait: Callable[[float], None] = time.sleep,
                 athena_timeout_s: float = 120.0) -> None:
        self.storage = storage
        self.spool = Spool(Path(data_dir) / "spool")
        self._session = session
        self._wait = wait
        self._athena_timeout_s = athena_timeout_s
        self._clients: dict[str, Any] = {}
        self._table_ready = False
        if self.athena_enabled and not (storage.s3_bucket or storage.athena_output):
            raise MonitoringInputError("storage.athena_database is set but neither storage.s3_bucket nor "
                                       "storage.athena_output is", "set storage.s3_bucket (the table's data "
                                       "goes there) or storage.athena_output")
        if storage.s3_prefix and not all(_SAFE_PART.fullmatch(p) for p in storage.s3_prefix.strip("/").split("/")):
            raise MonitoringInputError(f"storage.s3_prefix {storage.s3_prefix!r}: not a safe S3 prefix",
                                       "use folders of letters, digits, '-', '_' or '.'")

    @property
    def s3_enabled(self) -> bool:
        return bool(self.storage.s3_bucket)

    @property
    def athena_enabled(self) -> bool:
        return bool(self.storage.athena_database)

    # ---- clients

    def _client(self, service: str):
        if service not in self._clients:
            boto3 = require_extra("boto3", f"{service.upper()} storage ([storage])")
            Config = require_extra("botocore.config", f"{service.upper()} storage ([storage])").Config

            session = self._session or boto3.session.Session(region_name=self.storage.region)
            config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"})
            kwargs: dict[str, Any] = {"config": config, "region_name": self.storage.region}
            if service == "s3" and self.storage.s3_endpoint_url:
                kwargs["endpoint_url"] = self.storage.s3_endpoint_url
            self._clients[service] = session.client(service, **kwargs)
        return self._clients[service]

    # ---- S3

    def key_prefix(self, deployment: str, camera: str, kind: str, timestamp: str | None = None) -> str:
        """The key folder of a scan (ends with '/'): ``prefix/dep/cam/reference_scan/`` or
        ``prefix/dep/cam/query_scan/<timestamp>/``."""
        for label, part in (("deployment", deployment), ("camera", camera)):
            if not _SAFE_PART.fullmatch(part or ""):
                raise MonitoringInputError(f"{label} {part!r}: not a safe name for an S3 key",
                                           "use letters, digits, '-', '_' or '.'")
        if kind == "reference":
            tail = "reference_scan/"
        elif kind == "query":
            tail = f"query_scan/{scan_timestamp(timestamp)}/"
        else:
            raise MonitoringInputError(f"scan kind {kind!r}: not 'reference' or 'query'", "pass kind='reference'")
        prefix = self.storage.s3_prefix.strip("/")
        return (f"{prefix}/" if prefix else "") + f"{deployment}/{camera}/{tail}"

    def scan_location(self, deployment: str, camera: str, kind: str, timestamp: str | None = None) -> str:
        """``s3://bucket/<key_prefix>``: where a scan goes."""
        return f"s3://{self.storage.s3_bucket}/{self.key_prefix(deployment, camera, kind, timestamp)}"

    def upload_scan(self, folder: str | Path, deployment: str, camera: str, kind: str,
                    timestamp: str | None = None) -> UploadResult:
        """Upload a scan folder (``images/``, ``features/``, ``manifest.json``).

        Files that cannot be sent are spooled; after the first connection failure the rest are
        spooled without trying, so an unreachable S3 costs one timeout, not one per file.
        When the spool cannot take a file (disk full), its partial copy is removed, the rest of the
        scan is not tried (so its manifest.json, sent last, never goes out for a partial scan) and
        SpoolError says how many files were neither sent nor kept; the scan folder is untouched.

        Raises:
            MonitoringInputError: the folder or its manifest.json is missing.
            SpoolError: S3 is unreachable and the spool cannot be written (``err.result``: the counts so far).
        """
        folder = Path(folder)
        if not (folder / "manifest.json").is_file():
            raise MonitoringInputError(f"scan {folder}: manifest.json is missing",
                                       "pass a scan folder written by camdeck")
        prefix = self.key_prefix(deployment, camera, kind, timestamp)
        result = UploadResult(location=f"s3://{self.storage.s3_bucket}/{prefix}")
        if not self.s3_enabled:
            result.location = str(folder)
            return result
        files = files_in(folder)  # manifest last: a reader that sees it sees a complete scan
        reachable = True
        for n, path in enumerate(files):
            key = prefix + path.relative_to(folder).as_posix()
            if reachable:
                try:
                    self._put(path, key)
                    result.uploaded += 1
                    continue
                except CloudError as err:
                    result.errors.append(str(err))
                    reachable = False
                    log.warning("%s; spooling the rest of %s", err, folder)
            try:
                self.spool.put_s3(path, self.storage.s3_bucket, key)
            except OSError as err:
                lost = len(files) - n
                error = SpoolError(f"spool {self.spool.root}: cannot keep {path.relative_to(folder).as_posix()} "
                                   f"of scan {folder} ({_os_reason(err)}); {lost} of its {len(files)} files are "
                                   f"neither in s3://{self.storage.s3_bucket}/{prefix} nor spooled",
                                   f"free space on the disk of {self.spool.root}; the scan is still in {folder}",
                                   result)
                result.errors.append(str(error))
                log.error("%s", error)
                raise error from None
            result.spooled += 1
        return result

    def _put(self, path: Path, key: str, bucket: str | None = None) -> None:
        bucket = bucket or self.storage.s3_bucket
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            with open(path, "rb") as body:
                self._client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind)
        except Exception as err:  # botocore raises many types; all mean "not sent"
            raise CloudError(f"S3 upload of s3://{bucket}/{key} failed ({_describe(err)})",
                             "check storage.s3_bucket, the endpoint and the credentials; "
                             "the file waits in the spool") from None

    # ---- Athena

    def table_location(self) -> str:
        """The Iceberg table's data folder."""
        if self.storage.s3_bucket:
            prefix = self.storage.s3_prefix.strip("/")
            return f"s3://{self.storage.s3_bucket}/" + (f"{prefix}/" if prefix else "") + \
                f"athena/{self.storage.athena_table}/"
        return self.storage.athena_output.rstrip("/") + f"/tables/{self.storage.athena_table}/"

    def ensure_table(self) -> str | None:
        """Create the Iceberg table if needed (once per store); returns the execution id."""
        if not self.athena_enabled or self._table_ready:
            return None
        ddl = athena_table_ddl(self.storage.athena_database, self.storage.athena_table, self.table_location())
        exec_id = self._run_athena(ddl)
        self._table_ready = True
        return exec_id

    def record_result(self, record: MonitoringRecord) -> bool:
        """Insert one result into Athena; spool it when Athena is unreachable.

        Returns:
            True when sent now, False when spooled (or Athena is not configured).
        """
        if not self.athena_enabled:
            return False
        sql = athena_insert_sql(self.storage.athena_database, self.storage.athena_table, record)
        try:
            self.ensure_table()
            self._run_athena(sql)
            return True
        except CloudError as err:
            try:
                self.spool.put_athena(self.storage.athena_database, sql)
            except OSError as spool_err:
                raise SpoolError(f"{err.message}, and spool {self.spool.root} cannot keep the statement "
                                 f"({_os_reason(spool_err)}): this result is not in Athena",
                                 f"free space on the disk of {self.spool.root}; the result is still in "
                                 "the local history") from None
            log.warning("%s; the statement waits in the spool", err)
            return False

    def _run_athena(self, sql: str) -> str:
        client = self._client("athena")
        args: dict[str, Any] = {"QueryString": sql,
                                "QueryExecutionContext": {"Database": self.storage.athena_database}}
        if self.storage.athena_output:
            args["ResultConfiguration"] = {"OutputLocation": self.storage.athena_output}
        if self.storage.athena_workgroup:
            args["WorkGroup"] = self.storage.athena_workgroup
        what = sql.split("(", 1)[0].strip()[:60]
        try:
            exec_id = client.start_query_execution(**args)["QueryExecutionId"]
        except Exception as err:
            raise CloudError(f"Athena {what} could not be submitted ({_describe(err)})",
                             "check storage.athena_*, the region and the credentials") from None
        deadline = time.monotonic() + self._athena_timeout_s
        delay = 0.2
        while True:
            try:
                status = client.get_query_execution(QueryExecutionId=exec_id)["QueryExecution"]["Status"]
            except Exception as err:
                raise CloudError(f"Athena {what}: status unavailable ({_describe(err)})",
                                 "check the network to Athena") from None
            state = status.get("State", "")
            if state == "SUCCEEDED":
                return exec_id
            if state in ("FAILED", "CANCELLED"):
                reason = " ".join(str(status.get("StateChangeReason", "")).split())[:200]
                raise CloudError(f"Athena {what} {state.lower()}: {reason or 'no reason given'}",
                                 "check the table and the statement in the Athena console")
            if time.monotonic() > deadline:
                raise CloudError(f"Athena {what} still {state.lower() or 'pending'} after "
                                 f"{self._athena_timeout_s:g} s", "check the workgroup's queue")
            self._wait(delay)
            delay = min(delay * 2, 5.0)

    # ---- spool

    def replay_spool(self) -> ReplayResult:
        """Send what earlier runs could not, oldest first; stop a service at its first failure.

        Each entry is claimed before it is sent (monitoring.spool), so runs sharing the spool
        (shards on one volume) never send one twice; an entry that fails goes back to the queue.
        ``remaining`` counts this store's kinds (s3, athena) still waiting afterwards.
        """
        result = ReplayResult()
        down: set[str] = set()
        self.spool.sweep()
        kinds = [k for k, on in (("s3", self.s3_enabled), ("athena", self.athena_enabled)) if on]
        for claim in self.spool.claimed(kinds) if kinds else ():
            if claim.kind in down:
                claim.release()
                continue
            data = claim.data
            try:
                if claim.kind == "s3":
                    self._put(claim.blob, data["key"], bucket=data["bucket"])
                else:
                    if data.get("needs_table", True):
                        self.ensure_table()
                    self._run_athena(data["sql"])
            except CloudError as err:
                down.add(claim.kind)
                result.errors.append(str(err))
                claim.release()
                continue
            except FileNotFoundError:
                log.warning("spool entry %s lost its data file; dropped", claim.entry.name)
                claim.done()
                continue
            except BaseException:
                claim.release()
                raise
            claim.done()
            result.sent += 1
        result.remaining = self._waiting()
        return result

    def _waiting(self) -> int:
        """Spooled s3 and athena entries still in the queue."""
        count = 0
        for entry in self.spool.entries():
            try:
                kind = self.spool.load(entry).get("kind")
            except (OSError, ValueError):
                kind = None if entry.exists() else "gone"
            count += kind in ("s3", "athena", None)
        return count


def _os_reason(err: OSError) -> str:
    """A short reason for an OSError: its strerror and errno name (never a path or secret)."""
    name = errno.errorcode.get(err.errno or 0, "")
    text = err.strerror or type(err).__name__
    return f"{text} ({name})" if name else text


def _describe(err: BaseException) -> str:
    """A short, secret-free description of a boto3/botocore failure: the error code or class."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {}) or {}
        code = error.get("Code") or "error"
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return f"{code}" + (f", HTTP {status}" if status else "")
    return err.__class__.__name__


def files_in(folder: Path, subs: Iterable[str] = ("images", "features")) -> list[Path]:
    """The files of a scan folder that ``upload_scan`` sends (manifest last)."""
    out: list[Path] = []
    for sub in subs:
        if (folder / sub).is_dir():
            out.extend(sorted(p for p in (folder / sub).rglob("*") if p.is_file()))
    out.append(folder / "manifest.json")
    return out
