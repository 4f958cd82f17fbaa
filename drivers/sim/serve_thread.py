"""Run a socketserver in a daemon thread: the simulators' servers (ONVIF over HTTP, RTSP) share it."""
from __future__ import annotations

import socketserver
import threading


class ServeThread:
    """``server.serve_forever`` in a daemon thread named ``name``; ``stop()`` shuts it down and
    closes the listening socket (safe before ``start()`` and twice)."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self.server = server
        self.name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                            name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5.0)
            self._thread = None
        self.server.server_close()
