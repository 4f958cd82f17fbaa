"""Fuzz the file readers (issue 14, deliver 6): damaged manifest.json, landmarks CSVs and .npz files.

Each case damages a valid file (camdeck's own, tests/calibration/sample_files.py): truncations,
garbage bytes, flipped bytes, keys of the wrong shape or dtype, NaN/inf, pickled objects, a header
declaring a huge array, deep nesting, oversized files. Every case goes through the real reader
(calibration.stereo/intrinsics/features, calibration.align), which must return or raise a bad-input
error naming the file with a fix, within a time limit; about one case in four also goes through the
real CLI (pointcloud, offsets, calibrate align), which must exit 0, 1 or 2 with at most one error
line and no traceback (outcome.check_clean). Outcome counts print at the end (pytest -s).
"""
from __future__ import annotations

import collections
import io
import json
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.calibration.sample_files import landmarks_text, write_calibration, write_scan, write_stereo
from tests.fuzz.outcome import check_clean, run_cli, time_limit

COUNTS: collections.Counter = collections.Counter()
CASE_S = 30.0           # per case: a hang fails the case


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Valid files, written once; each case writes its mutant beside them under a new name."""
    root = tmp_path_factory.mktemp("readers")
    files = {"stereo": write_stereo(root / "stereo.npz"), "calibration": write_calibration(root / "calibration.npz"),
             "scan": write_scan(root / "scan")}
    files["features"] = files["scan"] / "features" / "000.npz"      # the first query frame: read first
    (root / "landmarks.csv").write_text(landmarks_text(files["scan"]))
    # pointcloud reads --stereo before it opens the cameras: with the left camera on the real
    # (absent) ZWO SDK, an accepted mutant ends there (exit 1 or 2) instead of capturing.
    config = (Path(__file__).resolve().parents[2] / "config.toml").read_text()
    (root / "hw.toml").write_text(config.replace('[cameras.asi-left]\ndriver = "sim"',
                                                 '[cameras.asi-left]\ndriver = "zwoasi"', 1))
    yield root
    print("\nreaders fuzz outcomes:", dict(sorted(COUNTS.items())))


def read_directly(reader, path: Path, kind: str) -> None:
    """The reader returns, or raises bad input naming the file with a fix; anything else fails."""
    try:
        with time_limit(CASE_S):
            reader(path)
    except Exception as err:  # noqa: BLE001 - the point is to see what escapes
        assert getattr(err, "bad_input", False), f"{kind}: {type(err).__name__}: {err}"
        text = str(err)
        assert "fix:" in text and path.name in text, f"{kind}: {text}"
        COUNTS[f"{kind} reader: refused"] += 1
    else:
        COUNTS[f"{kind} reader: accepted"] += 1


def through_cli(argv: list[str], kind: str) -> None:
    result = run_cli(argv, timeout_s=CASE_S)
    what = f"{kind} {' '.join(map(str, argv))[:200]}"
    check_clean(result, allowed=(0, 1, 2), what=what)
    assert "internal error" not in result.err, f"{what}: {result.err}"     # a bug caught by the CLI boundary
    COUNTS[f"{kind} cli: exit {result.code}"] += 1


# ------------------------------------------------------------------ .npz files

NPZ_KEYS = {"stereo": ["K1", "dist1", "K2", "dist2", "R", "T", "image_size", "rms"],
            "calibration": ["K", "dist", "image_size", "rms"],
            "features": ["keypoints", "descriptors", "scores", "sizes", "angles_deg", "method", "image_size"]}
DTYPES = ["<f8", "<f4", "<i8", "|i1", "<u2", "|b1", "<c8", "<U3"]
SPECIALS = [np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0, -1.0]


@st.composite
def odd_arrays(draw):
    """An array of an odd shape, dtype or content (or an object array)."""
    if draw(st.integers(0, 9)) == 0:
        return np.array([{"pickled": 1}], dtype=object)
    shape = tuple(draw(st.lists(st.integers(0, 6), max_size=3)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    array = np.zeros(shape, dtype=dtype)
    if array.size and dtype.kind in "fc":
        with np.errstate(over="ignore"):         # 1e300 into float32 is inf: one more odd value
            array.flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from(SPECIALS))
    elif array.size and dtype.kind in "iu":
        array.flat[:] = draw(st.integers(-5, 70000)) % (np.iinfo(dtype).max + 1)
    return array


def huge_header_npy() -> bytes:
    """An .npy whose header declares 10^10 float64 values (80 GB) above a few bytes of data."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + bytes(64)


@st.composite
def npz_mutants(draw, valid: bytes, keys: list[str]) -> bytes:
    how = draw(st.sampled_from(["truncate", "garbage", "flip", "key", "key", "key", "drop", "huge"]))
    COUNTS[f"npz mutation: {how}"] += 1
    if how == "truncate":
        return valid[:draw(st.integers(0, len(valid) - 1))]
    if how == "garbage":
        return draw(st.binary(max_size=4096))
    if how == "flip":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data)
    arrays = dict(np.load(io.BytesIO(valid)))
    key = draw(st.sampled_from(keys))
    if how == "drop":
        arrays.pop(key, None)
    elif how == "key":
        arrays[key] = draw(odd_arrays())
    out = io.BytesIO()
    np.savez(out, **arrays)
    if how != "huge":
        return out.getvalue()
    with zipfile.ZipFile(out, "a") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a second member of that name on purpose: the last one wins
        archive.writestr(f"{key}.npy", huge_header_npy())
    return out.getvalue()


def _readers():
    from camdeck.calibration.features import load_features
    from camdeck.calibration.intrinsics import load_calibration
    from camdeck.calibration.stereo import load_stereo

    return {"stereo": load_stereo, "calibration": load_calibration, "features": load_features}


