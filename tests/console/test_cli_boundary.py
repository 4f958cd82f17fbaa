"""The CLI boundary: no traceback ever reaches a user; bounded options refuse nan, inf and huge values."""
from __future__ import annotations

import pytest

from camdeck.console.cli import bounds
from camdeck.console.cli.common import BadInput


def test_a_bug_is_one_internal_error_line_with_a_pointer_to_the_log_file(cli, monkeypatch, tmp_path):
    from camdeck.console.cli import common

    def broken():
        raise ZeroDivisionError("division by zero in a helper")

    monkeypatch.setattr(common, "settings", broken)
    res = cli("cameras", "list")
    assert res.code == 1 and "Traceback" not in res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "internal error (ZeroDivisionError" in lines[0] and "--log-file" in lines[0]
    log = tmp_path / "trace.log"
    res = cli("--log-file", str(log), "cameras", "list")
    assert res.code == 1 and f"the trace is in {log}" in res.err and "Traceback" not in res.err
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()


def test_error_lines_and_json_never_carry_a_url_password(cli, monkeypatch):
    from camdeck.console.cli import common

    def broken():
        raise common.BadInput("cannot reach redis://:pw-12345@10.0.0.9:6379/0; fix: check the URL")

    monkeypatch.setattr(common, "settings", broken)
    res = cli("--json", "cameras", "list")
    assert res.code == 2 and "pw-12345" not in res.err and "pw-12345" not in res.out
    assert res.json()["error"].startswith("cannot reach redis://:***@10.0.0.9")


@pytest.mark.parametrize("text", ["9" * 400, "nan", "inf", "-5", "1e9", "100000000h", "", "5 parsecs"])
def test_durations_outside_their_range_or_not_durations_are_bad_input(text):
    with pytest.raises(BadInput, match=r"^--duration .*fix: "):
        bounds.parse_seconds(text, "--duration", 0.1, 3600.0)


def test_durations_inside_their_range_parse_to_seconds():
    assert bounds.parse_seconds("1.5m", "--duration", 0.1, 3600.0) == 90.0
    assert bounds.parse_seconds("500ms", "--every", 0.1, 3600.0) == 0.5
    assert bounds.parse_seconds("1h", "--duration", 0.1, 3600.0) == 3600.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -5.0, 1e308])
def test_float_options_refuse_nan_inf_and_out_of_range(value):
    with pytest.raises(BadInput, match=r"^--timeout .*fix: give --timeout from 0.1 to 600"):
        bounds.number("--timeout", 0.1, 600.0)(value)


def test_int_options_refuse_64_bit_overflow():
    with pytest.raises(BadInput, match="--limit too large: out of range; fix: give --limit from 1 to 100000"):
        bounds.count("--limit", 1, 100_000)(9223372036854775808)
    assert bounds.count("--limit", 1, 100_000)(None) is None
    assert bounds.parse_count("42", "--count", 1, 100) == 42


# ---- helpers: the bad-input contract (exit 2, one "camdeck: error:" line with a fix, no traceback) ----

def assert_bad_input(res, *needles: str) -> str:
    """The one error line of an exit-2 result, checked; ``needles`` must be in it."""
    assert res.code == 2, (res.code, res.err)
    assert "Traceback" not in res.err + res.out
    lines = [line for line in res.err.splitlines() if line.startswith("camdeck: error:")]
    assert len(lines) == 1 and len(res.err.strip().splitlines()) == 1, res.err
    assert "fix:" in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_internal_error(res, type_name: str) -> str:
    assert res.code == 1, (res.code, res.err)
    assert "Traceback" not in res.err + res.out
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"camdeck: error: internal error ({type_name}"), res.err
    assert "--log-file" in lines[0] or "the trace is in " in lines[0]
    return lines[0]


# ---- issue 14, finding 3 and 5: the options of cameras, monitor, jobs, grid, sim, bench, calibrate capture ----

