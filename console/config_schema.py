"""config.toml's schema: how each value is checked and which keys each table may hold.

console.config finds and reads the file and assembles Settings from these tables; a
``_Bad`` raised here becomes the ConfigError that names the key path, expected value and fix.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

THEMES = ("camdeck-dark", "camdeck-light", "camdeck-sunlight")
DRIVERS = ("sim", "zwoasi", "picamera2", "onvif")

# Camera controls are checked against the model's control table (drivers/controls.py).


class ConfigError(Exception):
    """A config file that cannot be used. ``str()`` is the one line the CLI prints: every part
    printable (a key or value from the file cannot put an escape sequence on the terminal), and
    always with a fix."""

    bad_input = True

    def __init__(self, source: str, key: str, problem: str, fix: str = "") -> None:
        self.source = source
        self.key = printable(key)
        self.problem = printable(problem, 600)
        self.fix = printable(fix, 600) if fix else "correct that value (README, Configuration)"
        where = f"{printable(source)}: {self.key}: " if key else f"{printable(source)}: "
        super().__init__(where + self.problem + f"; fix: {self.fix}")


def printable(text: str, limit: int = 160) -> str:
    """``text`` as one line may show it: control characters escaped (no ANSI escape reaches the
    terminal), at most ``limit`` characters."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))
    return out if len(out) <= limit else out[: limit - 3] + "..."


# ---------------------------------------------------------------- checkers
# A checker takes (value, key) and returns the converted value or raises _Bad.

class Said(str):
    """What was found, in words ("an unknown key", "nothing"): shown as is, never as a repr."""


class _Bad(Exception):
    """A value that breaks the schema: its key path, what was expected, what was found and the fix.

    ``example`` is a valid TOML value for the key; without an explicit ``fix`` the fix line says
    ``write LEAF = EXAMPLE`` (or, lacking an example, what to write), so every error carries one.
    """

    def __init__(self, key: str, expected: str, got: Any, fix: str = "", example: str | None = None) -> None:
        self.key, self.expected, self.got = key, expected, got
        self.fix = fix or default_fix(key, expected, example)
        self.generic = not fix          # _section may offer the key's default instead


