"""Damaged inputs to calibrate, pointcloud and offsets exit 2 with one line naming the file (and
the key) and the fix: never a traceback, never a hang (issue 14, findings 3 to 6)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.calibration.sample_files import landmarks_text, write_scan, write_stereo
from tests.fuzz.outcome import run_cli


def assert_bad_input(res, *needles: str) -> str:
    """Exit 2, exactly one `camdeck: error:` line with a fix, no traceback; returns the line."""
    errors = [line for line in res.err.splitlines() if line.startswith("camdeck: error:")]
    assert res.code == 2, res.err
    assert len(errors) == 1 and "fix:" in errors[0], res.err
    assert "Traceback" not in res.err + res.out
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("key, value", [
    ("K1", np.zeros(5)),                               # wrong shape
    ("K1", np.full((3, 3), np.nan)),                   # not finite
    ("K2", np.array([[0.0, 0, 1], [0, 0, 1], [0, 0, 1]])),   # zero focal length
    ("dist1", np.array(["a", "b", "c", "d"])),         # text
    ("dist2", np.zeros(3)),                            # no OpenCV model has 3 coefficients
    ("image_size", np.array([1.5])),                   # a float, one value
    ("image_size", np.array([[1, 2], [3, 4]])),        # four values
    ("image_size", np.array([1920, 0])),               # zero height
    ("R", np.eye(3) * 2),                              # not a rotation
    ("T", np.array([np.inf, 0, 0])),
])
def test_pointcloud_with_a_malformed_stereo_npz_exits_2_naming_the_file_and_key(cli, workdir, key, value):
    good = dict(np.load(write_stereo(workdir / "good.npz")))
    good[key] = value
    np.savez(workdir / "bad.npz", **good)
    res = cli("pointcloud", "--rig", "asi-stereo", "--stereo", "bad.npz", "--frames", "1", "--every-n", "1",
              "--out", "clouds")
    assert_bad_input(res, "bad.npz", key)
    assert not (workdir / "clouds").exists()          # the failed run left no folder behind


def test_a_stereo_npz_with_a_pickled_array_is_refused_without_unpickling(cli, workdir):
    good = dict(np.load(write_stereo(workdir / "good.npz")))
    good["K1"] = np.array([{"x": 1}], dtype=object)
    np.savez(workdir / "bad.npz", **good)
    assert_bad_input(cli("pointcloud", "--rig", "asi-stereo", "--stereo", "bad.npz"), "bad.npz", "K1", "objects")


@pytest.mark.parametrize("argv, needle", [
    (["--timeout", "-1"], "--timeout"),
    (["--timeout", "nan"], "--timeout"),
    (["--every-n", "0"], "--every-n"),
    (["--max-depth", "inf"], "--max-depth"),
    (["--frames", "9223372036854775808"], "--frames"),
])
def test_pointcloud_numbers_out_of_range_exit_2(cli, argv, needle):
    assert_bad_input(cli("pointcloud", "--rig", "asi-stereo", *argv), needle, "from")


@pytest.fixture
def scan(workdir):
    folder = write_scan(workdir / "scan")
    (workdir / "landmarks.csv").write_text(landmarks_text(folder))
    return folder


def test_align_solves_the_sample_scan(cli, scan):
    res = cli("calibrate", "align", "--scan", "scan", "--landmarks", "landmarks.csv", "--out", "R_align.npy", "--json")
    assert res.code == 0, res.err
    assert res.json()["inliers"] == 10


def test_align_with_a_100000_deep_manifest_exits_2(cli, scan):
    (scan / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_bad_input(cli("calibrate", "align", "--scan", "scan", "--landmarks", "landmarks.csv"),
                     "manifest.json", "deep")


@pytest.mark.parametrize("text, needle", [('NaN', "JSON"), ('1e999', "pan_deg"), ('400', "pan_deg"),
                                          ('"north"', "pan_deg"), ('true', "pan_deg")])
def test_align_with_a_bad_pan_deg_exits_2(cli, scan, text, needle):
    manifest = json.loads((scan / "manifest.json").read_text())
    manifest["frames"][1]["pan_deg"] = "PAN"
    (scan / "manifest.json").write_text(json.dumps(manifest).replace('"PAN"', text))
    assert_bad_input(cli("calibrate", "align", "--scan", "scan", "--landmarks", "landmarks.csv"),
                     "manifest.json", needle)


def test_a_manifest_path_leaving_the_scan_folder_exits_2(cli, scan):
    manifest = json.loads((scan / "manifest.json").read_text())
    manifest["frames"][0]["features"] = "../../../etc/passwd"
    (scan / "manifest.json").write_text(json.dumps(manifest))
    assert_bad_input(cli("offsets", "--reference", "scan", "--query", "scan"), "manifest.json", "outside")


def test_align_with_landmarks_from_a_fifo_exits_2_without_waiting(workdir, scan):
    os.mkfifo(workdir / "landmarks.fifo")
    res = run_cli(["calibrate", "align", "--scan", str(scan), "--landmarks", str(workdir / "landmarks.fifo")],
                  timeout_s=60)                        # a hang raises CaseTimeout and fails the test
    assert_bad_input(res, "--landmarks", "FIFO")


def test_align_with_a_fifo_manifest_exits_2_without_waiting(workdir, scan):
    (scan / "manifest.json").unlink()
    os.mkfifo(scan / "manifest.json")
    res = run_cli(["calibrate", "align", "--scan", str(scan), "--landmarks", str(workdir / "landmarks.csv")],
                  timeout_s=60)
    assert_bad_input(res, "manifest.json", "FIFO")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "nan", "shape"])
def test_offsets_with_a_damaged_features_npz_exits_2_naming_the_file(cli, scan, damage):
    path = scan / "features" / "002.npz"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(3000))
    else:
        arrays = dict(np.load(path))
        if damage == "nan":
            arrays["keypoints"][3] = np.nan
        else:
            arrays["keypoints"] = arrays["keypoints"][:, :1].copy()
        np.savez(path, **arrays)
    assert_bad_input(cli("offsets", "--reference", "scan", "--query", "scan"), "features/002.npz")


@pytest.mark.parametrize("command", [
    ["calibrate", "intrinsics", "--images", "shots/*.png"],
    ["calibrate", "stereo", "--left", "shots/l*.png", "--right", "shots/r*.png"],
])
@pytest.mark.parametrize("out", ["new/calibration.npz", "new/deeper/"])
def test_a_failed_calibration_leaves_no_new_folder(cli, workdir, command, out):
    (workdir / "shots").mkdir()
    (workdir / "shots" / "l0.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (workdir / "shots" / "r0.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    before = sorted(p.name for p in workdir.iterdir())
    res = cli(*command, "--out", out)
    assert_bad_input(res)
    assert sorted(p.name for p in workdir.iterdir()) == before


def test_pointcloud_with_a_fifo_stereo_file_exits_2_without_waiting(workdir):
    os.mkfifo(workdir / "stereo.npz")
    res = run_cli(["pointcloud", "--rig", "asi-stereo", "--stereo", str(workdir / "stereo.npz")], timeout_s=60)
    assert_bad_input(res, "stereo.npz", "FIFO")
