"""`camdeck sim ...`: serve the simulated PTZ cameras over ONVIF, knock a simulated mount, change its light."""
from __future__ import annotations

import re
from typing import Optional

import typer

from camdeck.console.cli import bounds, common

app = typer.Typer(help="The simulated rig: ONVIF device simulator, mount bumps, lighting.", no_args_is_help=True)

MAX_BUMP_DEG = 45.0
MAX_CLOCK_SKEW_S = 86_400.0     # a day: more than any real device's clock drifts


def _sim_ptz_specs(settings) -> list:
    return [s for s in settings.cameras.values() if s.driver == "sim" and s.kind == "ptz"]


def _sim_ptz_spec(settings, name: str):
    from camdeck.drivers.registry import find_spec

    spec = find_spec(settings.cameras, name)
    if spec.driver != "sim" or spec.kind != "ptz":
        names = ", ".join(s.name for s in _sim_ptz_specs(settings)) or "none configured"
        raise common.BadInput(f"camera {name!r} is not a simulated PTZ camera; fix: use one of: {names}")
    return spec


def _host_port(text: str, option: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    # [0-9], not str.isdigit(): "²" and other Unicode digits pass isdigit() but int() refuses them
    if not sep or not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise common.BadInput(f"{option} {text!r}: not HOST:PORT; fix: write e.g. {option} 127.0.0.1:1883")
    return host, int(port)


@app.command("serve")
def serve(
    mqtt: Optional[str] = typer.Option(None, "--mqtt", metavar="HOST:PORT",
                                       help="Broker for telemetry (default: the config's \\[mqtt])."),
    user: Optional[str] = typer.Option(None, "--user", help="ONVIF user (default: each camera's username)."),
    password: Optional[str] = typer.Option(None, "--password", help="ONVIF password (default: each camera's)."),
    camera: Optional[list[str]] = typer.Option(None, "--camera", help="Serve only these cameras (repeatable)."),
    clock_skew_s: float = typer.Option(0.0, "--clock-skew",
                                       callback=bounds.number("--clock-skew", -MAX_CLOCK_SKEW_S, MAX_CLOCK_SKEW_S),
                                       help="Offset of the devices' clocks, seconds (within a day either way)."),
) -> None:
    """Serve every simulated PTZ camera over ONVIF (SOAP 1.2, 127.0.0.1 only), until SIGINT or SIGTERM.

    Each camera gets its own port (its config port, or a free one when 0) and a free RTSP
    port for its live H.264 stream. With --json, one line per device when ready: deployment,
    camera, host, port, rtsp_port, telemetry_topic.
    """
    import signal
    import threading

    from camdeck.drivers.base import Secret
    from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
    from camdeck.drivers.sim.ptz import SimPtzCamera

    settings = common.settings()
    specs = [_sim_ptz_spec(settings, n) for n in camera] if camera else _sim_ptz_specs(settings)
    if not specs:
        raise common.BadInput("no simulated PTZ camera in the config; fix: add a [cameras.NAME] with "
                              "driver = \"sim\" and model = \"PTZ\"")
    broker = _host_port(mqtt, "--mqtt") if mqtt else (settings.mqtt.host, settings.mqtt.port)
    mqtt_options = {"username": settings.mqtt.username, "password": settings.mqtt.password} if not mqtt else {}
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    running: list[tuple] = []
    try:
        ctx = settings.driver_context()
        for spec in specs:
            cam = SimPtzCamera(spec, ctx, mqtt=broker, mqtt_options=mqtt_options)
            try:
                server = OnvifDeviceServer(cam, user or spec.options.get("username", ""),
                                           Secret(password) if password is not None else spec.options["password"],
                                           host=spec.options.get("host", "127.0.0.1"),
                                           port=int(spec.options.get("port") or 0), clock_skew_s=clock_skew_s)
            except BaseException:
                cam.close()
                raise
            running.append((spec, cam, server.start()))
        console = None if common.json_mode() else common.stdout_console()
        for spec, cam, server in running:
            row = {"deployment": cam.deployment, "camera": spec.name, "host": server.host, "port": server.port,
                   "rtsp_port": server.rtsp_port, "telemetry_topic": cam.telemetry_topic}
            if console is None:
                common.emit_json(row)
            else:
                console.print(f"{cam.deployment}/{spec.name}: ONVIF at http://{server.host}:{server.port}"
                              f"/onvif/device_service, H.264 at rtsp://{server.host}:{server.rtsp_port}/stream1, "
                              f"telemetry on {cam.telemetry_topic} "
                              f"via {broker[0]}:{broker[1]}")
        if console is not None:
            console.print("serving; Ctrl-C stops")
        while not stop.wait(0.5):
            pass
    finally:
        for _spec, cam, server in reversed(running):
            server.stop()
            cam.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _angle(option: str):
    return bounds.number(option, -MAX_BUMP_DEG, MAX_BUMP_DEG)


@app.command("bump")
def bump(
    camera: str = typer.Argument(..., help="A simulated PTZ camera of config.toml."),
    pitch: Optional[float] = typer.Option(None, "--pitch", callback=_angle("--pitch"),
                                          help="Pitch of the mount offset, degrees (-45 to 45)."),
    yaw: Optional[float] = typer.Option(None, "--yaw", callback=_angle("--yaw"),
                                          help="Yaw of the mount offset, degrees (-45 to 45)."),
    roll: Optional[float] = typer.Option(None, "--roll", callback=_angle("--roll"),
                                          help="Roll of the mount offset, degrees (-45 to 45)."),
    reset: bool = typer.Option(False, "--reset", help="Put the mount back (zero offset)."),
) -> None:
    """Knock a simulated mount: set its offset (pitch/yaw/roll, degrees); it persists in the data dir.

    Unset angles keep their current value; --reset zeroes all three first.
    """
    from camdeck.drivers.sim.ptz_state import Bump, read_bump, sim_state_dir, write_bump

    settings = common.settings()
    spec = _sim_ptz_spec(settings, camera)
    if not reset and pitch is None and yaw is None and roll is None:
        raise common.BadInput("nothing to do; fix: give --pitch, --yaw, --roll or --reset")
    current = Bump() if reset else read_bump(settings.data_dir, spec.name)
    new = Bump(current.pitch_deg if pitch is None else pitch, current.yaw_deg if yaw is None else yaw,
               current.roll_deg if roll is None else roll)
    result = write_bump(settings.data_dir, spec.name, new)
    out = {"camera": spec.name, "pitch_deg": result.pitch_deg, "yaw_deg": result.yaw_deg,
           "roll_deg": result.roll_deg, "file": str(sim_state_dir(settings.data_dir) / "bumps.json")}
    if common.json_mode():
        common.emit_json(out)
    else:
        common.stdout_console().print(f"{spec.name}: mount offset pitch {result.pitch_deg:g}, yaw {result.yaw_deg:g}, "
                                      f"roll {result.roll_deg:g} degrees ({out['file']})")


@app.command("light")
def light(
    camera: str = typer.Argument(..., help="A simulated PTZ camera of config.toml."),
    gain: float = typer.Option(1.0, "--gain", callback=bounds.number("--gain", 0.01, 4.0),
                               help="Brightness gain, 0.01 to 4 (1: unchanged)."),
    gamma: float = typer.Option(1.0, "--gamma", callback=bounds.number("--gamma", 0.1, 10.0),
                                help="Gamma, 0.1 to 10 (1: unchanged)."),
    colour: str = typer.Option("1,1,1", "--colour", help="Per-channel gains R,G,B."),
    reset: bool = typer.Option(False, "--reset", help="Back to the original lighting."),
) -> None:
    """Change the lighting a simulated PTZ camera sees (persists in the data dir)."""
    from camdeck.drivers.sim.ptz_state import sim_state_dir, write_lighting
    from camdeck.drivers.sim.ptz_world import Lighting

    settings = common.settings()
    spec = _sim_ptz_spec(settings, camera)
    try:
        gains = tuple(float(x) for x in colour.split(","))
    except ValueError:
        gains = ()
    if len(gains) != 3 or not all(0.0 < g <= 4.0 for g in gains):
        raise common.BadInput(f"--colour {colour!r}: expected three gains in (0, 4]; fix: write e.g. --colour 1.1,1,0.9")
    lighting = None if reset else Lighting(gain=gain, gamma=gamma, colour_gains=gains)  # type: ignore[arg-type]
    result = write_lighting(settings.data_dir, spec.name, lighting)
    out = {"camera": spec.name, "gain": result.gain, "gamma": result.gamma, "colour_gains": list(result.colour_gains),
           "file": str(sim_state_dir(settings.data_dir) / "lighting.json")}
    if common.json_mode():
        common.emit_json(out)
    else:
        common.stdout_console().print(f"{spec.name}: lighting gain {result.gain:g}, gamma {result.gamma:g}, "
                                      f"colour {','.join(f'{g:g}' for g in result.colour_gains)}")
