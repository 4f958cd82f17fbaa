"""config.toml's schema: how each value is checked and which keys each table may hold.

console.config finds and reads the file and assembles Settings from these tables; a
``_Bad`` raised here becomes the ConfigError that names the key path, expected value and fix.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

THEMES = ("camdeck-dark", "camdeck-light", "camdeck-sunlight")
DRIVERS = ("sim", "zwoasi", "picamera2", "onvif")

ASI_CONTROLS = {"exposure_us", "gain", "wb_r", "wb_b", "offset", "high_speed", "bandwidth", "bin", "gamma", "flip"}
PICAM_CONTROLS = {
    "ExposureTime", "AnalogueGain", "Brightness", "Contrast", "Saturation", "Sharpness",
    "LensPosition", "ScalerCrop", "FrameDurationLimits", "AeEnable", "AwbEnable", "ColourGains",
}


# ---------------------------------------------------------------- checkers
# A checker takes (value, key) and returns the converted value or raises _Bad.

class _Bad(Exception):
    def __init__(self, key: str, expected: str, got: Any, fix: str = "") -> None:
        self.key, self.expected, self.got, self.fix = key, expected, got, fix


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _str(nonempty: bool = False) -> Callable[[Any, str], str]:
    def check(v: Any, key: str) -> str:
        if not isinstance(v, str) or (nonempty and not v.strip()):
            raise _Bad(key, "a non-empty string" if nonempty else "a string", v)
        return v
    return check


def _bool(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise _Bad(key, "true or false", v)
    return v


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any, str], int]:
    def check(v: Any, key: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Bad(key, _range_text("an integer", lo, hi), v)
        return v
    return check


def _float(lo: float | None = None, hi: float | None = None, open_lo: bool = False) -> Callable[[Any, str], float]:
    def check(v: Any, key: str) -> float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
        if ok and lo is not None and (v <= lo if open_lo else v < lo):
            ok = False
        if ok and hi is not None and v > hi:
            ok = False
        if not ok:
            what = _range_text("a number", lo, hi)
            if open_lo and lo is not None:
                what = f"a number greater than {lo:g}" + (f" and at most {hi:g}" if hi is not None else "")
            raise _Bad(key, what, v)
        return float(v)
    return check


def _range_text(what: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{what} from {lo:g} to {hi:g}"
    if lo is not None:
        return f"{what} of at least {lo:g}"
    if hi is not None:
        return f"{what} of at most {hi:g}"
    return what


def _choice(*options: str) -> Callable[[Any, str], str]:
    def check(v: Any, key: str) -> str:
        if v not in options:
            raise _Bad(key, "one of " + ", ".join(repr(o) for o in options), v)
        return v
    return check


def _vec(n: int, item: Callable[[Any, str], Any], what: str) -> Callable[[Any, str], tuple]:
    def check(v: Any, key: str) -> tuple:
        if not isinstance(v, list) or len(v) != n:
            raise _Bad(key, f"a list of {n} {what}", v)
        return tuple(item(x, key) for x in v)
    return check


def _range_pair(lo: float | None = None, hi: float | None = None) -> Callable[[Any, str], tuple]:
    base = _vec(2, _float(lo, hi), "numbers" + (f" within [{lo:g}, {hi:g}]" if lo is not None else ""))

    def check(v: Any, key: str) -> tuple:
        a, b = base(v, key)
        if a >= b:
            raise _Bad(key, "[low, high] with low < high", v)
        return a, b
    return check


def _str_list(v: Any, key: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _Bad(key, "a list of non-empty strings", v)
    return tuple(v)


def _table(v: Any, key: str) -> dict:
    if not isinstance(v, dict):
        raise _Bad(key, "a table", v)
    return v


Schema = Mapping[str, tuple[Callable[[Any, str], Any], Any]]  # key -> (checker, default); default _REQUIRED
_REQUIRED = object()


def _section(data: Any, path: str, schema: Schema, unknown_fix: str = "") -> dict[str, Any]:
    """Check one table against ``schema``: unknown keys, missing required keys, each value."""
    table = _table(data, path) if path else data
    out: dict[str, Any] = {}
    for key in table:
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise _Bad(f"{path}.{key}" if path else key, f"one of the known keys ({known})", "an unknown key",
                       unknown_fix or "remove it or correct its spelling")
    for key, (check, default) in schema.items():
        full = f"{path}.{key}" if path else key
        if key in table:
            out[key] = check(table[key], full)
        elif default is _REQUIRED:
            raise _Bad(full, "this key (it is required)", "nothing", f"add {key} = ... to [{path}]")
        else:
            out[key] = default
    return out


# ---------------------------------------------------------------- schema

CONSOLE_SCHEMA: Schema = {
    "theme": (_choice(*THEMES), "camdeck-dark"),
    "data_dir": (_str(nonempty=True), None),          # None: the platform's user data folder
    "preview_fps": (_float(0.0, 60.0, open_lo=True), 15.0),
    "ascii_preview": (_bool, False),
    "read_only": (_bool, False),     # the TUI turns off every key that records, moves or deletes
}
SIM_SCHEMA: Schema = {
    "seed": (_int(0, 2**31 - 1), None),
    "time_factor": (_float(0.0, 1000.0, open_lo=True), 1.0),
}
MQTT_SCHEMA: Schema = {
    "host": (_str(nonempty=True), "127.0.0.1"),
    "port": (_int(1, 65535), 1883),
    "username": (_str(), ""),
    "password": (_str(), ""),
    "password_env": (_str(), ""),
    "keepalive_s": (_int(5, 3600), 30),
}
REDIS_SCHEMA: Schema = {"url": (_str(nonempty=True), "redis://127.0.0.1:6379/0")}
STORAGE_SCHEMA: Schema = {
    "history_db": (_str(nonempty=True), "history.sqlite"),
    "s3_bucket": (_str(), ""),
    "s3_prefix": (_str(), ""),
    "s3_endpoint_url": (_str(), ""),
    "region": (_str(nonempty=True), "us-east-1"),
    "athena_database": (_str(), ""),
    "athena_table": (_str(nonempty=True), "monitoring"),
    "athena_output": (_str(), ""),
    "athena_workgroup": (_str(), ""),
}
SLACK_SCHEMA: Schema = {
    "channel": (_str(), "#camdeck"),
    "token": (_str(), ""),
    "token_env": (_str(), ""),
    "webhook_url": (_str(), ""),
    "webhook_url_env": (_str(), ""),
    "api_url": (_str(), ""),
    "alert_threshold_deg": (_float(0.0, 90.0, open_lo=True), 0.5),
}
MONITOR_SCHEMA: Schema = {
    "horizontal_stops": (_int(1, 360), 16),
    "vertical_stops": (_int(1, 180), 6),
    "stabilize_time_s": (_float(0.0, 3600.0), 30.0),
    "timeout_s": (_float(0.0, 86400.0, open_lo=True), 300.0),
    "features": (_choice("sift", "disk"), "sift"),
}

_vec3 = _vec(3, _float(), "numbers (metres)")
CAMERA_COMMON: Schema = {
    "driver": (_choice(*DRIVERS), _REQUIRED),
    "model": (_str(nonempty=True), _REQUIRED),
    "label": (_str(), ""),
    "resolution": (_vec(2, _int(2, 16384), "integers (width, height in px)"), None),
    "controls": (_table, {}),
}
CAMERA_SIM: Schema = {
    "position_m": (_vec3, None),
    "look_at_m": (_vec3, None),
    "fault_timeout_every": (_int(0), 0),       # every Nth capture times out (0: never)
    "fault_disconnect_after": (_int(0), 0),    # unplugged after N frames (0: never)
}
CAMERA_ASI: Schema = {"serial": (_str(nonempty=True), _REQUIRED)}
CAMERA_PICAM: Schema = {"camera_num": (_int(0, 15), 0)}
CAMERA_PTZ: Schema = {
    "deployment": (_str(nonempty=True), _REQUIRED),
    "host": (_str(nonempty=True), "127.0.0.1"),
    "port": (_int(0, 65535), 80),
    "username": (_str(), ""),
    "password": (_str(), ""),
    "password_env": (_str(), ""),
    "profile": (_str(), ""),
    "frames_from": (_choice("snapshot", "rtsp"), "snapshot"),
    "pan_range_deg": (_range_pair(-360.0, 360.0), (-180.0, 180.0)),
    "tilt_range_deg": (_range_pair(-90.0, 90.0), (-30.0, 90.0)),
    "hfov_deg": (_vec(2, _float(0.1, 179.0), "numbers (degrees at zoom 0 and zoom 1)"), (60.0, 6.0)),
    "speed_deg_s": (_float(0.0, 1000.0, open_lo=True), 120.0),
    "telemetry_topic": (_str(), ""),
    "align_ypr_deg": (_vec(3, _float(-360.0, 360.0), "numbers (yaw, pitch, roll in degrees)"), (0.0, 0.0, 0.0)),
    "calibration": (_str(), ""),                # calibration.npz (K, dist) of the lens at calibration_zoom
    "calibration_zoom": (_float(0.0, 1.0), 0.0),
}

RIG_TYPES = ("stereo", "recorder", "capture")
RIG_COMMON: Schema = {"type": (_choice(*RIG_TYPES), _REQUIRED), "cameras": (_str_list, _REQUIRED)}
RIG_EXTRA: Mapping[str, Schema] = {
    "stereo": {"baseline_mm": (_float(0.0, 10000.0, open_lo=True), _REQUIRED),
               "max_skew_ms": (_float(0.0, 1000.0, open_lo=True), 5.0),
               "calibration": (_str(), ""),            # stereo.npz giving hardware cameras their poses
               "grid_center_m": (_vec3, None)},         # reconstruction grid centre (None: automatic)
    "recorder": {"format": (_choice("h264", "mp4"), "h264")},    # camdeck record's default --format
    "capture": {"every_s": (_float(0.0, 86400.0, open_lo=True), 10.0), "format": (_choice("png", "jpeg"), "png")},
}
DEPLOYMENT_SCHEMA: Schema = {"tunnel": (_str_list, ())}

TOP_SCHEMA = ("console", "sim", "cameras", "rigs", "deployments", "mqtt", "redis", "storage", "slack", "monitor")
