"""Typed settings for the fleet: services and deployments. Built by console.config."""
from __future__ import annotations

from dataclasses import dataclass, field

from camdeck.drivers.base import Secret
from camdeck.fileio.names import check_safe_name


@dataclass(frozen=True)
class Deployment:
    """A site of PTZ cameras; ``tunnel`` is an argv run before connecting (never a shell)."""

    name: str
    cameras: tuple[str, ...]
    tunnel: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The name becomes a folder (DATA_DIR/scans/NAME/...): '..' or '/' would leave scans/.
        check_safe_name(self.name, "deployments.NAME")
        for camera in self.cameras:
            check_safe_name(camera, f"deployments.{self.name}.cameras")


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    keepalive_s: int = 30


@dataclass(frozen=True)
class StorageSettings:
    history_db: str = "history.sqlite"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    region: str = "us-east-1"
    athena_database: str = ""
    athena_table: str = "monitoring"
    athena_output: str = ""
    athena_workgroup: str = ""


@dataclass(frozen=True)
class SlackSettings:
    channel: str = "#camdeck"
    token: Secret = field(default_factory=lambda: Secret(""))
    webhook_url: Secret = field(default_factory=lambda: Secret(""))
    api_url: str = ""                    # override Slack's API base (tests, proxies)
    alert_threshold_deg: float = 0.5


@dataclass(frozen=True)
class MonitorSettings:
    horizontal_stops: int = 16
    vertical_stops: int = 6
    stabilize_time_s: float = 30.0
    timeout_s: float = 300.0
    features: str = "sift"
