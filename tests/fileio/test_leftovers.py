"""fileio.leftovers: a dead writer's temporary goes, a live one's stays; a failed block's new folders go."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from camdeck.fileio.atomic import replace_atomically
from camdeck.fileio.leftovers import TEMPORARY, remove_stale_temporaries, removed_if_failed


def dead_pid() -> int:
    """The PID of a real process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def test_atomic_writes_name_their_temporary_with_the_writer_pid(tmp_path):
    seen = []

    def writer(fh):
        seen.extend(p.name for p in tmp_path.iterdir())
        fh.write(b"data")

    replace_atomically(tmp_path / "grid_000001.bin", writer)
    match = TEMPORARY.match(seen[0])
    assert match and match["name"] == "grid_000001.bin" and int(match["pid"]) == os.getpid()
    assert [p.name for p in tmp_path.iterdir()] == ["grid_000001.bin"]


def test_only_the_temporaries_of_gone_writers_are_removed(tmp_path):
    gone = tmp_path / f".grid_000007.bin.tmp-{dead_pid()}-abc123.part"
    mine = tmp_path / f".grid_000008.bin.tmp-{os.getpid()}-abc123.part"
    reused = tmp_path / ".grid_000009.bin.tmp-1-abc123.part"       # PID 1 lives, but started after this was written
    other_command = tmp_path / f".stereo.npz.tmp-{dead_pid()}-abc123.part"
    not_ours = tmp_path / "grid_000001.bin"
    for path in (gone, mine, reused, other_command, not_ours):
        path.write_bytes(b"x" * 100)
    os.utime(reused, (0, 0))
    removed = remove_stale_temporaries(tmp_path, "grid_*")
    assert sorted(removed) == sorted([gone, reused])
    assert not gone.exists() and not reused.exists()
    assert mine.exists() and other_command.exists() and not_ours.exists()
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_a_failed_block_removes_the_empty_folders_it_created_and_nothing_else(tmp_path):
    with pytest.raises(RuntimeError):
        with removed_if_failed(tmp_path / "a" / "b" / "c") as folder:
            folder.mkdir(parents=True)
            raise RuntimeError("the command failed")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with removed_if_failed(tmp_path / "kept" / "out") as folder:
            folder.mkdir()
            (folder / "grid_000001.bin").write_bytes(b"saved before the failure")
            raise KeyboardInterrupt
    assert (tmp_path / "kept" / "out" / "grid_000001.bin").exists()
    with removed_if_failed(tmp_path / "fine") as folder:
        folder.mkdir()
    assert folder.is_dir()
