"""fileio.bounded: only regular files under a size cap are read; FIFOs and devices never block."""
from __future__ import annotations

import json
import os

import pytest

from camdeck.fileio import bounded


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(bounded.UnreadableFile, match="FIFO.*fix:"):
        bounded.read_regular(fifo, what="--landmarks")


def test_devices_and_folders_are_refused(tmp_path):
    with pytest.raises(bounded.UnreadableFile, match="/dev/zero: is a device"):
        bounded.read_regular("/dev/zero", what="--config")
    with pytest.raises(bounded.UnreadableFile, match="is a folder"):
        bounded.read_regular(tmp_path)
    with pytest.raises(bounded.UnreadableFile, match="does not exist"):
        bounded.read_regular(tmp_path / "nope")


def test_a_file_over_its_cap_is_refused(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(bounded.UnreadableFile, match="MiB allowed"):
        bounded.read_regular(big, cap=1024)
    assert bounded.read_regular(big, cap=4096) == b" " * 2048


def test_json_nesting_nan_and_garbage_are_refused(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(bounded.UnreadableFile, match="nests more than"):
        bounded.load_json(deep)
    nan = tmp_path / "nan.json"
    nan.write_text('{"pan_deg": NaN}')
    with pytest.raises(bounded.UnreadableFile, match="not valid JSON"):
        bounded.load_json(nan)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(bounded.UnreadableFile, match="not UTF-8"):
        bounded.load_json(bad)
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"a": [1, {"b": "[{"}]}))
    assert bounded.load_json(ok) == {"a": [1, {"b": "[{"}]}


def test_depth_counts_without_recursion():
    value: list = []
    for _ in range(10_000):
        value = [value]
    assert bounded.depth(value, limit=64) == 65
    assert bounded.depth({"a": [1, 2]}) == 2
