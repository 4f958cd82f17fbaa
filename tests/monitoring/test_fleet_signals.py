"""Fleet runs against poison telemetry and signals (issue 13): the simulated cameras behind the ONVIF
simulator and a real mosquitto (the rig of test_fleet.py), `camdeck monitor ...` in a real subprocess
that gets a real SIGTERM or SIGINT while a deployment tunnel (a real process) is up."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from camdeck.monitoring.history import HistoryStore
from tests.monitoring.test_fleet import fleet, rig, write_config  # noqa: F401  (fixtures)
from tests.monitoring.test_telemetry import DEEP_ARRAY, HUGE_NUMBER

# A stand-in for `kubectl port-forward`: a process of its own that says who it is and stays up.
TUNNEL = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(3600)"


def _with_tunnel(config: Path, pidfile: Path) -> Path:
    argv = [sys.executable, "-c", TUNNEL, str(pidfile)]
    text = config.read_text().replace("[deployments.site-a]\n", f"[deployments.site-a]\ntunnel = {json.dumps(argv)}\n")
    config.write_text(text)
    return config


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CAMDECK_TEST_SLACK_TOKEN"}     # no Slack here
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return subprocess.Popen([sys.executable, "-m", "camdeck.console.cli.app", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _signal_when_tunnel_is_up(proc: subprocess.Popen, pidfile: Path, sig: int) -> tuple[int, str, str]:
    """Send ``sig`` once the tunnel runs (the first device is then in flight); (tunnel pid, stdout, stderr)."""
    deadline = time.monotonic() + 120
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert pidfile.exists(), proc.communicate()[1]
    time.sleep(1.0)                      # usually inside the stability wait by now; anywhere in the device will do
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)       # an upper bound: the run ends well before
    return int(pidfile.read_text()), out, err


def test_poison_telemetry_is_counted_and_the_run_still_measures(cli, rig, fleet, tmp_path):  # noqa: F811
    from camdeck.drivers.sim.ptz import MqttPublisher

    junk = MqttPublisher("127.0.0.1", rig.mqtt_port)
    done = threading.Event()

    def spray() -> None:
        while not done.wait(0.1):
            for poison in (HUGE_NUMBER, DEEP_ARRAY):
                junk.publish("camdeck/test/ptz-1/telemetry", poison)

    assert junk.wait_connected(10.0)
    sprayer = threading.Thread(target=spray, daemon=True)
    sprayer.start()
    try:
        res = cli("monitor", "run", "--json", "--config", write_config(tmp_path / "fleet.toml", rig),
                  "--data-dir", fleet)
    finally:
        done.set()
        sprayer.join()
        junk.close()
    assert res.code == 0, res.err
    rows = {d["camera"]: d for d in res.json()["devices"]}
    assert rows["ptz-1"]["success"] and rows["ptz-1"]["telemetry_source"] == "mqtt"
    assert rows["ptz-1"]["telemetry_malformed"] >= 1                     # before: "telemetry stopped"
    assert max(abs(rows["ptz-1"][k]) for k in ("pitch_deg", "yaw_deg", "roll_deg")) < 0.05
    assert rows["ptz-2"]["telemetry_malformed"] == 0 and rows["ptz-2"]["telemetry_source"] == "mqtt"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_records_the_device_stops_the_tunnel_and_prints_the_summary(rig, fleet, tmp_path, sig):  # noqa: F811
    pidfile = tmp_path / "tunnel.pid"
    config = _with_tunnel(write_config(tmp_path / "fleet.toml", rig), pidfile)
    proc = _start(["monitor", "run", "--json", "--stabilize-time", "3600s", "--timeout", "600s",
                   "--config", str(config), "--data-dir", str(fleet)], tmp_path)
    tunnel_pid, out, err = _signal_when_tunnel_is_up(proc, pidfile, sig)
    name = signal.Signals(sig).name
    assert proc.returncode == 1, err                 # before: 143 (SIGTERM) or 130 (SIGINT), no JSON
    [line] = out.splitlines()
    summary = json.loads(line)
    [row] = summary["devices"]
    assert (row["camera"], row["success"], row["error"]) == ("ptz-1", False, f"stopped by signal ({name})")
    assert summary["failed"] == 1 and summary["stopped"] is True and summary["skipped"] == ["site-b/ptz-2"]
    assert summary["stop_reason"] == f"stopped by signal ({name})"
    assert not _running(tunnel_pid)                   # before: still running, holding its ports
    [stored] = HistoryStore(fleet / "history.sqlite").query()
    assert stored.device_id == "ptz-1" and not stored.success and stored.failure_logs == row["error"]


def test_collect_references_stops_cleanly_on_sigterm(rig, tmp_path):  # noqa: F811
    # What a later collection finds after a stop before the first frame is the reference swap's
    # business (issue 13, deliver 2), tested with it.
    pidfile = tmp_path / "tunnel.pid"
    config = _with_tunnel(write_config(tmp_path / "fleet.toml", rig), pidfile)
    proc = _start(["monitor", "collect-references", "--json", "--settle", "3600s", "--timeout", "600s",
                   "--features", "none", "--config", str(config), "--data-dir", str(tmp_path / "data")], tmp_path)
    tunnel_pid, out, err = _signal_when_tunnel_is_up(proc, pidfile, signal.SIGTERM)
    assert proc.returncode == 1, err                 # before: 143, no JSON, the tunnel left running
    summary = json.loads(out)
    assert summary["devices"] == [{"deployment": "site-a", "camera": "ptz-1", "success": False,
                                   "error": "stopped by signal (SIGTERM)"}]
    assert summary["stopped"] is True and summary["skipped"] == ["site-b/ptz-2"] and summary["failed"] == 1
    assert summary["stop_reason"] == "stopped by signal (SIGTERM)"
    assert not _running(tunnel_pid)


def test_jobs_stop_on_a_fleet_run_records_who_asked(rig, fleet, tmp_path):  # noqa: F811
    """`camdeck jobs stop ID` reaches a fleet run as SIGTERM; the run used to record "stopped by
    signal (SIGTERM)" (its own handler never read the request), now it names the request, in
    the summary, the interrupted device's row and the job record."""
    pidfile = tmp_path / "tunnel.pid"
    config = _with_tunnel(write_config(tmp_path / "fleet.toml", rig), pidfile)
    proc = _start(["monitor", "run", "--json", "--stabilize-time", "3600s", "--timeout", "600s",
                   "--config", str(config), "--data-dir", str(fleet)], tmp_path)
    deadline = time.monotonic() + 120
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert pidfile.exists(), proc.communicate()[1]
    time.sleep(1.0)

    def camdeck(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "camdeck.console.cli.app", *args, "--data-dir", str(fleet)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    [job] = json.loads(camdeck("jobs", "--json").stdout)["jobs"]
    assert job["kind"] == "fleet-run" and job["state"] == "running"
    stopped = camdeck("jobs", "stop", job["id"])
    out, err = proc.communicate(timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert proc.returncode == 1, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["stopped"] is True and summary["stop_reason"].startswith("camdeck jobs stop ("), summary
    assert summary["devices"][0]["error"] == summary["stop_reason"]
    record = json.loads(camdeck("jobs", "--json").stdout)["jobs"][0]
    assert record["state"] == "stopped" and record["outcome"].startswith("camdeck jobs stop ("), record
