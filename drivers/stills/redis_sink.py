"""Redis as a sink for stills, with an on-disk spool for when Redis cannot take them.

How stills are stored (hash ``image:<unix-ts>``), spooled and refused is told in
drivers/stills/sinks.py; this module is the Redis side of it: the client, the one PING that
tells "away" (spool) from "refused" (SinkRefused, bad input), the spool files and their
replay (drivers/stills/spool.py), and the URL's spool folder name.
"""
from __future__ import annotations

import logging
import re
import socket
import threading
from pathlib import Path
from typing import Any

from camdeck.drivers.stills.sinks import (BadSink, SinkFull, SinkRefused, StillImage, StoreResult, one_line)
from camdeck.drivers.stills.spool import StillSpool
from camdeck.fileio.redact import redact_url

log = logging.getLogger(__name__)

class RedisSink:
    """Stills as Redis hashes, with an on-disk spool for when Redis is away.

    Args:
        url: ``redis://HOST:PORT/DB`` (or rediss://, unix://PATH?db=N).
        spool_dir: folder for stills Redis could not take.
        timeout_s: socket connect/read timeout; a down server is noticed this fast.
    """

    def __init__(self, url: str, spool_dir: Path, *, timeout_s: float = 2.0) -> None:
        self.url = url
        self.spool_dir = Path(spool_dir)
        self.spool = StillSpool(self.spool_dir)
        self.timeout_s = timeout_s
        self._client = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return redact_url(self.url)

    def _connect(self, retries: int):
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        try:
            return redis.Redis.from_url(
                self.url, socket_connect_timeout=self.timeout_s, socket_timeout=self.timeout_s,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries), health_check_interval=5)
        except (ValueError, TypeError) as err:
            raise BadSink(f"--sink {self.describe()}: {one_line(err)}", "write redis://HOST:PORT/DB") from None

    def open(self) -> None:
        """Create the client and the spool folder, and ask the server once (``check``).

        Raises:
            BadSink: the spool folder cannot be made, or the URL's options are wrong.
            SinkRefused: the server answered and refused the sink (see the module docstring).
        """
        self._client = self._connect(retries=2)
        self.check()        # first: a refused sink leaves no new spool folder behind
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BadSink(f"spool folder {self.spool_dir} cannot be created ({err.strerror})",
                          "pass a writable --data-dir") from None

    def check(self) -> bool:
        """PING the server once, without retries (that is connect, AUTH and SELECT).

        Returns:
            True when it answered, False when it is away (stills will wait in the spool).
        Raises:
            SinkRefused: it answered with a refusal, or a rediss:// URL reached a plain server.
        """
        probe = self._connect(retries=0)
        try:
            probe.ping()
            return True
        except Exception as err:   # noqa: BLE001 -- sorted below; a bug is re-raised
            refusal = self._refusal(err)
            if refusal is not None:
                raise refusal from None
            if not isinstance(err, self._errors()):
                raise
            if self.url.startswith("rediss://") and self._speaks_plain_redis():
                raise SinkRefused(f"--sink {self.describe()}: the server speaks plain Redis, not TLS",
                                  "write redis:// instead of rediss:// (or enable TLS on the server)") from None
            if self.url.startswith("redis://") and self._speaks_tls():
                raise SinkRefused(f"--sink {self.describe()}: the server speaks TLS, not plain Redis",
                                  "write rediss:// instead of redis:// (add ?ssl_ca_certs=PATH when its "
                                  "certificate is not signed by a CA this machine trusts)") from None
            log.info("%s is away (%s): stills wait in %s", self.describe(), one_line(err), self.spool_dir)
            return False
        finally:
            probe.close()

    def _speaks_plain_redis(self) -> bool:
        """True when host:port answers a plain-text PING like a Redis server (+PONG, or -NOAUTH...)."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(self.url)
            with socket.create_connection((parts.hostname, parts.port or 6379), timeout=self.timeout_s) as sock:
                sock.settimeout(self.timeout_s)
                sock.sendall(b"PING\r\n")
                answer = sock.recv(64)
        except (OSError, ValueError):
            return False
        return answer.startswith((b"+PONG", b"-NOAUTH", b"-ERR", b"-WRONGPASS"))

    def _speaks_tls(self) -> bool:
        """True when host:port answers a TLS handshake (a redis:// URL aimed at a TLS port,
        which closes a plain client without a word, so the run would otherwise read it as away).
        Nothing is verified here: only whether the server speaks TLS at all."""
        import ssl
        from urllib.parse import urlsplit

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            parts = urlsplit(self.url)
            with socket.create_connection((parts.hostname, parts.port or 6379), timeout=self.timeout_s) as sock, \
                    context.wrap_socket(sock, server_hostname=parts.hostname):
                return True                     # a full handshake
        except ssl.SSLError as err:             # an alert is TLS too (e.g. it wants a client certificate)
            return "ALERT" in str(err.reason or "").upper()
        except (OSError, ValueError):
            return False

    def _refusal(self, err: BaseException) -> SinkRefused | None:
        """The SinkRefused that ``err`` stands for, or None when Redis is merely away or busy."""
        import ssl

        import redis

        where = f"Redis at {self.describe()}"
        said = one_line(err)
        if isinstance(err, (redis.exceptions.AuthenticationError,
                            getattr(redis.exceptions, "AuthenticationWrongNumberOfArgsError", ()))) \
                or said.startswith(("NOAUTH", "WRONGPASS", "invalid password", "invalid username-password")):
            return SinkRefused(f"{where} refused the login ({said})",
                               "give the password the server wants as the URL's password "
                               "(or in REDIS_URL), or drop it if the server wants none")
        if isinstance(err, getattr(redis.exceptions, "NoPermissionError", ())) or said.startswith("NOPERM"):
            return SinkRefused(f"{where} refused the commands a still needs ({said})",
                               "let the user run HGET and HSET on image:* keys, or use another user")
        if isinstance(err, redis.exceptions.ResponseError) and ("DB index is out of range" in said
                                                                or "invalid DB index" in said):
            return SinkRefused(f"{where}: the server has no such database ({said})",
                               "use a database the server has (0 to 15 unless its config says otherwise), "
                               "e.g. redis://HOST:PORT/0")
        cause: BaseException | None = err
        for _ in range(8):     # the SSL error hides in the chain of a redis ConnectionError
            if cause is None:
                break
            if isinstance(cause, ssl.SSLCertVerificationError):
                return SinkRefused(f"{where}: the server's TLS certificate is not trusted ({said})",
                                   "give the CA in the URL (rediss://HOST:PORT/DB?ssl_ca_certs=PATH) "
                                   "or use a trusted certificate")
            cause = cause.__cause__ or cause.__context__
        return None

    def _store(self, still_fields: dict[str, Any], key: str) -> str:
        """HSET the still under ``key``; returns the key used.

        Two stills in one second (runs overlapping, a spool replayed next to a fresh
        still) never overwrite each other: the later one goes to ``key-1``, ``key-2``...
        The same still stored twice (a replay after a lost reply) lands on its own key.
        A key someone else holds with another type is passed over the same way.
        """
        import redis

        stamp = str(still_fields["timestamp"]).encode()
        candidate, n = key, 0
        while True:
            try:
                existing = self._client.hget(candidate, "timestamp")
            except redis.exceptions.ResponseError as err:
                if not one_line(err).startswith("WRONGTYPE"):
                    raise
                existing = b"another type"
            if existing is None or existing == stamp:
                break
            n += 1
            candidate = f"{key}-{n}"
        self._client.hset(candidate, mapping=still_fields)
        return candidate

    def _errors(self) -> tuple[type[BaseException], ...]:
        """What "Redis cannot take it now" looks like: every redis-py error (down, loading, OOM,
        read-only replica, timeouts) and socket errors. Refusals are sorted out first."""
        import redis

        return (redis.exceptions.RedisError, OSError)

    def put(self, still: StillImage) -> StoreResult:
        """Send the spool first (oldest first), then ``still``; spool it if Redis cannot take it.

        Raises:
            SinkRefused: Redis refused the sink; ``still`` is in the spool (``kept_in``).
            SinkFull: ``still`` could be neither sent nor kept.
        """
        with self._lock:
            replayed = 0
            try:
                replayed = self._replay_locked()
                key = self._store(still.fields(), still.key)
                return StoreResult(key=key, stored=True, replayed=replayed, location=self.describe())
            except Exception as err:   # noqa: BLE001 -- whatever failed, the still is kept first
                try:
                    self.spool.keep(still)
                except OSError as spool_err:   # nowhere to keep it: say so; the spool keeps what it has
                    raise SinkFull(f"still {still.key} could not be sent to {self.describe()} ({one_line(err)}) "
                                   f"nor kept in the spool {self.spool_dir} ({spool_err.strerror or spool_err})",
                                   f"free disk space in {self.spool_dir} (or pass another --data-dir); "
                                   "the stills already in the spool are sent on the next run") from None
                refusal = self._refusal(err)
                if refusal is not None:
                    refusal.kept_in = self.spool_dir
                    raise refusal from None
                if not isinstance(err, self._errors()):
                    raise       # a bug: the still is safe in the spool, the trace goes to the log
                return StoreResult(key=still.key, stored=False, spooled=True, replayed=replayed,
                                   location=str(self.spool_dir), error=one_line(err))

    def replay(self) -> int:
        """Send what the spool holds; returns how many went (0 when Redis is away or refuses)."""
        with self._lock:
            try:
                return self._replay_locked()
            except self._errors():
                return 0

    def _replay_locked(self) -> int:
        return self.spool.replay(lambda key, still: self._store(still.fields(), key))

    def pending(self) -> int:
        """Stills waiting in the spool."""
        return self.spool.pending()

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None


_DB_PATH = re.compile(r"(?:/([0-9]{1,9}))?/?")
_URL_FORM = "write redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0"


def redis_spool_name(text: str) -> str:
    """The spool folder's name for a Redis URL (``host_port_db``); BadSink if the URL is no sink."""
    from urllib.parse import urlsplit

    from redis.connection import parse_url

    shown = redact_url(text)
    try:
        parts = urlsplit(text)
        port = parts.port
        options = parse_url(text)
    except ValueError as err:
        raise BadSink(f"--sink {shown}: {one_line(err)}", _URL_FORM) from None
    if parts.scheme == "unix":
        if not parts.path:
            raise BadSink(f"--sink {shown}: no socket path", "write unix:///PATH/redis.sock?db=0")
        return f"unix{parts.path}_{options.get('db', 0)}"
    if not parts.hostname:
        raise BadSink(f"--sink {shown}: no host", _URL_FORM)
    if port == 0:
        raise BadSink(f"--sink {shown}: port 0 is not a port", _URL_FORM)
    if not _DB_PATH.fullmatch(parts.path or ""):
        raise BadSink(f"--sink {shown}: database {parts.path.strip('/')!r} is not a number", _URL_FORM)
    return f"{parts.hostname}_{port or 6379}_{options.get('db', 0)}"
