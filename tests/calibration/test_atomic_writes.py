"""Calibration outputs are written atomically: a failure mid-write (a full disk, a kill) leaves the old
file as it was, no temporary file behind, and one error line naming the file and the fix."""
from __future__ import annotations

import contextlib
import errno
import signal
import sys

import numpy as np
import pytest

from camdeck.calibration.align import load_r_align, save_r_align
from camdeck.calibration.outputs import write_atomic
from camdeck.calibration.errors import CalibrationError, CalibrationWriteError
from camdeck.calibration.intrinsics import IntrinsicsResult, ViewResult, load_calibration, save_calibration
from camdeck.calibration.ply import read_ply, write_ply
from camdeck.calibration.report import write_offsets_csv, write_offsets_xlsx
from camdeck.calibration.stereo import StereoCalibration, load_stereo, save_stereo
from tests.calibration.test_align import write_landmarks, write_manifest
from tests.calibration.test_report import SUMMARY

OLD = b"the good file that was here before" * 100


def _intrinsics() -> IntrinsicsResult:
    K = np.array([[800.0, 0, 640], [0, 800, 360], [0, 0, 1]])
    views = [ViewResult("a.png", np.zeros((4, 2), np.float32), error_px=0.1)]
    return IntrinsicsResult(K, np.zeros((1, 5)), (1280, 720), 0.1, views)


def _stereo() -> StereoCalibration:
    K = np.array([[800.0, 0, 640], [0, 800, 360], [0, 0, 1]])
    return StereoCalibration.from_extrinsics(K, None, K, None, np.eye(3), [-60.0, 0, 0], (1280, 720))


def _enospc_after_some_bytes():
    """A numpy writer that writes part of the file, then fails as a full disk does."""
    def fake(file, *args, **kwargs):
        if hasattr(file, "write"):
            file.write(b"PK\x03\x04 partial")
        else:                                        # called with a path (what np.save(path) does)
            with open(file, "wb") as fh:
                fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    return fake


def _assert_untouched(folder, path):
    assert path.read_bytes() == OLD, "the old file was damaged"
    assert sorted(p.name for p in folder.iterdir()) == [path.name], "a temporary file was left behind"


# ------------------------------------------------------------------ the calibration error on top of fileio
# (the write itself: tests/fileio/test_atomic.py)

def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(OLD)

    def writer(fh):
        fh.write(b"half of it")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CalibrationWriteError) as info:
        write_atomic(path, writer)
    assert str(path) in str(info.value) and "No space left on device" in str(info.value)
    assert "check free space and permissions" in str(info.value)
    assert "\n" not in str(info.value)
    _assert_untouched(tmp_path, path)


def test_a_missing_folder_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(CalibrationWriteError, match=r"nope/x\.npz: cannot be written .*folder .*nope exists"):
        write_atomic(tmp_path / "nope" / "x.npz", lambda fh: fh.write(b"x"))


# ------------------------------------------------------------------ every calibration output

@pytest.mark.parametrize("name, save, patch", [
    ("calibration.npz", lambda p: save_calibration(p, _intrinsics()), "savez"),
    ("stereo.npz", lambda p: save_stereo(p, _stereo()), "savez"),
    ("R_align.npy", lambda p: save_r_align(p, np.eye(3)), "save"),
])
def test_a_full_disk_mid_write_keeps_the_old_calibration(tmp_path, monkeypatch, name, save, patch):
    path = tmp_path / name
    path.write_bytes(OLD)
    monkeypatch.setattr(np, patch, _enospc_after_some_bytes())
    with pytest.raises(CalibrationError) as info:
        save(path)
    assert isinstance(info.value, CalibrationWriteError)
    assert f"{path}: cannot be written (No space left on device)" in str(info.value)
    assert "check free space and permissions" in str(info.value)
    _assert_untouched(tmp_path, path)


