"""Grid files: .npy and the stereo rig's raw .bin round-trip; damaged or foreign files are refused."""
from __future__ import annotations

import errno
import os
import signal
import struct
import sys

import numpy as np
import pytest

from camdeck.fastcore import GridFileError, load_grid, save_grid
from camdeck.fastcore.errors import FastcoreError
from camdeck.fastcore.grid_io import HEADER_SIZE, MAGIC


@pytest.mark.parametrize("suffix", [".npy", ".bin"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    grid = (np.random.default_rng(1).random((9, 9, 9)) * 200).astype(dtype)
    path = save_grid(tmp_path / f"g{suffix}", grid, voxel_size=0.02, grid_center=(0.0, 2.5, 1.0))
    loaded = load_grid(path)
    np.testing.assert_array_equal(loaded.data, grid)
    assert loaded.data.dtype == grid.dtype
    if suffix == ".bin":
        assert loaded.voxel_size == 0.02 and loaded.grid_center == (0.0, 2.5, 1.0)
    else:
        assert loaded.voxel_size is None


def test_bin_header_layout(tmp_path):
    grid = np.zeros((4, 4, 4), np.float32)
    path = save_grid(tmp_path / "g.bin", grid, voxel_size=0.5, grid_center=(1, 2, 3))
    raw = path.read_bytes()
    assert raw[:8] == MAGIC and len(raw) == HEADER_SIZE + 64 * 4
    n, header, voxel = struct.unpack_from("<IId", raw, 8)
    assert (n, header, voxel) == (4, HEADER_SIZE, 0.5)
    assert raw[48:51] == b"<f4"


def test_truncated_bin_is_refused(tmp_path):
    path = save_grid(tmp_path / "g.bin", np.ones((8, 8, 8), np.float32), voxel_size=0.1)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(GridFileError, match="truncated"):
        load_grid(path)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ValueError, match="truncated"):
        load_grid(path)


def test_foreign_files_are_refused(tmp_path):
    png = tmp_path / "image.bin"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(GridFileError, match="not a camdeck voxel grid"):
        load_grid(png)
    other = tmp_path / "notes.npy"
    other.write_text("hello")
    with pytest.raises(GridFileError, match="notes.npy"):
        load_grid(other)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((4, 5)))
    with pytest.raises(GridFileError, match="not an"):
        load_grid(flat)
    with pytest.raises(GridFileError, match="no such file"):
        load_grid(tmp_path / "missing.bin")
    with pytest.raises(GridFileError, match="suffix"):
        load_grid(png.rename(tmp_path / "image.png"))


def test_bad_header_dtype_is_refused(tmp_path):
    path = save_grid(tmp_path / "g.bin", np.ones((2, 2, 2), np.float32), voxel_size=0.1)
    raw = bytearray(path.read_bytes())
    raw[48:56] = b"<c16\0\0\0\0"
    path.write_bytes(bytes(raw))
    with pytest.raises(GridFileError, match="dtype"):
        load_grid(path)


def test_save_checks_its_input(tmp_path):
    with pytest.raises(GridFileError, match="voxel_size"):
        save_grid(tmp_path / "g.bin", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(GridFileError, match="shape"):
        save_grid(tmp_path / "g.npy", np.zeros((2, 3, 2), np.float32))
    with pytest.raises(GridFileError, match="suffix"):
        save_grid(tmp_path / "g.txt", np.zeros((2, 2, 2), np.float32))


OLD = np.arange(27, dtype=np.float32).reshape(3, 3, 3)


def _write_old(tmp_path, suffix):
    path = save_grid(tmp_path / f"g{suffix}", OLD, voxel_size=0.1)
    return path, path.read_bytes()


def _partial_then(exc):
    def fake_save(file, *args, **kwargs):
        file.write(b"\x93NUMPY partial")
        raise exc
    return fake_save


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_save_keeps_the_old_grid_and_leaves_no_temporary(tmp_path, monkeypatch, exc):
    path, before = _write_old(tmp_path, ".npy")
    monkeypatch.setattr(np, "save", _partial_then(exc))
    with pytest.raises((FastcoreError, KeyboardInterrupt)) as info:
        save_grid(path, np.zeros((4, 4, 4), np.float32))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.npy"], "a temporary file was left behind"
    if isinstance(exc, OSError):
        assert str(info.value) == (f"{path}: cannot be written (No space left on device); "
                                   f"fix: check free space and permissions in {tmp_path}")
        assert not getattr(info.value, "bad_input", False)       # a fault, not bad input: exit 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics checked on Linux")
@pytest.mark.parametrize("suffix", [".npy", ".bin"])
def test_running_out_of_room_mid_write_keeps_the_old_grid(tmp_path, suffix):
    import resource

    path, before = _write_old(tmp_path, suffix)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))     # writes past 1 KiB fail with EFBIG
    try:
        with pytest.raises(FastcoreError, match="cannot be written"):
            save_grid(path, np.ones((16, 16, 16), np.float32), voxel_size=0.1)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_save_fsyncs_the_data_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    save_grid(tmp_path / "g.bin", OLD, voxel_size=0.1)
    assert calls == ["fsync", "replace", "fsync"]     # the data, the rename, then the folder (the rename itself)


def test_a_fifo_or_a_huge_declared_npy_is_refused_without_reading(tmp_path):
    import os

    for name in ("grid.bin", "grid.npy"):
        os.mkfifo(tmp_path / name)
        with pytest.raises(GridFileError, match="FIFO"):
            load_grid(tmp_path / name)                      # refused before opening: no hang
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4096, 4096, 4096), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    (tmp_path / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                                        + header.encode("latin1") + bytes(64))
    with pytest.raises(GridFileError, match="huge.npy"):
        load_grid(tmp_path / "huge.npy")