@pytest.mark.parametrize("value", ["nan", "inf", "-5", "1e400"])
def test_snap_timeout_outside_its_range_is_bad_input_naming_the_range(cli, tmp_path, value):
    res = cli("cameras", "snap", "asi-left", "--out", str(tmp_path / "f.png"), "--timeout", value)
    assert_bad_input(res, "--timeout", "from 0.1 to 3600")
    assert not (tmp_path / "f.png").exists()


def test_history_limit_past_64_bits_is_bad_input_not_a_sqlite_overflow(cli, user_data_dir):
    from camdeck.monitoring.history import HistoryStore, MonitoringRecord

    HistoryStore(user_data_dir / "history.sqlite").add(MonitoringRecord(
        deployment="sim-site", device_id="ptz-1", timestamp="2026-11-21T10:00:00Z", mode="passive",
        success=True, pitch_offset_deg=0.1, yaw_offset_deg=0.2, roll_offset_deg=0.0))
    assert cli("monitor", "history", "--json").json()["count"] == 1      # the database is there and read
    assert_bad_input(cli("monitor", "history", "--limit", "9223372036854775808"), "--limit", "from 1 to 100000")
    assert_bad_input(cli("monitor", "history", "--limit", "0"), "--limit")


@pytest.mark.parametrize("argv, needle", [
    (["jobs", "--limit", "-1"], "--limit"),
    (["jobs", "stop", "abc", "--timeout", "inf"], "--timeout"),
    (["grid", "show", "g.npy", "--width", "0"], "--width"),
    (["grid", "show", "g.npy", "--slice", "-1"], "--slice"),
    (["sim", "serve", "--clock-skew", "nan"], "--clock-skew"),
    (["sim", "serve", "--mqtt", "127.0.0.1:\u00b2"], "--mqtt"),          # "²".isdigit() is True, int("²") fails
    (["sim", "bump", "ptz-1", "--pitch", "nan"], "--pitch"),
    (["sim", "bump", "ptz-1", "--roll", "-inf"], "--roll"),
    (["sim", "light", "ptz-1", "--gain", "inf"], "--gain"),
    (["sim", "light", "ptz-1", "--gamma", "0"], "--gamma"),
    (["bench", "--budget", "nan"], "--budget"),
    (["bench", "--sizes", "9" * 5000], "--sizes"),                       # past int()'s digit limit
    (["monitor", "collect-references", "--horizontal-stops", "9223372036854775808"], "--horizontal-stops"),
    (["monitor", "run", "--timeout", "9" * 400], "--timeout"),
    (["monitor", "run", "--device", ""], "--device is empty"),           # was: every device, a whole fleet run
    (["monitor", "collect-references", "--device", " "], "--device is empty"),   # found by the fuzz: a long scan
    (["monitor", "history", "--device", ""], "--device is empty"),
    (["calibrate", "capture", "--rig", "stereo-lab", "--out", "o", "--views", "2"], "--views"),
    (["calibrate", "capture", "--rig", "stereo-lab", "--out", "o", "--square-mm", "inf"], "--square-mm"),
    (["calibrate", "capture", "--rig", "stereo-lab", "--out", "o", "--timeout", "nan"], "--timeout"),
])
def test_numbers_out_of_range_are_bad_input_naming_the_option(cli, workdir, argv, needle):
    assert_bad_input(cli(*argv), needle)
    assert not (workdir / "o").exists()       # refused before any folder was made


def test_bench_torch_cuda_without_cuda_is_one_line(cli):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: torch-cuda is a valid backend here")
    assert_bad_input(cli("bench", "--backends", "torch-cuda", "--sizes", "8"), "torch-cuda", "CUDA")


def test_an_unknown_command_under_json_is_named_not_called_missing(cli):
    res = cli("--json", "frobnicate")
    line = assert_bad_input(res, "No such command 'frobnicate'", "camdeck --help")
    assert res.json() == {"error": line.removeprefix("camdeck: error: "), "exit_code": 2}
    assert_bad_input(cli("--json", "cameras", "frobnicate"), "No such command 'frobnicate'", "camdeck cameras --help")
    assert "no command given" in cli("--json", "cameras").json()["error"]


