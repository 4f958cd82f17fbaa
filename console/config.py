"""config.toml -> typed settings. Every error names the key path, the expected value and the fix.

Which file is read and which data folder is used: console/config_paths.py (``--config``,
``$CAMDECK_CONFIG``, ./config.toml, the user config, the site config, the built-in rig).
Relative paths inside a config file: a rig's or a PTZ camera's ``calibration`` is read from the
config file's folder; ``console.data_dir`` is taken from the current folder. A PTZ camera's
``calibration`` (``calibration.npz``: K and distortion, measured at ``calibration_zoom``) is read
when the config loads, so a missing or corrupt file stops every command at once (exit 2, naming
``cameras.NAME.calibration``).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from camdeck.console.config_paths import BUILTIN_CONFIG  # noqa: F401  (callers import it from here)
from camdeck.console.config_paths import ConfigChoice, DataChoice, default_data_dir, find_config, find_data_dir
from camdeck.console.config_schema import (
    CAMERA_ASI,
    CAMERA_COMMON,
    CAMERA_PICAM,
    CAMERA_PTZ,
    CAMERA_SIM,
    CONSOLE_SCHEMA,
    DEPLOYMENT_SCHEMA,
    MONITOR_SCHEMA,
    MQTT_SCHEMA,
    REDIS_SCHEMA,
    RIG_COMMON,
    RIG_EXTRA,
    SIM_SCHEMA,
    SLACK_SCHEMA,
    STORAGE_SCHEMA,
    TOP_SCHEMA,
    _Bad,
    _section,
    _show,
    _table,
)
from camdeck.drivers.base import ASI_MODELS, PICAM_MODELS, CameraSpec, RigSpec, Secret, camera_kind, secret_from
from camdeck.drivers.registry import DriverContext
from camdeck.monitoring.settings import (
    Deployment,
    MonitorSettings,
    MqttSettings,
    SlackSettings,
    StorageSettings,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

class ConfigError(Exception):
    """A config file that cannot be used. ``str()`` is the one line the CLI prints."""

    def __init__(self, source: str, key: str, problem: str, fix: str = "") -> None:
        self.source = source
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem + (f"; fix: {fix}" if fix else ""))


@dataclass(frozen=True)
class ConsoleSettings:
    theme: str = "camdeck-dark"
    data_dir: str | None = None       # None: the platform's user data folder (config_paths.default_data_dir)
    preview_fps: float = 15.0
    ascii_preview: bool = False
    read_only: bool = False           # TUI: no key records, moves a camera or deletes (camdeck tui --read-only)


@dataclass(frozen=True)
class SimSettings:
    seed: int | None = 0
    time_factor: float = 1.0


@dataclass(frozen=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Settings:
    """Everything config.toml says, validated."""

    source: str
    console: ConsoleSettings
    sim: SimSettings
    cameras: Mapping[str, CameraSpec]
    rigs: Mapping[str, RigSpec]
    deployments: Mapping[str, Deployment]
    mqtt: MqttSettings
    redis: RedisSettings
    storage: StorageSettings
    slack: SlackSettings
    monitor: MonitorSettings
    data_dir: Path = field(default=Path("data"))
    config_choice: ConfigChoice | None = None    # how load_settings found the file (None: parsed from a dict)
    data_choice: DataChoice | None = None        # how load_settings chose data_dir

    def driver_context(self, clock: Callable[[], int] | None = None) -> DriverContext:
        return DriverContext(rigs=self.rigs, data_dir=self.data_dir, seed=self.sim.seed,
                             time_factor=self.sim.time_factor, clock=clock)


# ---------------------------------------------------------------- resolution

def resolve_config_path(cli_path: str | os.PathLike | None) -> Path:
    """The config file to use, by the search order of console/config_paths.py (the built-in copy last)."""
    return find_config(cli_path).path


def resolve_data_dir(cli_dir: str | os.PathLike | None, config_dir: str | None) -> Path:
    """``--data-dir``, else ``$CAMDECK_DATA_DIR``, else the config's data_dir, else the user data folder."""
    return find_data_dir(cli_dir, config_dir).path