def toml_value(value: Any) -> str:
    """``value`` as TOML source (for fix lines): true, 15, 0.5, "sift", [1920, 1080]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_fix(key: str, expected: str, example: str | None = None) -> str:
    """The fix for a key whose value is not what ``expected`` says."""
    leaf = key.rsplit(".", 1)[-1] if key else "the value"
    if example is not None:
        return f"write {leaf} = {example}"
    return f"write {leaf} as {expected}"


# Keys whose wrong value is never shown, only its type: secrets, and URLs (they carry passwords).
def _hidden(key: str) -> bool:
    from camdeck.fileio.redact import is_secret_key

    return is_secret_key(key) or key.rsplit(".", 1)[-1].lower().endswith("url")


def _show(value: Any, key: str = "") -> str:
    """How an error line shows a bad ``value`` of ``key``: short, scrubbed, and only its type for a
    secret or a URL (fileio.redact.describe_value)."""
    from camdeck.fileio.redact import describe_value, is_secret_key

    if key and is_secret_key(key):
        return describe_value(key, value)
    if key and _hidden(key):
        leaf = key.rsplit(".", 1)[-1]
        return f"a value of type {type(value).__name__} (not shown: {leaf} may carry a password)"
    text = describe_value(key or "value", value)
    return text if len(text) <= 40 else text[:37] + "..."


MAX_STRING = 4096      # no config value needs more; a longer one is a pasted file or an attack


def _str(nonempty: bool = False) -> Callable[[Any, str], str]:
    def check(v: Any, key: str) -> str:
        if not isinstance(v, str) or (nonempty and not v.strip()):
            raise _Bad(key, "a non-empty string" if nonempty else "a string", v, example='"..."')
        if len(v) > MAX_STRING:
            raise _Bad(key, f"a string of at most {MAX_STRING} characters", Said(f"{len(v)} characters"),
                       f"shorten {key.rsplit('.', 1)[-1]}")
        return v
    return check


def _label(v: Any, key: str) -> str:
    """A label shown in tables: plain text, at most 200 characters, no control characters (an ANSI
    escape in a label would repaint the operator's terminal)."""
    import unicodedata

    v = _str()(v, key)
    bad = next((ch for ch in v if unicodedata.category(ch) == "Cc" or "\u202a" <= ch <= "\u202e"
                or "\u2066" <= ch <= "\u2069"), None)
    if bad is not None:
        raise _Bad(key, "text without control characters (no ANSI escapes, tabs or bidi overrides)",
                   Said(f"a string holding {bad!r}"), f"write {key.rsplit('.', 1)[-1]} as plain text")
    if len(v) > 200:
        raise _Bad(key, "a label of at most 200 characters", Said(f"{len(v)} characters"), "shorten the label")
    return v


def _bool(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise _Bad(key, "true or false", v, example="true")
    return v


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any, str], int]:
    def check(v: Any, key: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Bad(key, _range_text("an integer", lo, hi), v, example=str(lo if lo is not None else hi or 0))
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
            example = lo if lo is not None and not open_lo else hi if hi is not None else lo or 0.0
            raise _Bad(key, what, v, example=f"{float(example):g}" if example is not None else None)
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
        if not isinstance(v, str) or v not in options:
            raise _Bad(key, "one of " + ", ".join(repr(o) for o in options), v, example=f'"{options[0]}"')
        return v
    return check


def _vec(n: int, item: Callable[[Any, str], Any], what: str, example: str | None = None) -> Callable[[Any, str], tuple]:
    def check(v: Any, key: str) -> tuple:
        if not isinstance(v, list) or len(v) != n:
            raise _Bad(key, f"a list of {n} {what}", v, example=example)
        try:
            return tuple(item(x, key) for x in v)
        except _Bad:
            if example is None:
                raise
            raise _Bad(key, f"a list of {n} {what}", v, example=example) from None
    return check


def _range_pair(lo: float | None = None, hi: float | None = None) -> Callable[[Any, str], tuple]:
    example = f"[{lo:g}, {hi:g}]" if lo is not None and hi is not None else "[0.0, 1.0]"
    base = _vec(2, _float(lo, hi), "numbers" + (f" within [{lo:g}, {hi:g}]" if lo is not None else ""), example)

    def check(v: Any, key: str) -> tuple:
        a, b = base(v, key)
        if a >= b:
            raise _Bad(key, "[low, high] with low < high", v, example=example)
        return a, b
    return check


def _str_list(v: Any, key: str) -> tuple[str, ...]:
    if not isinstance(v, list) or len(v) > 256 or not all(isinstance(x, str) and x and len(x) <= MAX_STRING
                                                          for x in v):
        raise _Bad(key, "a list of non-empty strings", v, example='["..."]')
    return tuple(v)


def _table(v: Any, key: str) -> dict:
    if not isinstance(v, dict):
        leaf = key.rsplit(".", 1)[-1]
        raise _Bad(key, "a table", v, f"write [{key}] on its own line with its keys below it, "
                                      f"or {leaf} = {{ ... }}")
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
            raise _Bad(f"{path}.{key}" if path else key, f"one of the known keys ({known})", Said("an unknown key"),
                       unknown_fix or "remove it or correct its spelling")
    for key, (check, default) in schema.items():
        full = f"{path}.{key}" if path else key
        if key in table:
            try:
                out[key] = check(table[key], full)
            except _Bad as bad:
                if bad.generic and bad.key == full and default not in (None, _REQUIRED) \
                        and not isinstance(default, dict) and not _hidden(full):
                    bad.fix = f"write {key} = {toml_value(default)} (the default)"
                raise
        elif default is _REQUIRED:
            raise _Bad(full, "this key (it is required)", Said("nothing"), f"add {key} = ... to [{path}]")
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
def redis_url(v: Any, key: str) -> str:
    """A Redis URL: redis:// or rediss:// with a host, or unix:// with a path (what redis-py's
    from_url takes). The value is never shown in the error: it may carry a password."""
    from urllib.parse import urlsplit

    v = _str(nonempty=True)(v, key)
    try:
        url = urlsplit(v)
        port = url.port                 # raises ValueError for a port that is not a number
    except ValueError:
        url, port = None, None
    ok = url is not None and ((url.scheme in ("redis", "rediss") and bool(url.hostname))
                              or (url.scheme == "unix" and bool(url.path)))
    if not ok or (port is not None and not 0 < port < 65536):
        raise _Bad(key, "a redis://HOST[:PORT]/DB, rediss://... or unix:///PATH URL",
                   Said("something else (not shown: it may carry a password)"),
                   f"set {key[1:]}=redis://127.0.0.1:6379/0, or unset it" if key.startswith("$")
                   else 'write url = "redis://127.0.0.1:6379/0"')
    return v


REDIS_SCHEMA: Schema = {"url": (redis_url, "redis://127.0.0.1:6379/0")}
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

# Positions: finite and within 1 km of the origin. A rig or a PTZ site spans metres; 1e308 would
# overflow every projection, and a kilometre already leaves any simulated scene.
POSITION_LIMIT_M = 1000.0
_vec3 = _vec(3, _float(-POSITION_LIMIT_M, POSITION_LIMIT_M),
             f"numbers (metres, each within +-{POSITION_LIMIT_M:g})", "[0.0, 0.0, 1.0]")
CAMERA_COMMON: Schema = {
    "driver": (_choice(*DRIVERS), _REQUIRED),
    "model": (_str(nonempty=True), _REQUIRED),
    "label": (_label, ""),
    "role": (_label, ""),         # the recorder's data file heads the camera "CAMERA 1 (ROLE)"
    "resolution": (_vec(2, _int(2, 16384), "integers (width, height in px)", "[1920, 1080]"), None),
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
    "hfov_deg": (_vec(2, _float(0.1, 179.0), "numbers (degrees at zoom 0 and zoom 1)", "[60.0, 6.0]"), (60.0, 6.0)),
    "speed_deg_s": (_float(0.0, 1000.0, open_lo=True), 120.0),
    "telemetry_topic": (_str(), ""),
    "align_ypr_deg": (_vec(3, _float(-360.0, 360.0), "numbers (yaw, pitch, roll in degrees)", "[0.0, 0.0, 0.0]"),
                      (0.0, 0.0, 0.0)),
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
    "recorder": {},
    "capture": {"every_s": (_float(0.0, 86400.0, open_lo=True), 10.0), "format": (_choice("png", "jpeg"), "png")},
}
DEPLOYMENT_SCHEMA: Schema = {"tunnel": (_str_list, ())}
RECORD_SCHEMA: Schema = {
    "fps": (_float(0.0, 240.0), 30.0),              # every camera pinned to this rate; 0: each its own
    "max_drop_pct": (_float(0.0, 100.0), 1.0),      # more dropped frames: "complete with drops", exit 1
    "format": (_choice("h264", "mp4"), "h264"),     # camdeck record's default --format
}

TOP_SCHEMA = ("console", "sim", "cameras", "rigs", "deployments", "mqtt", "redis", "storage", "slack", "monitor",
              "record")
