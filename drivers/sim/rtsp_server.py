"""The RTSP face of a simulated ONVIF camera: live H.264 over RTP, interleaved on the RTSP connection.

What GetStreamUri names: ``rtsp://127.0.0.1:PORT/stream1``. Enough of RTSP 1.0 (RFC 2326) for
FFmpeg's client (PyAV, OpenCV) and real camera tools:

- OPTIONS, DESCRIBE (SDP), SETUP, PLAY, GET_PARAMETER/SET_PARAMETER (keep-alive), TEARDOWN;
- Digest authentication (RFC 2617, no qop) on everything but OPTIONS, as cameras do;
- RTP over the RTSP TCP connection only (``interleaved=0-1``); a UDP SETUP gets 461, which
  makes FFmpeg retry over TCP;
- H.264 (RFC 6184, packetization-mode 1): one NAL unit per packet, FU-A for larger ones.

Each PLAY starts its own libx264 stream, so the first frame a client gets is an IDR frame
with SPS/PPS, rendered after the PLAY: a frame taken right after a move shows the new pose.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import socket
import socketserver
import struct
import threading
import time
from typing import Any, BinaryIO, Callable

from camdeck.drivers.sim.serve_thread import ServeThread

REALM = "camdeck-sim"
PATH = "/stream1"
RTP_PAYLOAD_TYPE = 96
RTP_CLOCK_HZ = 90_000
MAX_PAYLOAD = 1400                 # bytes of H.264 per RTP packet (fits a 1500-byte MTU)
MAX_LINE = 8192
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]*))')
log = logging.getLogger(__name__)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def nal_units(access_unit: bytes) -> list[bytes]:
    """The NAL units of an Annex-B access unit (start codes removed)."""
    units, i, n = [], 0, len(access_unit)
    starts = []
    while i < n - 2:
        if access_unit[i] == 0 and access_unit[i + 1] == 0 and access_unit[i + 2] == 1:
            starts.append(i + 3)
            i += 3
        else:
            i += 1
    for k, start in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        while end > start and access_unit[end - 1] == 0:    # the zero of a 4-byte start code
            end -= 1
        if end > start:
            units.append(access_unit[start:end])
    return units


def rtp_payloads(nal: bytes, limit: int = MAX_PAYLOAD) -> list[bytes]:
    """One NAL unit as RTP payloads: itself when it fits, else FU-A fragments (RFC 6184 5.8)."""
    if len(nal) <= limit:
        return [nal]
    indicator = (nal[0] & 0xE0) | 28
    kind = nal[0] & 0x1F
    body = nal[1:]
    chunk = limit - 2
    out = []
    for offset in range(0, len(body), chunk):
        start = offset == 0
        end = offset + chunk >= len(body)
        header = (0x80 if start else 0) | (0x40 if end else 0) | kind
        out.append(bytes((indicator, header)) + body[offset:offset + chunk])
    return out


class _RtpStream:
    """Encodes the camera's frames and writes them as interleaved RTP on one connection (channel 0)."""

    def __init__(self, camera: Any, send: Callable[[bytes], None], abort: Callable[[], None], fps: float) -> None:
        self.camera = camera
        self.send = send
        self.abort = abort
        self.fps = fps
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.rtptime0 = secrets.randbits(32)
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rtptime = self.rtptime0

    def start(self) -> None:
        """Start streaming (a second PLAY on the same session changes nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rtsp-stream", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def write(self, data: bytes, timestamp_ns: int | None, keyframe: bool) -> None:
        """The encoder's output: one access unit -> RTP packets, marker on the last."""
        payloads = [p for nal in nal_units(data) for p in rtp_payloads(nal)]
        for k, payload in enumerate(payloads):
            marker = 0x80 if k == len(payloads) - 1 else 0
            header = struct.pack("!BBHII", 0x80, marker | RTP_PAYLOAD_TYPE, self.seq, self._rtptime, self.ssrc)
            packet = header + payload
            self.send(b"$\x00" + struct.pack("!H", len(packet)) + packet)
            self.seq = (self.seq + 1) & 0xFFFF

    def _run(self) -> None:
        from camdeck.drivers.recording.encoders import LibX264Encoder

        encoder = None
        period = 1.0 / self.fps
        t0 = time.monotonic()
        k = 0
        try:
            while not self.stop.is_set():
                rgb = self.camera.capture().array
                h, w = rgb.shape[0] & ~1, rgb.shape[1] & ~1      # 4:2:0 needs even sizes
                if encoder is None:
                    encoder = LibX264Encoder(w, h, self.fps, gop=max(1, round(self.fps)))
                    encoder.start(self)
                self._rtptime = (self.rtptime0 + round(k * period * RTP_CLOCK_HZ)) & 0xFFFFFFFF
                encoder.encode(rgb[:h, :w], int(k * period * 1e9))
                k += 1
                self.stop.wait(max(0.0, t0 + k * period - time.monotonic()))
        except OSError:
            pass                      # the client went away
        except Exception as err:     # the camera or the encoder failed: end the session, as a camera would
            log.warning("RTSP stream of %s ended: %s", getattr(self.camera, "name", "?"), err)
            self.abort()
        finally:
            self.stop.set()
            if encoder is not None:
                try:
                    encoder.stop()   # release the codec; what it drains may not reach a client that left
                except Exception:
                    pass


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self._send_lock = threading.Lock()
        self._stream: _RtpStream | None = None
        self._session = secrets.token_hex(8)
        self._nonce = secrets.token_hex(16)
        with self.server.lock:
            self.server.connections[self.request] = threading.current_thread()

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.pop(self.request, None)
        try:
            super().finish()
        except OSError:
            pass

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            self.wfile.write(data)
            self.wfile.flush()

    def _abort(self) -> None:
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _reply(self, status: str, cseq: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}", "Server: camdeck-sim"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _read_request(self) -> tuple[str, str, dict[str, str]] | None:
        rfile: BinaryIO = self.rfile
        while True:
            first = rfile.read(1)
            if not first:
                return None
            if first == b"$":                       # interleaved RTCP from the client: skip it
                head = rfile.read(3)
                if len(head) < 3:
                    return None
                rfile.read(struct.unpack("!H", head[1:])[0])
                continue
            line = (first + rfile.readline(MAX_LINE)).decode("latin-1").strip()
            if line:
                break
        headers: dict[str, str] = {}
        while True:
            raw = rfile.readline(MAX_LINE)
            if not raw or raw in (b"\r\n", b"\n"):
                break
            key, _, value = raw.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if length:
            rfile.read(min(length, 65536))
        method, url = (line.split() + ["", ""])[:2]
        return method.upper(), url, headers

    def _authorized(self, method: str, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("digest "):
            return False
        fields = {k.lower(): a if a else b for k, a, b in _PARAM.findall(auth[7:])}
        user, password = self.server.credentials
        expected = _md5(f"{_md5(f'{user}:{REALM}:{password}')}:{self._nonce}:"
                        f"{_md5(method + ':' + fields.get('uri', ''))}")
        return (hmac.compare_digest(fields.get("username", "").encode(), user.encode())
                and hmac.compare_digest(fields.get("nonce", "").encode(), self._nonce.encode())
                and hmac.compare_digest(fields.get("response", "").encode(), expected.encode()))

    def handle(self) -> None:
        try:
            while True:
                request = self._read_request()
                if request is None:
                    return
                method, url, headers = request
                if not self._dispatch(method, url, headers):
                    return
        except (OSError, ValueError):
            return
        finally:
            if self._stream is not None:
                self._stream.close()

    def _dispatch(self, method: str, url: str, headers: dict[str, str]) -> bool:
        """Answer one request; False ends the connection."""
        cseq = headers.get("cseq", "0")
        if method == "OPTIONS":
            self._reply("200 OK", cseq, {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, "
                                                   "SET_PARAMETER"})
            return True
        if not self._authorized(method, headers):
            self._reply("401 Unauthorized", cseq, {"WWW-Authenticate": f'Digest realm="{REALM}", '
                                                                       f'nonce="{self._nonce}", algorithm="MD5"'})
            return True
        path = re.sub(r"^rtsp://[^/]*", "", url)
        if not path.startswith(PATH):
            self._reply("404 Not Found", cseq)
            return True
        host = f"127.0.0.1:{self.server.server_address[1]}"
        if method == "DESCRIBE":
            sdp = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=camdeck simulated PTZ\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                   f"m=video 0 RTP/AVP {RTP_PAYLOAD_TYPE}\r\na=rtpmap:{RTP_PAYLOAD_TYPE} H264/{RTP_CLOCK_HZ}\r\n"
                   f"a=fmtp:{RTP_PAYLOAD_TYPE} packetization-mode=1\r\na=control:track1\r\n").encode()
            self._reply("200 OK", cseq, {"Content-Base": f"rtsp://{host}{PATH}/", "Content-Type": "application/sdp"},
                        sdp)
        elif method == "SETUP":
            transport = headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport.upper():
                self._reply("461 Unsupported Transport", cseq)
                return True
            self._reply("200 OK", cseq, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1",
                                         "Session": f"{self._session};timeout=60"})
        elif method == "PLAY":
            if self._stream is None:
                self._stream = _RtpStream(self.server.camera, self._send, self._abort, self.server.fps)
            self._reply("200 OK", cseq, {"Session": self._session, "Range": "npt=0.000-",
                                         "RTP-Info": f"url=rtsp://{host}{PATH}/track1;seq={self._stream.seq};"
                                                     f"rtptime={self._stream.rtptime0}"})
            self._stream.start()
        elif method in ("GET_PARAMETER", "SET_PARAMETER"):
            self._reply("200 OK", cseq, {"Session": self._session})
        elif method == "TEARDOWN":
            self._reply("200 OK", cseq, {"Session": self._session})
            return False
        else:
            self._reply("405 Method Not Allowed", cseq)
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], camera: Any, credentials: tuple[str, str], fps: float) -> None:
        self.camera = camera
        self.credentials = credentials
        self.fps = fps
        self.lock = threading.Lock()
        self.connections: dict = {}      # client socket -> the thread serving it
        super().__init__(address, _Handler)

    def drop_connections(self, timeout_s: float = 5.0) -> None:
        """Cut every client off, as a camera that loses power does, and wait for their threads."""
        with self.lock:
            conns = list(self.connections.items())
        for conn, _ in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, thread in conns:
            if thread is not threading.current_thread():
                thread.join(timeout_s)


class RtspServer:
    """Serve ``camera``'s frames as H.264 over RTSP on 127.0.0.1 (port 0: a free one).

    Args:
        camera: anything with ``capture()`` returning a Frame of (H, W, 3) uint8 RGB.
        username, password: the one account (Digest authentication).
        fps: frames per second of each stream.
    """

    def __init__(self, camera: Any, username: str, password: str, *, port: int = 0, fps: float = 10.0) -> None:
        self._server = _Server(("127.0.0.1", int(port)), camera, (username, password), float(fps))
        self._serving = ServeThread(self._server, "rtsp-server")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def set_credentials(self, username: str, password: str) -> None:
        """Change the account (sessions already playing go on, as on a camera)."""
        self._server.credentials = (username, password)

    def start(self) -> "RtspServer":
        self._serving.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut off every client."""
        self._serving.stop()
        self._server.drop_connections()