@contextlib.contextmanager
def _file_size_limit(n_bytes: int):
    """A real 'disk full' for this process: writes past n_bytes fail with EFBIG (RLIMIT_FSIZE)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics checked on Linux")
@pytest.mark.parametrize("name, save", [
    ("calibration.npz", lambda p: save_calibration(p, _intrinsics())),
    ("stereo.npz", lambda p: save_stereo(p, _stereo())),
    ("R_align.npy", lambda p: save_r_align(p, np.eye(3))),
    ("offsets.csv", lambda p: write_offsets_csv(SUMMARY, p)),
    ("offsets.xlsx", lambda p: write_offsets_xlsx(SUMMARY, p)),
    ("cloud.ply", lambda p: write_ply(p, np.zeros((500, 3), np.float32))),
])
def test_running_out_of_room_mid_write_keeps_every_old_output(tmp_path, name, save):
    path = tmp_path / name
    path.write_bytes(OLD)
    with pytest.raises(CalibrationWriteError) as info, _file_size_limit(64):
        save(path)
    assert str(path) in str(info.value) and "check free space and permissions" in str(info.value)
    _assert_untouched(tmp_path, path)


def test_the_outputs_still_round_trip(tmp_path):
    cal = load_calibration(save_calibration(tmp_path / "calibration.npz", _intrinsics()))
    assert cal.image_size == (1280, 720) and cal.K[0, 0] == 800.0
    assert load_stereo(save_stereo(tmp_path / "stereo.npz", _stereo())).baseline_mm == pytest.approx(60.0)
    np.testing.assert_array_equal(load_r_align(save_r_align(tmp_path / "R_align.npy", np.eye(3))), np.eye(3))
    pts, _ = read_ply(write_ply(tmp_path / "c.ply", np.ones((3, 3), np.float32)))
    assert pts.shape == (3, 3)
    assert write_offsets_csv(SUMMARY, tmp_path / "o.csv").read_text(encoding="utf-8").startswith("row,")
    from openpyxl import load_workbook
    assert "Frames" in load_workbook(write_offsets_xlsx(SUMMARY, tmp_path / "o.xlsx")).sheetnames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R_align.npy", "c.ply", "calibration.npz", "o.csv",
                                                           "o.xlsx", "stereo.npz"]


# ------------------------------------------------------------------ the CLI

def test_align_refuses_an_out_without_npy_and_writes_nothing(cli, tmp_path):
    scan = write_manifest(tmp_path / "ref")
    write_landmarks(tmp_path / "lm.csv", scan)
    res = cli("calibrate", "align", "--scan", scan, "--landmarks", tmp_path / "lm.csv", "--out", tmp_path / "R_align")
    assert res.code == 2, res.err
    assert "--out" in res.err and ".npy" in res.err and str(tmp_path / "R_align") in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "R_align").exists() and not (tmp_path / "R_align.npy").exists()


def test_align_reports_the_path_it_wrote(cli, tmp_path):
    scan = write_manifest(tmp_path / "ref")
    write_landmarks(tmp_path / "lm.csv", scan)
    res = cli("calibrate", "align", "--scan", scan, "--landmarks", tmp_path / "lm.csv", "--out",
              tmp_path / "mount.npy", "--json")
    assert res.code == 0, res.err
    assert res.json()["out"] == str(tmp_path / "mount.npy") and (tmp_path / "mount.npy").is_file()


def test_a_write_failure_is_one_line_exit_1(cli, tmp_path, monkeypatch):
    scan = write_manifest(tmp_path / "ref")
    write_landmarks(tmp_path / "lm.csv", scan)
    (tmp_path / "R_align.npy").write_bytes(OLD)
    monkeypatch.setattr(np, "save", _enospc_after_some_bytes())
    res = cli("calibrate", "align", "--scan", scan, "--landmarks", tmp_path / "lm.csv", "--out",
              tmp_path / "R_align.npy")
    assert res.code == 1
    assert res.err.strip().splitlines() == [
        f"camdeck: error: {tmp_path / 'R_align.npy'}: cannot be written (No space left on device); "
        f"fix: check free space and permissions in {tmp_path}"]
    assert (tmp_path / "R_align.npy").read_bytes() == OLD


def test_calibrate_registers_and_lists_align_once(cli):
    from camdeck.console.cli.calibrate import app

    assert [c.name for c in app.registered_commands].count("align") == 1
    res = cli("calibrate", "--help")
    assert res.code == 0
    listed = [line.split()[1] for line in res.out.splitlines() if line.strip().startswith("│ align ")]
    assert listed == ["align"], res.out
