"""How fast a fleet run answers a fault: a signal, or a camera that dies mid-wait (issue 13).

Real parts only: a mosquitto on a free port, `camdeck sim serve` in a process of its own
(ONVIF + MQTT telemetry), and `camdeck monitor ...` in a subprocess with a deployment tunnel
(a process that writes its pid and stays up). Each case runs ``--runs`` times; the report gives
the median and p90 of the seconds measured, and each run's outcome (exit code, JSON lines on
stdout, the tunnel gone), which the targets need besides the time.

- ``signal``: SIGTERM (then SIGINT) to `camdeck monitor run --json` inside its stability wait
  -> seconds until the process has exited. Target: the device is finished or abandoned within 5 s,
  exit 1, one JSON line, the tunnel stopped.
- ``collect``: the same for `camdeck monitor collect-references --json`.
- ``dead-camera``: `camdeck sim serve` killed (SIGKILL) while a device waits for stability ->
  seconds until the wait raises CameraNotAnswering, with MQTT telemetry (watch period 1 s) and with
  position polling (0.1 s). Target: within one poll period (plus the failed request).

Not a test: machines here are shared and noisy.

    .venv/bin/python benchmarks/fleet_faults.py --runs 5 [--case signal collect dead-camera]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import free_port  # noqa: E402
from tests.monitoring.test_cli_ptz import _read_lines  # noqa: E402
from tests.monitoring.test_fleet_signals import TUNNEL, _running  # noqa: E402
from tests.monitoring.test_telemetry import SERVE_CONFIG  # noqa: E402

ENV = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
CLI = [sys.executable, "-m", "camdeck.console.cli.app"]


def start_broker(root: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (root / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(root / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, port


def serve(root: Path, mqtt_port: int) -> tuple[subprocess.Popen, int]:
    (root / "serve.toml").write_text(SERVE_CONFIG)
    proc = subprocess.Popen(CLI + ["sim", "serve", "--json", "--config", str(root / "serve.toml"), "--mqtt",
                                   f"127.0.0.1:{mqtt_port}", "--data-dir", str(root / "sim")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    [row] = _read_lines(proc, 1, 60.0)
    return proc, int(row["port"])


def fleet_config(root: Path, onvif_port: int, mqtt_port: int, pidfile: Path) -> Path:
    tunnel = json.dumps([sys.executable, "-c", TUNNEL, str(pidfile)])
    path = root / "fleet.toml"
    path.write_text(f"""
[deployments.site]
tunnel = {tunnel}
[cameras.cam]
driver = "onvif"
model = "PTZ"
deployment = "site"
host = "127.0.0.1"
port = {onvif_port}
username = "admin"
password = "pw"
resolution = [64, 36]
telemetry_topic = "camdeck/site/cam/telemetry"
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
[monitor]
horizontal_stops = 2
vertical_stops = 1
[storage]
history_db = "history.sqlite"
""")
    return path


def signalled(argv: list[str], pidfile: Path, sig: int) -> dict:
    """Run ``argv``, send ``sig`` 2 s after its tunnel is up; the seconds to exit and the outcome."""
    pidfile.unlink(missing_ok=True)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    error = lines[0]["devices"][0]["error"] if len(lines) == 1 and lines[0].get("devices") else None
    return {"s": took, "exit": proc.returncode, "json_lines": len(lines), "error": error,
            "tunnel_running": _running(int(pidfile.read_text()))}


def dead_camera(root: Path, mqtt_port: int, source: str) -> dict:
    from camdeck.monitoring.devices import open_device
    from camdeck.monitoring.telemetry import CameraNotAnswering
    from tests.monitoring import ptz_settings

    proc, port = serve(root, mqtt_port)
    settings = ptz_settings(root, onvif_port=port, mqtt_port=mqtt_port if source == "mqtt" else free_port())
    killed: list[float] = []
    try:
        with open_device(settings, "site/cam-onvif") as device:
            assert device.telemetry_source == source, device.telemetry_source
            device.wait_stable(0.5, timeout_s=60.0)
            threading.Timer(1.0, lambda: (proc.kill(), killed.append(time.monotonic()))).start()
            try:
                device.wait_stable(3600.0, timeout_s=600.0)
                return {"s": None, "error": "the wait ended without an error"}
            except CameraNotAnswering as err:
                took = time.monotonic() - killed[0]
                return {"s": took, "error": re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", str(err).split(";")[0])}
    finally:
        proc.kill()
        proc.wait(10)


def summary(name: str, runs: list[dict]) -> dict:
    times = sorted(r["s"] for r in runs if r["s"] is not None)
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))] if times else None
    out = {"case": name, "runs": len(runs), "median_s": statistics.median(times) if times else None, "p90_s": p90,
           "outcomes": sorted({json.dumps({k: v for k, v in r.items() if k != "s"}) for r in runs})}
    print(f"{name:28s} median {out['median_s']:.2f} s  p90 {out['p90_s']:.2f} s  ({len(runs)} runs)")
    for outcome in out["outcomes"]:
        print(f"{'':30s}{outcome}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--case", nargs="+", default=["signal", "collect", "dead-camera"],
                        choices=["signal", "collect", "dead-camera"])
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="camdeck-fleet-faults-"))
    broker, mqtt_port = start_broker(root)
    results = []
    try:
        if {"signal", "collect"} & set(args.case):
            server, onvif_port = serve(root, mqtt_port)
            try:
                pidfile = root / "tunnel.pid"
                config = fleet_config(root, onvif_port, mqtt_port, pidfile)
                base = CLI + ["--config", str(config), "--data-dir", str(root / "data")]
                subprocess.run(base + ["monitor", "collect-references", "--json", "--settle", "0.5s", "--features",
                                       "none"], check=True, capture_output=True, env=ENV, timeout=300)
                if "signal" in args.case:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        argv = base + ["monitor", "run", "--json", "--stabilize-time", "3600s", "--timeout", "600s"]
                        results.append(summary(f"monitor run, {sig.name}",
                                               [signalled(argv, pidfile, sig) for _ in range(args.runs)]))
                if "collect" in args.case:      # a fresh data dir each: a scan stopped before its first frame
                    runs = []                    # is the reference swap's business (issue 13, deliver 2)
                    for n in range(args.runs):
                        argv = CLI + ["--config", str(config), "--data-dir", str(root / f"collect-{n}"), "monitor",
                                      "collect-references", "--json", "--settle", "3600s", "--timeout", "600s",
                                      "--features", "none"]
                        runs.append(signalled(argv, pidfile, signal.SIGTERM))
                    results.append(summary("collect-references, SIGTERM", runs))
            finally:
                server.kill()
                server.wait(10)
        if "dead-camera" in args.case:
            for source in ("mqtt", "poll"):
                results.append(summary(f"dead camera, {source} source",
                                       [dead_camera(root, mqtt_port, source) for _ in range(args.runs)]))
    finally:
        broker.terminate()
        broker.wait(10)
    if args.json:
        print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
