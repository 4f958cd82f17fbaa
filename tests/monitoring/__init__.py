"""Tests of the monitoring package; helpers shared by its test modules live here."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def ptz_settings(data_dir: Path, *, time_factor: float = 200.0, resolution=(320, 180), mqtt_port: int = 1883,
                 onvif_port: int | None = None, tunnel: list[str] | None = None, **ptz: Any):
    """Settings with one deployment "site" holding sim PTZ camera "cam" (and "cam-onvif" at onvif_port)."""
    from camdeck.console.config import parse_settings

    camera = {"driver": "sim", "model": "PTZ", "deployment": "site", "host": "127.0.0.1", "port": 0,
              "username": "admin", "password": "pw", "resolution": list(resolution),
              "pan_range_deg": [-180.0, 180.0], "tilt_range_deg": [-30.0, 90.0], "hfov_deg": [60.0, 6.0],
              "speed_deg_s": 120.0, "telemetry_topic": "camdeck/site/cam/telemetry"}
    camera.update(ptz)
    cameras = {"cam": camera}
    if onvif_port is not None:
        cameras["cam-onvif"] = dict(camera, driver="onvif", port=onvif_port)
    data = {"console": {"data_dir": str(data_dir)}, "sim": {"seed": 0, "time_factor": time_factor},
            "deployments": {"site": {"tunnel": tunnel or []}}, "cameras": cameras,
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
            "monitor": {"horizontal_stops": 4, "vertical_stops": 2, "stabilize_time_s": 1.0, "timeout_s": 20.0}}
    from dataclasses import replace

    return replace(parse_settings(data, "test"), data_dir=Path(data_dir))
