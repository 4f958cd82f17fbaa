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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from camdeck.console.config_paths import BUILTIN_CONFIG  # noqa: F401  (callers import it from here)
from camdeck.console.config_paths import (
    ConfigChoice,
    DataChoice,
    default_data_dir,
    find_config,
    find_data_dir,
    check_data_dir,
    read_config,
)
from camdeck.console.config_checks import (
    check_controls,
    check_identities,
    check_loopback,
    check_model,
    check_name,
    check_sensor_size,
)
from camdeck.console.config_schema import (
    CAMERA_ASI,
    CAMERA_COMMON,
    CAMERA_PICAM,
    CAMERA_PTZ,
    CAMERA_SIM,
    ConfigError,
    CONSOLE_SCHEMA,
    DEPLOYMENT_SCHEMA,
    MONITOR_SCHEMA,
    MQTT_SCHEMA,
    RECORD_SCHEMA,
    REDIS_SCHEMA,
    RIG_COMMON,
    RIG_EXTRA,
    SIM_SCHEMA,
    SLACK_SCHEMA,
    STORAGE_SCHEMA,
    TOP_SCHEMA,
    Said,
    _Bad,
    _section,
    _show,
    printable,
    _table,
    redis_url,
)
from camdeck.drivers.base import CameraSpec, RigSpec, Secret, camera_kind, secret_from
from camdeck.drivers.registry import DriverContext
from camdeck.monitoring.settings import (
    Deployment,
    MonitorSettings,
    MqttSettings,
    SlackSettings,
    StorageSettings,
)

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
class RecordSettings:
    fps: float = 30.0                 # every camera of a take pinned to this rate (0: each its own)
    max_drop_pct: float = 1.0         # a take dropping more is "complete with drops" (exit 1)
    format: str = "h264"              # camdeck record's default --format (h264 or mp4)


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
    record: RecordSettings = field(default_factory=RecordSettings)

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
    try:
        choice = find_config(path)
    except ValueError:           # an empty $CAMDECK_CONFIG: never a silent fallback
        raise ConfigError("$CAMDECK_CONFIG", "", "is set but empty",
                          "give it the path of a config file, or unset it (unset CAMDECK_CONFIG)") from None
    file = choice.path
    label = "built-in config" if choice.builtin else str(file)
    data = read_config(file, label)
    settings = parse_settings(data, label)
    remember_secrets(settings)
    if not choice.builtin:
        settings = _with_files_beside(settings, file.parent)
    check_ptz_calibrations(settings, label)
    data_choice = find_data_dir(data_dir, settings.console.data_dir, label)
    check_data_dir(data_choice)
    from dataclasses import replace
    return replace(settings, data_dir=data_choice.path, config_choice=choice, data_choice=data_choice)


def secret_values(settings: "Settings") -> list[str]:
    """The plain values of every secret in ``settings`` (passwords, tokens, webhook URLs, the
    password inside redis.url)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    found = [settings.mqtt.password, settings.slack.token, settings.slack.webhook_url]
    found += [spec.options.get("password") for spec in settings.cameras.values()]
    values = [s.reveal() for s in found if isinstance(s, Secret) and s]
    try:
        url = urlsplit(settings.redis.url)
        values += [p for p in (url.password, unquote(url.password or "")) if p]
        values += [v for k, vs in parse_qs(url.query).items() if k.lower() in ("password", "pwd", "token") for v in vs]
    except ValueError:
        pass       # parse_settings checked the URL; nothing to remember from one urlsplit refuses
    return values


def remember_secrets(settings: "Settings") -> None:
    """Register every secret of ``settings`` with fileio.redact, so no message, log line or JSON
    payload of the CLI or the TUI shows it from now on."""
    from camdeck.fileio import redact

    redact.remember(secret_values(settings))


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
        got = printable(bad.got) if isinstance(bad.got, Said) else _show(bad.got, bad.key)
        raise ConfigError(source, bad.key, f"expected {bad.expected}, got {got}", bad.fix) from None


def _parse(data: Mapping[str, Any], source: str) -> Settings:
    for key in data:
        if key not in TOP_SCHEMA:
            raise _Bad(key, "one of the known sections (" + ", ".join(TOP_SCHEMA) + ")", Said("an unknown key"),
                       "remove it or correct its spelling")
    console = ConsoleSettings(**_section(data.get("console", {}), "console", CONSOLE_SCHEMA))
    sim = SimSettings(**_section(data.get("sim", {}), "sim", SIM_SCHEMA))

    deployments_raw = _table(data.get("deployments", {}), "deployments")
    for name in deployments_raw:
        check_name(name, f"deployments.{name}")
    deployment_tunnels = {name: _section(t, f"deployments.{name}", DEPLOYMENT_SCHEMA)["tunnel"]
                          for name, t in deployments_raw.items()}

    cameras_raw = _table(data.get("cameras", {}), "cameras")
    if not cameras_raw:
        raise _Bad("cameras", "at least one [cameras.NAME] table", Said("nothing"),
                   "copy the cameras of the default config.toml")
    cameras = {name: _parse_camera(name, entry, deployment_tunnels) for name, entry in cameras_raw.items()}
    check_identities(cameras)

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
    env_url = os.environ.get("REDIS_URL")
    redis_settings = RedisSettings(url=redis_url(env_url, "$REDIS_URL") if env_url else redis["url"])
    storage = StorageSettings(**_section(data.get("storage", {}), "storage", STORAGE_SCHEMA))
    slack = _section(data.get("slack", {}), "slack", SLACK_SCHEMA)
    slack_settings = SlackSettings(channel=slack["channel"], token=secret_from(slack["token"], slack["token_env"]),
                                   webhook_url=secret_from(slack["webhook_url"], slack["webhook_url_env"]),
                                   api_url=slack["api_url"], alert_threshold_deg=slack["alert_threshold_deg"])
    monitor = MonitorSettings(**_section(data.get("monitor", {}), "monitor", MONITOR_SCHEMA))
    record = RecordSettings(**_section(data.get("record", {}), "record", RECORD_SCHEMA))
    return Settings(source=source, console=console, sim=sim, cameras=cameras, rigs=rigs, deployments=deployments,
                    mqtt=mqtt_settings, redis=redis_settings, storage=storage, slack=slack_settings,
                    monitor=monitor, data_dir=Path(console.data_dir).expanduser() if console.data_dir else default_data_dir(),
                    record=record)


def _parse_camera(name: str, entry: Any, deployments: Mapping[str, tuple[str, ...]]) -> CameraSpec:
    path = f"cameras.{name}"
    table = _table(entry, path)
    check_name(name, path)
    # Read driver and model first: they decide which keys are allowed.
    driver = _section({k: table[k] for k in ("driver",) if k in table}, path,
                      {"driver": CAMERA_COMMON["driver"]})["driver"]
    model = _section({k: table[k] for k in ("model",) if k in table}, path,
                     {"model": CAMERA_COMMON["model"]})["model"]
    kind = camera_kind(model, driver)
    check_model(driver, model, kind, path)
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
    check_sensor_size(path, driver, kind, model, values["resolution"])
    if kind == "ptz" and driver == "sim":
        check_loopback(f"{path}.host", values["host"])
    check_controls(name, driver, kind, model, values["controls"])
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


def _parse_rig(name: str, entry: Any, cameras: Mapping[str, CameraSpec]) -> RigSpec:
    path = f"rigs.{name}"
    table = _table(entry, path)
    check_name(name, path)
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
