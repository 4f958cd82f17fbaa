"""Fuzz `camdeck record --format/--segment/--pretrigger`: any text is exit 2 with one line and a fix.

The session name is unsafe on purpose, so a case whose take options are valid still stops at
the pre-flight check (exit 2) before any camera opens: the cases cost no recording.
"""
from __future__ import annotations

from hypothesis import given, strategies as st

from tests.fuzz.outcome import check_clean, run_cli

DURATIONS = st.one_of(st.text(max_size=12), st.sampled_from(["0s", "0.4s", "0.5s", "60s", "61s", "1m", "nan", "inf",
                                                             "-1s", "5m", "24h", "25h", "1e9", "9" * 40]))


@given(fmt=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["h264", "mp4", "MP4", ""])),
       segment=st.one_of(st.none(), DURATIONS), pretrigger=st.one_of(st.none(), DURATIONS))
def test_take_options_never_crash(fmt, segment, pretrigger):
    argv = ["record", "--cameras", "lightroom,darkroom", "--session", "../escape", "--out", "/nonexistent/rec",
            "--duration", "1s"]
    for option, value in (("--format", fmt), ("--segment", segment), ("--pretrigger", pretrigger)):
        if value is not None:
            argv += [f"{option}={value}"]
    result = run_cli(argv, timeout_s=20.0)
    check_clean(result, allowed=(2,), what=" ".join(argv))
    error = next(line for line in result.err.splitlines() if line.startswith("camdeck: error:"))
    assert any(word in error for word in ("--format", "--segment", "--pretrigger", "session name", "--help")), error
