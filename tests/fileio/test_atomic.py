"""fileio.atomic: a write replaces the file in one step, or leaves the old one and no temporary.

The packages' own errors on top of it are tested where they live (tests/calibration/
test_atomic_writes.py, tests/fastcore/test_grid_io.py)."""
from __future__ import annotations

import errno
import os

import pytest

from camdeck.fileio.atomic import replace_atomically, write_bytes_atomic, write_fix, write_text_atomic

OLD = b"the good file that was here before" * 100


def _assert_untouched(folder, path):
    assert path.read_bytes() == OLD, "the old file was damaged"
    assert sorted(p.name for p in folder.iterdir()) == [path.name], "a temporary file was left behind"


def test_a_write_replaces_the_file_in_one_step_and_keeps_its_mode(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(OLD)
    os.chmod(path, 0o640)
    assert write_bytes_atomic(path, b"new") == path
    assert path.read_bytes() == b"new"
    assert path.stat().st_mode & 0o777 == 0o640             # the replaced file keeps its mode
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_text_is_written_as_utf8_with_its_newlines(tmp_path):
    path = write_text_atomic(tmp_path / "notes.txt", "Grüße\r\nzwei\n")
    assert path.read_bytes() == "Grüße\r\nzwei\n".encode("utf-8")


def test_a_new_file_gets_the_usual_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "new.bin", b"x")
    finally:
        os.umask(mask)
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o644


def test_the_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    replace_atomically(tmp_path / "f.bin", lambda fh: fh.write(b"x"))
    assert calls == ["fsync", "replace", "fsync"]


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt(),
                                 ValueError("the writer's own error")])
def test_a_failing_writer_leaves_the_old_file_and_its_error_passes_through(tmp_path, exc):
    path = tmp_path / "out.bin"
    path.write_bytes(OLD)

    def writer(fh):
        fh.write(b"half of it")
        raise exc

    with pytest.raises(type(exc)) as info:
        replace_atomically(path, writer)
    assert info.value is exc
    _assert_untouched(tmp_path, path)


def test_a_missing_folder_is_the_systems_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_bytes_atomic(tmp_path / "nope" / "x.bin", b"x")


def test_the_fix_names_the_folder_for_each_kind_of_failure(tmp_path):
    assert write_fix(OSError(errno.ENOENT, "gone"), tmp_path) == f"check that the folder {tmp_path} exists"
    assert write_fix(OSError(errno.EISDIR, "dir"), tmp_path) == "give a file name, not a folder"
    assert write_fix(OSError(errno.ENOSPC, "full"), tmp_path) == f"check free space and permissions in {tmp_path}"
