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