@given(data=st.data())
def test_damaged_npz_files_are_read_or_refused_cleanly(base, data, tmp_path_factory):
    kind = data.draw(st.sampled_from(["stereo", "calibration", "features"]), label="kind")
    valid = (base / "stereo.npz" if kind == "stereo" else base / "calibration.npz" if kind == "calibration"
             else base / "scan" / "features" / "000.npz").read_bytes()
    mutant = data.draw(npz_mutants(valid, NPZ_KEYS[kind]), label="mutant")
    if kind == "features":                      # inside a scan of its own, for offsets
        scan = tmp_path_factory.mktemp("scan")
        shutil.copytree(base / "scan", scan, dirs_exist_ok=True)
        path = scan / "features" / "000.npz"
    else:
        path = tmp_path_factory.mktemp(kind) / f"{kind}.npz"
    path.write_bytes(mutant)
    read_directly(_readers()[kind], path, kind)
    if data.draw(st.integers(0, 3), label="cli") == 0:
        if kind == "stereo":
            through_cli(["--config", base / "hw.toml", "pointcloud", "--rig", "asi-stereo", "--stereo", path], kind)
        elif kind == "features":
            through_cli(["offsets", "--reference", base / "scan", "--query", path.parent.parent], kind)


# ------------------------------------------------------------------ manifest.json

JSON_LEAVES = (st.none() | st.booleans() | st.integers(-10 ** 30, 10 ** 30)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
FRAME_KEYS = ["index", "image", "features", "pan_deg", "tilt_deg", "zoom", "K", "dist", "timestamp"]


@st.composite
def manifest_mutants(draw, manifest: dict) -> bytes:
    how = draw(st.sampled_from(["frame key", "frame key", "frame key", "top key", "drop", "deep", "truncate",
                                "bytes", "huge"]))
    COUNTS[f"manifest mutation: {how}"] += 1
    text = json.dumps(manifest)
    if how == "truncate":
        return text[:draw(st.integers(0, len(text) - 1))].encode()
    if how == "bytes":
        return draw(st.binary(max_size=2048))
    if how == "deep":
        depth = draw(st.sampled_from([65, 1000, 100_000]))
        return ("[" * depth + "]" * depth).encode()
    if how == "huge":                           # past the 16 MiB cap
        return (text[:-1] + ', "padding": "' + "x" * (17 * 1024 * 1024) + '"}').encode()
    damaged = json.loads(text)
    frame = damaged["frames"][draw(st.integers(0, len(damaged["frames"]) - 1))]
    if how == "drop":
        frame.pop(draw(st.sampled_from(FRAME_KEYS)), None)
    elif how == "top key":
        damaged[draw(st.sampled_from(["image_size", "frames", "deployment", "kind"]))] = draw(JSON_VALUES)
    else:
        frame[draw(st.sampled_from(FRAME_KEYS))] = draw(JSON_VALUES)
    return json.dumps(damaged, allow_nan=True).encode()     # NaN and Infinity tokens included


@given(data=st.data())
def test_damaged_manifests_are_read_or_refused_cleanly(base, data, tmp_path_factory):
    from camdeck.calibration.align import read_scan_manifest

    manifest = json.loads((base / "scan" / "manifest.json").read_text())
    scan = tmp_path_factory.mktemp("manifest")
    (scan / "manifest.json").write_bytes(data.draw(manifest_mutants(manifest), label="mutant"))
    read_directly(lambda path: read_scan_manifest(path.parent), scan / "manifest.json", "manifest")
    if data.draw(st.integers(0, 3), label="cli") == 0:
        through_cli(["calibrate", "align", "--scan", scan, "--landmarks", base / "landmarks.csv",
                     "--out", scan / "R_align.npy"], "manifest")


# ------------------------------------------------------------------ landmarks CSV

ODD_CELLS = st.sampled_from(["nan", "inf", "-inf", "1e999", "", "x", "9" * 5000, "0x10", "1_000", " 1 ",
                             "\u0661\u0662", "\x00", "-0", "1e-320", "91", "-400", "2147483648"]) \
    | st.text(max_size=8) | st.floats().map(repr)


@st.composite
def landmark_mutants(draw, text: str) -> bytes:
    how = draw(st.sampled_from(["cell", "cell", "cell", "header", "truncate", "bytes", "long line", "rows"]))
    COUNTS[f"landmarks mutation: {how}"] += 1
    lines = text.splitlines()
    if how == "truncate":
        return text[:draw(st.integers(0, len(text) - 1))].encode()
    if how == "bytes":
        return draw(st.binary(max_size=2048))
    if how == "long line":                      # past csv's field limit
        lines.append("0," + "1" * 200_000 + ",3,4,5")
    elif how == "rows":
        lines += [lines[1]] * draw(st.sampled_from([1, 10_001]))
    elif how == "header":
        lines[0] = ",".join(draw(st.permutations(lines[0].split(",")))[:draw(st.integers(0, 5))])
    else:
        row = draw(st.integers(1, len(lines) - 1))
        cells = lines[row].split(",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(ODD_CELLS).replace("\n", " ")
        lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@given(data=st.data())
def test_damaged_landmarks_are_read_or_refused_cleanly(base, data, tmp_path_factory):
    from camdeck.calibration.align import read_landmarks

    path = tmp_path_factory.mktemp("landmarks") / "landmarks.csv"
    path.write_bytes(data.draw(landmark_mutants((base / "landmarks.csv").read_text()), label="mutant"))
    read_directly(read_landmarks, path, "landmarks")
    if data.draw(st.integers(0, 3), label="cli") == 0:
        through_cli(["calibrate", "align", "--scan", base / "scan", "--landmarks", path,
                     "--out", path.parent / "R_align.npy"], "landmarks")
