"""Deployment tunnels: argv only (no shell), readiness, early exits, clean stops."""
from __future__ import annotations

import socket
import sys

import pytest

from camdeck.monitoring.tunnels import Tunnel, TunnelError, open_tunnel
from tests.conftest import free_port

LISTEN = ("import socket, sys, time\n"
          "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(4)\n"
          "time.sleep(60)\n")


def test_tunnel_runs_until_the_block_ends_and_waits_for_its_port():
    port = free_port()
    with Tunnel([sys.executable, "-c", LISTEN, str(port)], name="site", wait_for=("127.0.0.1", port)) as tunnel:
        assert tunnel.running
        proc = tunnel.proc
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert proc.poll() is not None and not tunnel.running


def test_arguments_are_never_given_to_a_shell(tmp_path):
    out = tmp_path / "out.txt"
    script = "import sys, time; open(sys.argv[1], 'w').write(sys.argv[2]); time.sleep(60)"
    with Tunnel([sys.executable, "-c", script, str(out), "x; touch pwned $(id)"], name="site", settle_s=0.3):
        pass
    assert out.read_text() == "x; touch pwned $(id)"
    assert not (tmp_path / "pwned").exists()


def test_failures_are_clear():
    with pytest.raises(TunnelError, match="not found on PATH"):
        Tunnel(["no-such-tunnel-command"], name="site").start()
    with pytest.raises(TunnelError, match="exited with code 3: port in use"):
        Tunnel([sys.executable, "-c", "import sys; sys.stderr.write('port in use\\n'); sys.exit(3)"],
               name="site", settle_s=2.0).start()
    with pytest.raises(TunnelError, match="non-empty list"):
        Tunnel("kubectl port-forward svc/cam 8080:80", name="site")        # a string is not an argv
    with pytest.raises(TunnelError, match="not accepting connections"):
        Tunnel([sys.executable, "-c", "import time; time.sleep(60)"], name="site",
               wait_for=("127.0.0.1", free_port()), ready_timeout_s=0.5).start()
    assert open_tunnel([]) is None


def test_a_stop_ends_the_wait_for_a_tunnel_and_stops_its_process(tmp_path):
    import os
    import threading

    from camdeck.drivers.errors import Stopped

    pidfile = tmp_path / "tunnel.pid"
    script = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    stop = threading.Event()
    tunnel = Tunnel([sys.executable, "-c", script, str(pidfile)], name="site",
                    wait_for=("127.0.0.1", free_port()), ready_timeout_s=600.0, stop=stop)
    threading.Timer(1.0, stop.set).start()
    with pytest.raises(Stopped, match="site: stopped while the tunnel was opening"):
        tunnel.start()                                   # without the stop: 600 s, then "not accepting"
    assert not tunnel.running
    if pidfile.exists():                                 # it had started: it is gone now (reaped, no zombie)
        assert not os.path.exists(f"/proc/{int(pidfile.read_text())}")
