"""The HTTP side of the ONVIF device simulator: request bodies read under a cap, whatever the headers say.

A SOAP request is at most ``MAX_BODY_BYTES`` (1 MiB). Its framing is checked before a byte of
the body is read, as RFC 9112 section 6 says:

- ``Content-Length`` must be one run of digits (``-1``, ``abc``, ``+5`` and two different
  values are 400: a negative length once read to the end of the stream, past the cap);
- more than the cap is 413, answered before the body is read (and instead of ``100
  Continue`` when the client asked for one);
- no length and no ``Transfer-Encoding`` is 411; a coding other than ``chunked`` is 501;
  both headers at once (a request-smuggling shape) is 400;
- a chunked body stops at the cap (413) and at the first malformed chunk line (400).

After a framing error the connection is closed (the rest of the stream cannot be trusted),
and a body that stalls mid-way times out after ``BODY_TIMEOUT_S``. Nothing a client sends
prints a traceback: the server logs one line per failed request (the trace at debug level).
"""
from __future__ import annotations

import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

from camdeck.drivers.sim.onvif_soap import CONTENT_TYPE, MAX_BODY_BYTES

log = logging.getLogger(__name__)

BODY_TIMEOUT_S = 10.0        # a body that stops coming for this long ends the connection
MAX_LINE_BYTES = 4096        # a chunk-size line or a trailer line
MAX_TRAILERS = 32
_LENGTH = re.compile(r"[0-9]{1,19}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BodyRejected(Exception):
    """A request whose body cannot be read: answer ``status`` and close the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def body_framing(headers: Any, cap: int = MAX_BODY_BYTES) -> int | None:
    """How the body comes: its length, or None for chunked; BodyRejected when it cannot be taken.

    Args:
        headers: the request's headers (``email.message.Message``: ``get_all``).
        cap: the most bytes a body may have.
    """
    codings = [c.strip().lower() for v in headers.get_all("Transfer-Encoding") or () for c in v.split(",")]
    lengths = headers.get_all("Content-Length") or []
    if codings:
        if lengths:
            raise BodyRejected(400, "both Content-Length and Transfer-Encoding")
        if codings != ["chunked"]:
            raise BodyRejected(501, f"transfer coding {','.join(codings)!r} is not supported (only chunked)")
        return None
    if not lengths:
        raise BodyRejected(411, "a POST needs a Content-Length (or chunked transfer coding)")
    values = {v.strip() for v in ",".join(lengths).split(",")}
    value = values.pop() if len(values) == 1 else ""
    if not _LENGTH.fullmatch(value):
        raise BodyRejected(400, "Content-Length is not one non-negative number")
    length = int(value)
    if length > cap:
        raise BodyRejected(413, f"a body of {length} bytes is more than the {cap} a request may have")
    return length


def read_body(headers: Any, rfile: BinaryIO, cap: int = MAX_BODY_BYTES) -> bytes:
    """The request body, read as its headers frame it and never more than ``cap`` bytes.

    Raises:
        BodyRejected: the framing is wrong, the body is too large, or it ends early.
    """
    length = body_framing(headers, cap)
    if length is None:
        return _read_chunked(rfile, cap)
    data = rfile.read(length)
    if len(data) != length:
        raise BodyRejected(400, f"the body ended after {len(data)} of {length} bytes")
    return data


def _read_line(rfile: BinaryIO, what: str) -> bytes:
    line = rfile.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES or not line.endswith(b"\n"):
        raise BodyRejected(400, f"{what} line too long or cut short")
    return line


def _read_chunked(rfile: BinaryIO, cap: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_text = _read_line(rfile, "chunk size").split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise BodyRejected(400, "a chunk size is not hexadecimal")
        size = int(size_text, 16)
        if size == 0:
            break
        if total + size > cap:
            raise BodyRejected(413, f"a chunked body of more than {cap} bytes")
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.read(2) != b"\r\n":
            raise BodyRejected(400, "a chunk ended early or without CRLF")
        parts.append(chunk)
        total += size
    for _ in range(MAX_TRAILERS):
        if _read_line(rfile, "trailer") in (b"\r\n", b"\n"):
            return b"".join(parts)
    raise BodyRejected(400, f"more than {MAX_TRAILERS} trailer lines")


class SoapHandler(BaseHTTPRequestHandler):
    """POST: a SOAP request to ``server.device``; GET /onvif/snapshot.jpg: a JPEG (Basic auth)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True      # keep-alive replies otherwise stall ~40 ms (notes/onvif.md)
    server: "SoapServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logging
        pass

    def _base_url(self) -> str:
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        if not all(c.isalnum() or c in ".-:[]" for c in host):
            host = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        return f"http://{host}"

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _reject(self, err: BodyRejected) -> None:
        # The rest of the stream is not a request we can find the start of: hang up after answering.
        self.close_connection = True
        self._send(err.status, f"{err.reason}\n".encode(), "text/plain; charset=utf-8", {"Connection": "close"})

    def handle_expect_100(self) -> bool:
        """Refuse a body we would not take before the client sends it (no ``100 Continue`` then)."""
        try:
            body_framing(self.headers)
        except BodyRejected as err:
            self._reject(err)
            return False
        return super().handle_expect_100()

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.connection.settimeout(BODY_TIMEOUT_S)
        try:
            data = read_body(self.headers, self.rfile)
        except BodyRejected as err:
            self._reject(err)
            return
        finally:
            self.connection.settimeout(None)     # idle keep-alive connections wait as before
        status, reply = self.server.device.handle(data, self._base_url())
        self._send(status, reply, CONTENT_TYPE)

    def do_GET(self) -> None:  # noqa: N802
        from camdeck.drivers.errors import DriverError

        if self.path.split("?", 1)[0] != "/onvif/snapshot.jpg":
            self._send(404, b"not found\n", "text/plain")
            return
        if not self.server.device.check_basic(self.headers.get("Authorization")):
            self._send(401, b"unauthorized\n", "text/plain", {"WWW-Authenticate": 'Basic realm="camdeck-sim"'})
            return
        try:
            jpeg = self.server.device.snapshot_jpeg()
        except DriverError as err:
            self._send(503, f"{err.message}\n".encode(), "text/plain; charset=utf-8")
            return
        self._send(200, jpeg, "image/jpeg")


class SoapServer(ThreadingHTTPServer):
    """One simulated device's HTTP server (``device``: a SimOnvifDevice)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], device: Any) -> None:
        self.device = device
        super().__init__(address, SoapHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr: a client that hangs up
        mid-reply is routine; anything else is a simulator bug, its trace kept at debug level."""
        import sys

        err = sys.exc_info()[1]
        if isinstance(err, (ConnectionError, TimeoutError)):
            log.debug("ONVIF simulator: client %s went away (%s)", client_address, type(err).__name__)
            return
        log.error("ONVIF simulator: a request from %s failed (%s: %s)", client_address, type(err).__name__,
                  " ".join(str(err).split())[:200])
        log.debug("ONVIF simulator: the failed request's trace", exc_info=err)