# ---- item 3: nothing escapes the boundary ----

def test_a_callback_that_fails_while_typer_parses_is_an_internal_error_line(cli, monkeypatch, tmp_path):
    from camdeck.console.cli import bounds as cli_bounds

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in a range check")

    monkeypatch.setattr(cli_bounds, "check_number", broken)
    assert_internal_error(cli("cameras", "snap", "asi-left", "--out", str(tmp_path / "f.png"), "--timeout", "5"),
                          "ZeroDivisionError")


class _Cancelled(BaseException):
    """Like asyncio.CancelledError or GeneratorExit: a BaseException that is neither an exit nor an interrupt."""


@pytest.mark.parametrize("error", [_Cancelled("cancelled"), GeneratorExit(), MemoryError(), SystemExit("a library quit")])
def test_base_exceptions_memory_errors_and_a_library_exit_are_one_line(cli, monkeypatch, error):
    from camdeck.console.cli import common

    def broken():
        raise error

    monkeypatch.setattr(common, "settings", broken)
    assert_internal_error(cli("cameras", "list"), type(error).__name__)


def test_a_recursion_error_is_one_line_and_its_trace_goes_to_the_log_file(cli, monkeypatch, tmp_path):
    from camdeck.console.cli import common

    def deep(n=0):
        return deep(n + 1)

    monkeypatch.setattr(common, "settings", deep)
    log = tmp_path / "trace.log"
    line = assert_internal_error(cli("--log-file", str(log), "cameras", "list"), "RecursionError")
    assert f"the trace is in {log}" in line and "in deep" in log.read_text()


def test_keyboard_interrupt_is_exit_130_without_a_trace(cli, monkeypatch):
    from camdeck.console.cli import common

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(common, "settings", interrupted)
    res = cli("cameras", "list")
    assert res.code == 130 and "Traceback" not in res.err and len(res.err.strip().splitlines()) <= 1


def test_json_that_cannot_be_encoded_leaves_one_object_on_stdout(cli, monkeypatch):
    from camdeck.console.cli import cameras

    loop: list = []
    loop.append(loop)
    monkeypatch.setattr(cameras, "camera_rows", lambda settings, probe=False: loop)
    res = cli("--json", "cameras", "list")
    assert_internal_error(res, "ValueError")
    assert res.json()["exit_code"] == 1 and "Circular reference" in res.json()["error"]


def test_json_never_carries_nan_or_infinity(cli, monkeypatch):
    import json
    import math

    from camdeck.console.cli import cameras

    monkeypatch.setattr(cameras, "camera_rows",
                        lambda settings, probe=False: [{"name": "x", "pitch_deg": math.nan, "far": [math.inf, 1.5]}])
    res = cli("--json", "cameras", "list")
    assert res.code == 0 and "NaN" not in res.out and "Infinity" not in res.out
    assert json.loads(res.out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))["cameras"] == [
        {"name": "x", "pitch_deg": None, "far": [None, 1.5]}]


def test_a_broken_pipe_that_is_not_stdout_is_a_failure_with_its_line(cli, monkeypatch):
    from camdeck.console.cli import common

    def encoder_died():
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(common, "settings", encoder_died)
    res = cli("cameras", "list")
    assert res.code == 1 and res.err.strip() == "camdeck: error: [Errno 32] Broken pipe"