def load_settings(path: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None) -> Settings:
    """Read and validate a config file, found as console/config_paths.py says.

    Args:
        path: ``--config`` (None: search); data_dir: ``--data-dir`` (None: env, config, default).

    Raises:
        ConfigError: an empty path, or the file is missing, not TOML, or a key is unknown,
            mistyped or out of range.
    """
    for option, value in (("--config", path), ("--data-dir", data_dir)):
        if value is not None and not str(value):
            raise ConfigError(option, "", "is empty", f"pass a path, or leave {option} out")
    choice = find_config(path)
    file = choice.path
    label = "built-in config" if choice.builtin else str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(label, "", "file not found",
                          "pass an existing file with --config, or unset CAMDECK_CONFIG") from None
    except IsADirectoryError:
        raise ConfigError(label, "", "is a folder, not a file", "pass the path of config.toml itself") from None
    except OSError as err:
        raise ConfigError(label, "", f"cannot be read ({err.strerror})", "check the file's permissions") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(label, "", "is not UTF-8 text", "save config.toml as UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(label, "", f"is not valid TOML ({err})", "correct the syntax at that line") from None
    settings = parse_settings(data, label)
    if not choice.builtin:
        settings = _with_files_beside(settings, file.parent)
    check_ptz_calibrations(settings, label)
    data_choice = find_data_dir(data_dir, settings.console.data_dir, label)
    from dataclasses import replace
    return replace(settings, data_dir=data_choice.path, config_choice=choice, data_choice=data_choice)


def _with_files_beside(settings: Settings, folder: Path) -> Settings:
    """A rig's relative ``calibration`` file is read from the config file's folder, wherever
    camdeck starts (the TUI, cron, a config in ~/.config/camdeck); ``~`` is expanded."""
    from dataclasses import replace

    rigs = {}
    for name, rig in settings.rigs.items():
        path = rig.options.get("calibration")
        if path:
            full = Path(path).expanduser()
            rig = replace(rig, options={**rig.options, "calibration": str(full if full.is_absolute() else folder / full)})
        rigs[name] = rig
    cameras = {}
    for name, spec in settings.cameras.items():
        path = spec.options.get("calibration") if spec.kind == "ptz" else None
        if path:
            full = Path(path).expanduser()
            spec = replace(spec, options={**spec.options, "calibration": str(full if full.is_absolute() else folder / full)})
        cameras[name] = spec
    return replace(settings, rigs=rigs, cameras=cameras)


def check_ptz_calibrations(settings: Settings, source: str) -> None:
    """Read every PTZ camera's ``calibration`` file once, so a bad one is a config error.

    Raises:
        ConfigError: the file is missing, not a calibration.npz, or its K/dist are malformed
            (the key is ``cameras.NAME.calibration``).
    """
    for name, spec in settings.cameras.items():
        path = spec.options.get("calibration") if spec.kind == "ptz" else None
        if not path:
            continue
        from camdeck.calibration.errors import CalibrationError
        from camdeck.calibration.intrinsics import load_calibration

        try:
            load_calibration(path)
        except CalibrationError as err:
            raise ConfigError(source, f"cameras.{name}.calibration", err.message,
                              "give the calibration.npz that `camdeck calibrate intrinsics` wrote for this "
                              "camera (a relative path is read beside the config file), or remove the key") from None


def parse_settings(data: Mapping[str, Any], source: str = "config") -> Settings:
    """Validate a parsed TOML document and build Settings.

    Raises:
        ConfigError: naming the first bad key path with what was expected.
    """
    try:
        return _parse(data, source)
    except _Bad as bad:
        got = bad.got if isinstance(bad.got, str) and bad.got in ("an unknown key", "nothing", "a read-only control") else _show(bad.got)
        raise ConfigError(source, bad.key, f"expected {bad.expected}, got {got}", bad.fix) from None


def _parse(data: Mapping[str, Any], source: str) -> Settings:
    for key in data:
        if key not in TOP_SCHEMA:
            raise _Bad(key, "one of the known sections (" + ", ".join(TOP_SCHEMA) + ")", "an unknown key",
                       "remove it or correct its spelling")
    console = ConsoleSettings(**_section(data.get("console", {}), "console", CONSOLE_SCHEMA))
    sim = SimSettings(**_section(data.get("sim", {}), "sim", SIM_SCHEMA))

    deployments_raw = _table(data.get("deployments", {}), "deployments")
    deployment_tunnels = {name: _section(t, f"deployments.{name}", DEPLOYMENT_SCHEMA)["tunnel"]
                          for name, t in deployments_raw.items()}

    cameras_raw = _table(data.get("cameras", {}), "cameras")
    if not cameras_raw:
        raise _Bad("cameras", "at least one [cameras.NAME] table", "nothing", "copy the cameras of the default config.toml")
    cameras = {name: _parse_camera(name, entry, deployment_tunnels) for name, entry in cameras_raw.items()}
    _check_identities(cameras)

    rigs_raw = _table(data.get("rigs", {}), "rigs")
    rigs = {name: _parse_rig(name, entry, cameras) for name, entry in rigs_raw.items()}

    deployments = {
        name: Deployment(name=name, tunnel=tunnel,
                         cameras=tuple(c for c, s in cameras.items() if s.options.get("deployment") == name))
        for name, tunnel in deployment_tunnels.items()
    }

    mqtt = _section(data.get("mqtt", {}), "mqtt", MQTT_SCHEMA)
    mqtt_settings = MqttSettings(host=mqtt["host"], port=mqtt["port"], username=mqtt["username"],
                                 password=secret_from(mqtt["password"], mqtt["password_env"]),
                                 keepalive_s=mqtt["keepalive_s"])
    redis = _section(data.get("redis", {}), "redis", REDIS_SCHEMA)
    redis_settings = RedisSettings(url=os.environ.get("REDIS_URL") or redis["url"])
    storage = StorageSettings(**_section(data.get("storage", {}), "storage", STORAGE_SCHEMA))
    slack = _section(data.get("slack", {}), "slack", SLACK_SCHEMA)
    slack_settings = SlackSettings(channel=slack["channel"], token=secret_from(slack["token"], slack["token_env"]),
                                   webhook_url=secret_from(slack["webhook_url"], slack["webhook_url_env"]),
                                   api_url=slack["api_url"], alert_threshold_deg=slack["alert_threshold_deg"])
    monitor = MonitorSettings(**_section(data.get("monitor", {}), "monitor", MONITOR_SCHEMA))
    return Settings(source=source, console=console, sim=sim, cameras=cameras, rigs=rigs, deployments=deployments,
                    mqtt=mqtt_settings, redis=redis_settings, storage=storage, slack=slack_settings,
                    monitor=monitor, data_dir=Path(console.data_dir).expanduser() if console.data_dir else default_data_dir())


def _parse_camera(name: str, entry: Any, deployments: Mapping[str, tuple[str, ...]]) -> CameraSpec:
    path = f"cameras.{name}"
    table = _table(entry, path)
    _check_name(name, path)
    # Read driver and model first: they decide which keys are allowed.
    driver = _section({k: table[k] for k in ("driver",) if k in table}, path,
                      {"driver": CAMERA_COMMON["driver"]})["driver"]
    model = _section({k: table[k] for k in ("model",) if k in table}, path,
                     {"model": CAMERA_COMMON["model"]})["model"]
    kind = camera_kind(model, driver)
    _check_model(driver, model, kind, path)
    schema: dict[str, Any] = dict(CAMERA_COMMON)
    schema.update({"asi": CAMERA_ASI, "picam": CAMERA_PICAM, "ptz": CAMERA_PTZ}[kind])
    if driver == "sim":
        schema.update(CAMERA_SIM)
    unknown_fix = ("ZWO cameras are identified by serial, never by index: remove it and set serial"
                   if kind == "asi" and ("index" in table or "camera_index" in table) else "")
    values = _section(table, path, schema, unknown_fix)
    if kind == "asi" and values["resolution"] is not None:
        w, h = values["resolution"]
        if w % 8 or h % 2:
            raise _Bad(f"{path}.resolution", "a width divisible by 8 and an even height (ASI ROI rule)",
                       [w, h], f"use [{w - w % 8}, {h - h % 2}]")
    _check_controls(name, driver, kind, model, values["controls"])
    if kind == "ptz" and values["deployment"] not in deployments:
        raise _Bad(f"{path}.deployment", "the name of a [deployments.NAME] table", values["deployment"],
                   f"add [deployments.{values['deployment']}] or correct the name")
    common = {"driver", "model", "label", "resolution", "controls", "serial"}
    options = {k: v for k, v in values.items() if k not in common}
    if kind == "ptz":
        options["password"] = secret_from(options.pop("password"), options.pop("password_env"))
        if not options["telemetry_topic"]:
            options["telemetry_topic"] = f"camdeck/{values['deployment']}/{name}/telemetry"
    return CameraSpec(name=name, driver=driver, model=model, label=values["label"], serial=values.get("serial"),
                      resolution=values["resolution"], controls=dict(values["controls"]), options=options)


def _check_controls(name: str, driver: str, kind: str, model: str, controls: Mapping[str, Any]) -> None:
    """Check a camera's ``controls`` against its model's control table (drivers/controls.py), so a
    value the camera would refuse stops the config at load, not the first capture."""
    from camdeck.drivers.controls import control_table, coerce
    from camdeck.drivers.errors import ControlError

    table = control_table(driver, kind, model)
    writable = sorted(n for n, c in table.items() if c.writable)
    for cname, value in controls.items():
        key = f"cameras.{name}.controls.{cname}"
        ctrl = table.get(cname)
        if ctrl is None or not ctrl.writable:
            expected = ("a control of this camera (" + ", ".join(writable) + ")" if writable
                        else "no controls (PTZ cameras have none)")
            problem = "a read-only control" if ctrl is not None else "an unknown key"
            raise _Bad(key, expected, problem, "remove it or correct its spelling")
        try:
            coerce(name, ctrl, value)
        except ControlError:
            raise _Bad(key, ctrl.range_text() + (f" ({ctrl.description})" if ctrl.description else ""), value,
                       f"write {cname} = {ctrl.example()}") from None
        if cname == "FrameDurationLimits" and value[0] > value[1]:
            raise _Bad(key, "[min, max] with min <= max (microseconds)", value,
                       f"write {cname} = [{value[1]}, {value[1]}] for a fixed rate")


def _check_name(name: str, path: str) -> None:
    import re
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise _Bad(path, "a name of letters, digits, '-', '_' or '.' (at most 64)", name, "rename the table")


def _check_model(driver: str, model: str, kind: str, path: str) -> None:
    if driver == "zwoasi" and model.upper() not in ASI_MODELS:
        raise _Bad(f"{path}.model", "a ZWO model (" + ", ".join(sorted(ASI_MODELS)) + ")", model)
    if driver == "picamera2" and model.upper() not in PICAM_MODELS:
        raise _Bad(f"{path}.model", "a Pi camera sensor (" + ", ".join(sorted(PICAM_MODELS)) + ")", model)
    if driver == "sim" and kind == "picam" and model.upper() not in PICAM_MODELS:
        raise _Bad(f"{path}.model", "a simulated model (ASI662MC, " + ", ".join(sorted(PICAM_MODELS)) + ", PTZ)",
                   model)


def _check_identities(cameras: Mapping[str, CameraSpec]) -> None:
    seen_serial: dict[str, str] = {}
    seen_num: dict[tuple[str, int], str] = {}
    seen_port: dict[tuple[str, int], str] = {}
    for name, spec in cameras.items():
        if spec.serial:
            if spec.serial in seen_serial:
                raise _Bad(f"cameras.{name}.serial", f"a serial no other camera has ({seen_serial[spec.serial]} has it)",
                           spec.serial, "give each camera its own serial number")
            seen_serial[spec.serial] = name
        if spec.kind == "picam" and spec.driver == "picamera2":
            key = ("picamera2", spec.options["camera_num"])
            if key in seen_num:
                raise _Bad(f"cameras.{name}.camera_num", f"a camera_num no other Pi camera has ({seen_num[key]} has it)",
                           key[1], "each Pi camera sits on its own connector: 0 or 1")
            seen_num[key] = name
        if spec.kind == "ptz" and spec.options["port"]:
            key = (spec.options["host"], spec.options["port"])
            if key in seen_port:
                raise _Bad(f"cameras.{name}.port", f"an address no other camera has ({seen_port[key]} has it)",
                           key[1], "give each PTZ camera its own host:port")
            seen_port[key] = name


def _parse_rig(name: str, entry: Any, cameras: Mapping[str, CameraSpec]) -> RigSpec:
    path = f"rigs.{name}"
    table = _table(entry, path)
    _check_name(name, path)
    rig_type = _section({k: table[k] for k in ("type",) if k in table}, path, {"type": RIG_COMMON["type"]})["type"]
    schema = dict(RIG_COMMON)
    schema.update(RIG_EXTRA[rig_type])
    values = _section(table, path, schema)
    members = values.pop("cameras")
    for cam in members:
        if cam not in cameras:
            raise _Bad(f"{path}.cameras", "names of [cameras.NAME] tables", cam,
                       "configure that camera or correct the name")
    if len(set(members)) != len(members):
        raise _Bad(f"{path}.cameras", "each camera at most once", list(members))
    need = {"stereo": (2, 2), "recorder": (1, 8), "capture": (1, 1)}[rig_type]
    if not need[0] <= len(members) <= need[1]:
        count = str(need[0]) if need[0] == need[1] else f"{need[0]} to {need[1]}"
        raise _Bad(f"{path}.cameras", f"{count} camera names for a {rig_type} rig", list(members))
    if rig_type == "stereo":
        for cam in members:
            if cameras[cam].kind != "asi":
                raise _Bad(f"{path}.cameras", "two ZWO ASI cameras", cam, "use ASI cameras in a stereo rig")
    values.pop("type")
    return RigSpec(name=name, type=rig_type, cameras=tuple(members), options=values)


def redacted(value: Any) -> Any:
    """A JSON-safe copy of ``value`` with every Secret shown as '***'."""
    if isinstance(value, Secret):
        return "***" if value else ""
    if isinstance(value, Mapping):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted(v) for v in value]
    return value
