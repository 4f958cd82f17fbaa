"""Shared fixtures: an isolated working folder, in-process CLI runs, and real services on free ports."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--hardware", action="store_true", help="run tests that need real cameras")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs real hardware (pass --hardware)")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test sees the developer's camdeck environment variables, proxies, user or site config,
    nor writes to the real user data or log folders: the XDG folders and the site root
    ($CAMDECK_SYSCONFDIR, for /etc) point into a fresh folder beside the test's tmp_path."""
    for var in ("CAMDECK_CONFIG", "CAMDECK_DATA_DIR", "CAMDECK_LOG_LEVEL", "REDIS_URL", "SLACK_BOT_TOKEN",
                "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path_factory.mktemp("xdg")
    for var, folder in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                        ("CAMDECK_SYSCONFDIR", "etc")):
        monkeypatch.setenv(var, str(home / folder))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def user_data_dir() -> Path:
    """The data folder camdeck uses when nothing names one (the isolated $XDG_DATA_HOME/camdeck)."""
    from camdeck.console.config_paths import default_data_dir

    return default_data_dir()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected exactly one JSON line on stdout, got {self.out!r}"
        return json.loads(lines[0])


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A fresh current folder: ./config.toml is absent, so the built-in rig is used (its data goes to
    the isolated user data folder, the ``user_data_dir`` fixture)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(workdir, capsys):
    """Run camdeck in-process: cli("cameras", "list", "--json") -> CliResult."""
    from camdeck.console.cli.app import run

    def invoke(*argv: str) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout_s} s")


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (apt-get install {name})")
    return path


class ServerProcess:
    """A real server on a free port; restart() keeps the port (for fault tests)."""

    def __init__(self, argv_for_port, port: int, workdir: Path) -> None:
        self._argv_for_port = argv_for_port
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ServerProcess":
        self.proc = subprocess.Popen(self._argv_for_port(self.port), cwd=self.workdir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free port (no persistence), stopped after the test."""
    binary = _binary("redis-server")
    server = ServerProcess(lambda port: [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no"], free_port(), tmp_path)
    server.start()
    server.url = f"redis://127.0.0.1:{server.port}/0"
    yield server
    server.stop()


@pytest.fixture
def mosquitto(tmp_path):
    """A real mosquitto broker on a free port, stopped after the test."""
    binary = _binary("mosquitto")
    conf = tmp_path / "mosquitto.conf"

    def argv(port: int) -> list[str]:
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        return [binary, "-c", str(conf)]

    server = ServerProcess(argv, free_port(), tmp_path)
    server.start()
    yield server
    server.stop()