@pytest.mark.parametrize("argv", [["cameras", "list"], ["--json", "cameras", "list"], ["--version"], ["--help"]])
def test_a_reader_that_leaves_ends_the_command_quietly(workdir, argv):
    """`camdeck cameras list | head -0`, with a real pipe whose read end is closed before camdeck writes:
    no traceback, and not Python's "Exception ignored ... BrokenPipeError" at shutdown either."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # buffered, as for a user
    try:
        proc = subprocess.run([sys.executable, "-c", "from camdeck.console.cli.app import main; main()", *argv],
                              stdout=write_end, stderr=subprocess.PIPE, cwd=workdir, env=env, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and proc.stderr.decode() == ""


# ---- the TUI: a crash inside the app restores the terminal and prints one line ----

def test_a_crash_inside_the_tui_restores_the_terminal_and_leaves_one_line(workdir, monkeypatch):
    """A bug inside the app (here injected from outside camdeck: a sitecustomize on the child's
    PYTHONPATH makes the Monitoring tab's history handler raise when it draws the fleet table at
    start-up). Textual's own answer was its traceback with locals over the screen, and exit 0.
    (The bug this test first used, a history row whose offset is text, is fixed: such a row now
    reads as a failed run, tests/monitoring/test_history.py.)"""
    import os
    from pathlib import Path

    from camdeck.monitoring.history import HistoryStore, MonitoringRecord
    from tests.console.jobs_helpers import PtyProcess

    data = workdir / "data"
    HistoryStore(data / "history.sqlite").add(MonitoringRecord(
        deployment="sim-site", device_id="ptz-1", timestamp="2026-11-21T10:00:00Z", mode="passive",
        success=True, pitch_offset_deg=0.1, yaw_offset_deg=0.2, roll_offset_deg=0.0))
    inject = workdir / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "from camdeck.console.tui.tabs import monitoring\n"
        "def broken(self, message):\n"
        "    raise ValueError('injected fault in the history handler')\n"
        "monitoring.MonitoringTab.on_history_loaded = broken\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(inject), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("TERM", "xterm-256color")       # what the pty child gets
    proc = PtyProcess(["tui", "--data-dir", str(data)], workdir)
    try:
        code = proc.wait(90)
    finally:
        proc.kill()
    screen = bytes(proc.output).decode(errors="replace")
    log = Path(os.environ["XDG_STATE_HOME"]) / "camdeck" / "log" / "tui.log"
    assert code == 1 and "Traceback" not in screen and "injected fault" in screen, screen[-3000:]
    restored = screen.rindex("\x1b[?1049l")              # the app left the alternate screen ...
    after = [line for line in screen[restored:].splitlines() if "camdeck: error:" in line]
    assert len(after) == 1 and screen.count("camdeck: error:") == 1, screen[restored:]   # ... then one line
    assert after[0].endswith(f"internal error (ValueError: injected fault in the history handler); "
                             f"the trace is in {log}")
    trace = log.read_text()
    assert "Traceback" in trace and "in broken" in trace


def test_a_log_file_that_is_a_fifo_is_refused_not_waited_on(cli, tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo")
    assert_bad_input(cli("--log-file", str(tmp_path / "fifo"), "config", "path"), "--log-file", "not a regular file")
    assert cli("--log-file", os.devnull, "config", "path").code == 0         # a character device is fine
    # stat() itself fails: the fuzz found this one escaping the boundary as a traceback
    assert_bad_input(cli("--log-file", str(tmp_path / ("n" * 300)), "config", "path"), "--log-file",
                     "File name too long")


def test_jobs_does_not_block_on_a_config_that_is_a_fifo(cli, tmp_path, monkeypatch):
    """`camdeck jobs` reads the config's data_dir itself (it must work when the rest of the config is
    broken): that read is bounded, so a FIFO is handed to the full load, which names it, instead of
    blocking forever. The full load's own refusal is the config loader's; here it is stood in for."""
    import os

    from camdeck.console.cli import common
    from tests.fuzz.outcome import time_limit

    os.mkfifo(tmp_path / "fifo")

    def full_load():
        raise common.BadInput(f"--config {tmp_path / 'fifo'}: a FIFO, not a file; fix: give a config file")

    monkeypatch.setattr(common, "settings", full_load)
    with time_limit(30):
        assert_bad_input(cli("--config", str(tmp_path / "fifo"), "jobs"), "FIFO")
