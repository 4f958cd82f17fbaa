"""The console over a thin link, end to end: the real ``camdeck tui`` on a pseudo-terminal
whose output is read at a fixed byte rate (benchmarks/tui_thin_link.py plays the terminal).

No timing assertions: the tests wait (with generous deadlines) for what a user would see.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HALF_BLOCK = "\u2580"


@pytest.fixture(scope="module")
def thin():
    """The benchmark's pty harness, loaded from benchmarks/ (not a package)."""
    spec = importlib.util.spec_from_file_location("tui_thin_link", REPO / "benchmarks" / "tui_thin_link.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def wait_screen(link, predicate, what: str, timeout: float = 120.0) -> list[str]:
    if link.wait_for(predicate, timeout) is None:
        pytest.fail(f"{what} never showed; screen:\n" + "\n".join(link.text()))
    return link.text()


def test_a_slow_link_lowers_the_preview_and_skips_frames_instead_of_queueing(thin, tmp_path):
    log = tmp_path / "tui.log"
    link = thin.ThinLink(80, 24, 8000, thin.isolated_env(tmp_path), ["-v", "--log-file", str(log)])
    try:
        wait_screen(link, thin.streaming, "the streaming camera")
        # The link meter at the bottom of the preview shows a lower mode than the top one.
        rows = wait_screen(link, lambda rows: thin.meter(rows) not in ("", "15fps tc"), "a lowered preview mode")
        assert any(re.search(r"\d(\.\d)?[KM]?B/s \d+(\.\d+)?fps ", row) for row in rows), "\n".join(rows)
        # Keys still reach the screen: the frames did not pile up in front of them.
        assert link.press("p", thin.paused, timeout=60) is not None, "\n".join(link.text())
        assert link.press("p", lambda r: not thin.paused(r), timeout=60) is not None
        wait_screen(link, thin.streaming, "streaming again")
        link.press("q", lambda rows: False, timeout=10)     # quit: the app logs its frame counts
    finally:
        link.close()
    text = log.read_text()
    assert "the terminal answers cursor-position queries" in text
    changes = re.findall(r"preview (\S+fps \S+ x\S+) -> (.+?): link (\S+), a frame", text)
    assert changes and changes[0][0] == "15fps truecolor x1", text[-3000:]
    shown, skipped = map(int, re.search(r"preview: (\d+) frames shown, (\d+) skipped behind the link", text).groups())
    assert shown > 0 and skipped > 0      # frames were dropped while the link drained, not queued


def test_a_16_colour_terminal_gets_an_ascii_preview(thin, tmp_path):
    link = thin.ThinLink(80, 24, 0, thin.isolated_env(tmp_path, term="xterm", colorterm=None))
    try:
        wait_screen(link, thin.streaming, "the streaming camera")
        rows = wait_screen(link, lambda rows: thin.meter(rows).endswith("ascii"), "the ASCII mode in the meter")
        rows = wait_screen(link, lambda rows: any(c in "".join(rows) for c in "#%@*+="), "ASCII picture")
        assert not any(HALF_BLOCK in row for row in rows)
    finally:
        link.close()


def test_a_truecolor_terminal_gets_half_blocks(thin, tmp_path):
    link = thin.ThinLink(80, 24, 0, thin.isolated_env(tmp_path))
    try:
        wait_screen(link, thin.streaming, "the streaming camera")
        os.write(link.master, b"m")          # truecolor pinned: this test is about the terminal, not the link
        wait_screen(link, lambda rows: any(HALF_BLOCK * 10 in row for row in rows), "a half-block picture")
    finally:
        link.close()


@pytest.mark.parametrize("term", ["dumb", "unknown", ""])
def test_a_terminal_without_cursor_addressing_is_refused_with_the_fix(cli, monkeypatch, term):
    monkeypatch.setenv("TERM", term)
    result = cli("tui")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "TERM" in lines[0] and "fix:" in lines[0]
    assert "Traceback" not in result.err


def test_an_idle_tab_stays_quiet_on_the_link(thin, tmp_path):
    """On a tab with nothing moving, the link meter no longer redraws itself to show the bytes of
    its own last redraw: each redraw changed the rate it showed, so every idle tab wrote about
    500 B/s. Its text now holds still. (What else the header shows, such as free disk, may
    still change on a busy machine; that is not the meter's loop, so only the meter is checked.
    Its mode may change: a ladder pushed down by a loaded CPU while streaming climbs back while
    idle, as the link pings prove the link, so only the rate it shows is held to.)"""
    import time

    link = thin.ThinLink(80, 24, 0, thin.isolated_env(tmp_path))
    shown: list[str] = []
    try:
        wait_screen(link, thin.streaming, "the streaming camera")
        link.press("2", lambda rows: any("Recording" in row for row in rows), timeout=60)
        time.sleep(4.0)                          # the meter's rate window (2 s) forgets the preview
        b0, t0 = link.bytes_read, time.monotonic()
        for _ in range(16):
            time.sleep(0.5)
            match = next((m for m in map(METER_RE.search, link.text()) if m), None)
            shown.append(match.group(0) if match else "")
        bytes_per_s = (link.bytes_read - b0) / (time.monotonic() - t0)
    finally:
        link.close()
    rates = {text.split()[0] if text else "" for text in shown}
    assert rates == {"<1KB/s"}, (shown, f"{bytes_per_s:.0f} B/s")


METER_RE = re.compile(r"\S+B/s \d+(?:\.\d+)?fps \S+")
