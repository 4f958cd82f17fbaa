"""Logging from the real CLI (a subprocess): -v/-vv, -q, CAMDECK_LOG_LEVEL, JSON lines under --json,
--log-file, the TUI's log file, and secrets kept out of every line.

A real info line: at start camdeck logs which config file it read and which data folder it uses,
and why. A real warning: a relative console.data_dir in a config file outside the current folder.
"""
from __future__ import annotations

import json
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest


USER_CONFIG_WITH_RELATIVE_DATA = """
[console]
data_dir = "relative-data"

[cameras.cam]
driver = "sim"
model = "IMX219"
"""


def camdeck(*argv: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m camdeck.console.cli.app ARGV`` in ``cwd``, with the test's (isolated) environment."""
    return subprocess.run([sys.executable, "-m", "camdeck.console.cli.app", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture
def user_config(workdir) -> Path:
    """A user config whose data_dir is relative: loading it logs a warning."""
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "camdeck" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(USER_CONFIG_WITH_RELATIVE_DATA)
    return path


def test_v_shows_which_config_and_data_dir_were_chosen(workdir, user_data_dir):
    quiet = camdeck("cameras", "list", cwd=workdir)
    assert quiet.returncode == 0 and quiet.stderr == ""                 # default: warnings only
    loud = camdeck("cameras", "list", "-v", cwd=workdir)
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout == quiet.stdout                                   # logs never go to stdout
    text = " ".join(loud.stderr.split())                                 # rich wraps long lines
    assert "INFO config file:" in text and "rule built-in: the built-in simulated rig" in text
    assert f"INFO data dir: {user_data_dir} (rule default:" in text
    assert "DEBUG" not in text
    debug = camdeck("-vv", "cameras", "list", cwd=workdir)               # before the command, too
    assert "DEBUG config candidate cwd" in " ".join(debug.stderr.split())


def test_warnings_show_by_default_and_q_keeps_errors_only(user_config, workdir):
    shown = camdeck("config", "path", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stderr.split())
    assert "WARNING console.data_dir 'relative-data'" in text and "fix: write an absolute path" in text
    silent = camdeck("config", "path", "-q", cwd=workdir)
    assert silent.returncode == 0 and silent.stderr == "" and silent.stdout == shown.stdout
    failing = camdeck("-q", "cameras", "snap", "nope", "--out", "x.png", cwd=workdir)
    assert failing.returncode == 2 and failing.stderr.startswith("camdeck: error: unknown camera 'nope'")


def test_json_mode_logs_json_lines_on_stderr_and_one_object_on_stdout(user_config, workdir):
    r = camdeck("config", "path", "--json", "-v", cwd=workdir)
    assert r.returncode == 0, r.stderr
    out_lines = r.stdout.splitlines()
    assert len(out_lines) == 1 and json.loads(out_lines[0])["config"]["rule"] == "user"
    records = [json.loads(line) for line in r.stderr.splitlines()]
    assert all(set(rec) == {"ts", "level", "logger", "msg"} for rec in records)
    assert [rec["level"] for rec in records] == ["INFO", "INFO", "WARNING"]
    assert records[0]["msg"] == f"config file: {user_config} (rule user: the user config folder)"
    assert records[0]["logger"] == "camdeck.console.cli"
    assert records[0]["ts"].endswith("Z") and records[0]["ts"][:4].isdigit()


def test_log_level_variable_and_its_bad_value(user_config, workdir):
    info = camdeck("config", "path", cwd=workdir, env={"CAMDECK_LOG_LEVEL": "info"})
    assert "INFO config file:" in " ".join(info.stderr.split())
    errors_only = camdeck("config", "path", cwd=workdir, env={"CAMDECK_LOG_LEVEL": "ERROR"})
    assert errors_only.returncode == 0 and errors_only.stderr == ""
    flag_wins = camdeck("config", "path", "-v", cwd=workdir, env={"CAMDECK_LOG_LEVEL": "ERROR"})
    assert "INFO config file:" in " ".join(flag_wins.stderr.split())
    bad = camdeck("config", "path", cwd=workdir, env={"CAMDECK_LOG_LEVEL": "LOUD"})
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == ("camdeck: error: CAMDECK_LOG_LEVEL='LOUD' is not a log level; "
                          "fix: set it to DEBUG, INFO, WARNING or ERROR, or unset it\n")
    bad_json = camdeck("config", "path", "--json", cwd=workdir, env={"CAMDECK_LOG_LEVEL": "LOUD"})
    assert bad_json.returncode == 2 and "CAMDECK_LOG_LEVEL" in json.loads(bad_json.stdout)["error"]
    both = camdeck("-q", "-v", "config", "path", cwd=workdir)
    assert both.returncode == 2 and "-q and -v" in both.stderr and "fix:" in both.stderr


def test_log_file_gets_plain_lines_and_tracebacks(workdir, tmp_path):
    log = tmp_path / "logs" / "deep" / "camdeck.log"                     # its folders do not exist yet
    ok = camdeck("cameras", "list", "--log-file", str(log), "-v", cwd=workdir)
    assert ok.returncode == 0, ok.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert " INFO camdeck.console.cli: config file: " in lines[0] and lines[0][:4].isdigit()
    assert " INFO camdeck.console.cli: data dir: " in lines[1]
    failed = camdeck("cameras", "snap", "nope", "--out", "x.png", f"--log-file={log}", cwd=workdir)
    assert failed.returncode == 2
    assert failed.stderr.count("unknown camera 'nope'") == 1             # once on stderr, not again as a log line
    text = log.read_text()
    assert len(text.splitlines()) > 3                                     # appended, with a traceback
    assert "ERROR camdeck.console.cli: exit 2: unknown camera 'nope'" in text
    assert "Traceback (most recent call last):" in text and "UnknownCamera" in text


@pytest.mark.parametrize("where, needle", [("folder", "is a folder; fix: give a file name"),
                                           ("under-a-file", "cannot create the folder")])
def test_a_log_file_that_cannot_be_written_exits_2(workdir, tmp_path, where, needle):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = tmp_path if where == "folder" else blocker / "sub" / "camdeck.log"
    r = camdeck("cameras", "list", "--log-file", str(path), cwd=workdir)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"camdeck: error: --log-file {path}: {needle}") and "fix:" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_secrets_never_reach_a_log_line(tmp_path):
    """The scrubber behind every handler: URL passwords and the config's secret values become ***."""
    from camdeck.console import logs

    log = tmp_path / "secrets.log"
    try:
        logs.configure(logging.DEBUG, log_file=log, stderr=False)
        logs.mask_secrets(["hunter2-mqtt"])
        logger = logging.getLogger("camdeck.test")
        logger.warning("mqtt login with %s failed", "hunter2-mqtt")
        logger.warning("redis at %s is down", "redis://admin:pa55word@127.0.0.1:6379/0")
        try:
            raise RuntimeError("token hunter2-mqtt rejected")
        except RuntimeError:
            logger.exception("upload failed")
    finally:
        logs.configure(logging.WARNING, stderr=False)
    text = log.read_text()
    assert "hunter2" not in text and "pa55word" not in text
    assert "mqtt login with *** failed" in text and "redis://admin:***@127.0.0.1:6379/0" in text
    assert "RuntimeError: token *** rejected" in text


def _run_tui_in_a_pty(argv: list[str], cwd: Path, log: Path) -> bytes:
    """Start ``camdeck tui`` on a real pseudo-terminal, wait for its log file, press q; return the screen bytes."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real CLI on the pty
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "camdeck.console.cli.app", "tui", *argv],
                  {**os.environ, "TERM": "xterm-256color"})
    screen = b""
    deadline = time.monotonic() + 60
    quit_sent = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the app has exited and closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            if not quit_sent and log.is_file() and "data dir:" in log.read_text() and b"Cameras" in screen:
                os.write(fd, b"q")
                quit_sent = True
        assert quit_sent, f"the TUI did not start: {screen[-2000:]!r}"
    finally:
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    return screen


def test_the_tui_logs_to_its_file_and_never_to_the_terminal(user_config, workdir):
    default_log = Path(os.environ["XDG_STATE_HOME"]) / "camdeck" / "log" / "tui.log"
    screen = _run_tui_in_a_pty(["-v"], workdir, default_log)
    text = default_log.read_text()
    assert "INFO camdeck.console.cli: config file:" in text
    assert "WARNING camdeck.console.cli: console.data_dir 'relative-data'" in text
    assert b"config file" not in screen and b"relative-data" not in screen and b"WARNING" not in screen
