"""Frames of ONVIF cameras once their URIs are known, and the typed ONVIF errors.

- a snapshot is one HTTP GET of the snapshot URI, answering Basic or Digest auth;
- an RTSP frame comes from a fresh session through FFmpeg's own client (PyAV), without
  probing: decoding starts at the first keyframe, so no half-decoded frame comes back
  (OpenCV, which probes, only when PyAV is missing);
- errors are typed, and never show the URI that holds the password.
Every frame is (H, W, 3) uint8 RGB.
"""
from __future__ import annotations

import socket
import time

import numpy as np

from camdeck.drivers.errors import CameraNotFound, CaptureTimeout, DriverError


class OnvifAuthError(DriverError):
    """The camera refused the credentials (or the request's timestamp)."""


class OnvifUnreachable(CameraNotFound):
    """Nothing answers at the camera's host:port."""


class OnvifTimeout(CaptureTimeout):
    """The camera did not answer, or did not arrive at a position, in time."""


class OnvifFault(DriverError):
    """The camera answered with a SOAP fault (or a reply the client cannot use)."""


def read_snapshot(uri: str, username: str, password: str, timeout_s: float, *, camera: str, address: str,
                  no_proxy: bool = False) -> np.ndarray:
    """The JPEG at the snapshot ``uri`` as (H, W, 3) uint8 RGB.

    Args:
        uri: the snapshot URI (GetSnapshotUri), without credentials.
        username, password: answered to Basic or Digest auth.
        timeout_s: request timeout, seconds.
        camera, address: the camera's name and host:port, for messages only.
        no_proxy: bypass any proxy of the environment (for a camera on loopback).
    Raises:
        OnvifAuthError, OnvifFault, OnvifTimeout, OnvifUnreachable.
    """
    import urllib.error
    import urllib.request

    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, uri, username, password)
    handlers = [urllib.request.HTTPBasicAuthHandler(manager), urllib.request.HTTPDigestAuthHandler(manager)]
    if no_proxy:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(uri, timeout=timeout_s) as reply:
            data = reply.read()
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise OnvifAuthError(f"{camera}: the snapshot URI of {address} refused the credentials",
                                 f"check cameras.{camera}.username and password") from None
        raise OnvifFault(f"{camera}: snapshot from {address} failed with HTTP {err.code}",
                         "set frames_from = \"rtsp\" if the camera has no snapshots") from None
    except (TimeoutError, socket.timeout):
        raise OnvifTimeout(f"{camera}: no snapshot from {address} within {timeout_s:g} s", "raise the timeout") from None
    except (urllib.error.URLError, OSError) as err:
        raise OnvifUnreachable(f"{camera}: snapshot request to {address} failed ({getattr(err, 'reason', err)})",
                               "check the network and the camera") from None
    return _decode_jpeg(data, camera)


def read_rtsp_frame(uri: str, username: str, password: str, timeout_s: float, *, camera: str,
                    address: str) -> np.ndarray:
    """The first whole frame of a fresh RTSP session at ``uri`` (PyAV; OpenCV when PyAV is missing).

    A fresh session per frame: a frame captured after a move shows the new pose, not one
    buffered before it. Decoding starts at a keyframe, so no half-decoded frame comes back.

    Args:
        uri: the stream URI (GetStreamUri), without credentials.
        username, password: put into the URI's authority for FFmpeg.
        timeout_s: open and read timeout, and the deadline for the first frame, seconds.
        camera, address: the camera's name and host:port, for messages only.
    Raises:
        OnvifAuthError, OnvifUnreachable, OnvifTimeout, OnvifFault (through PyAV). OpenCV says
        only whether a frame came, so without PyAV every failure is an OnvifTimeout.
    """
    uri = _with_credentials(uri, username, password)
    try:
        import av
    except ImportError:
        av = None
    if av is None:
        return _rtsp_frame_opencv(uri, timeout_s, camera=camera, address=address)
    deadline = time.monotonic() + timeout_s
    try:
        # The SDP declares the stream: no probing, so the first keyframe is decoded at once.
        # OpenCV probes, which costs seconds per frame (benchmarks/onvif_frames.py).
        with av.open(uri, options={"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"},
                     timeout=(timeout_s, timeout_s)) as container:
            stream = container.streams.video[0]
            keyframe_seen = False
            for packet in container.demux(stream):
                if time.monotonic() > deadline:
                    break
                keyframe_seen = keyframe_seen or bool(packet.is_keyframe)
                if not keyframe_seen:
                    continue
                for frame in packet.decode():
                    return frame.to_ndarray(format="rgb24")
    except Exception as err:  # PyAV's errors carry the URI (with credentials): never show them
        raise _rtsp_error(err, deadline, username, camera=camera, address=address) from None
    raise OnvifTimeout(f"{camera}: no RTSP frame from {address} within {timeout_s:g} s",
                       "check the stream, or set frames_from = \"snapshot\"")


def _rtsp_error(err: Exception, deadline: float, username: str, *, camera: str, address: str) -> DriverError:
    """A PyAV/FFmpeg error as a typed one, without the URI (it holds the password)."""
    kind = type(err).__name__
    if "Unauthorized" in kind or "Forbidden" in kind or isinstance(err, PermissionError):
        return OnvifAuthError(f"{camera}: the RTSP stream of {address} refused the credentials "
                              f"of user {username!r}", f"check cameras.{camera}.username and password")
    if isinstance(err, ConnectionError):
        return OnvifUnreachable(f"{camera}: the RTSP stream of {address} is unreachable ({kind})",
                                "check the network and the camera")
    if isinstance(err, TimeoutError) or time.monotonic() >= deadline - 0.05:
        return OnvifTimeout(f"{camera}: no RTSP frame from {address} in time ({kind})",
                            "raise the timeout, or set frames_from = \"snapshot\"")
    return OnvifFault(f"{camera}: cannot read the RTSP stream of {address} ({kind})",
                      "check the stream, or set frames_from = \"snapshot\"")


def _rtsp_frame_opencv(uri: str, timeout_s: float, *, camera: str, address: str) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(uri, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout_s * 1000),
                                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(timeout_s * 1000)])
    try:
        ok, bgr = cap.read()
    finally:
        cap.release()
    if not ok:
        raise OnvifTimeout(f"{camera}: no RTSP frame from {address} within {timeout_s:g} s",
                           "check the stream, or set frames_from = \"snapshot\"")
    return np.ascontiguousarray(bgr[..., ::-1])


def _with_credentials(uri: str, username: str, password: str) -> str:
    """``uri`` with ``username:password@`` (percent-encoded) in its authority: how FFmpeg takes them."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _decode_jpeg(data: bytes, name: str) -> np.ndarray:
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OnvifFault(f"{name}: the snapshot is not an image ({len(data)} bytes)",
                         "check the camera's snapshot URI")
    return np.ascontiguousarray(bgr[..., ::-1])
