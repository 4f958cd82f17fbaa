"""The origin workflow's calibrated PTZ lens and COLMAP features, through config and real scans.

``calibration = "calibration.npz"`` on a PTZ camera (K and dist at ``calibration_zoom``) is read
when the config loads; scans then record the calibration's K at each frame's zoom and its
``dist``. SIFT features are also written as COLMAP's feature import reads them.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from camdeck.calibration.features import load_features
from camdeck.calibration.rotations import K_at_zoom_calibrated
from camdeck.console.config import ConfigError, load_settings
from camdeck.monitoring.scans import collect_references, extract_query, read_manifest
from tests.monitoring import ptz_settings

K_CAL = np.array([[282.0, 0.0, 160.5], [0.0, 281.0, 89.0], [0.0, 0.0, 1.0]])
DIST = np.array([[-0.12, 0.03, 0.001, -0.0005, 0.0]])


def _write_calibration(path, K=K_CAL, size=(320, 180)):
    np.savez(path, K=K, dist=DIST, image_size=np.array(size), rms=np.float64(0.21))
    return path


def _config(folder, calibration_line: str) -> str:
    text = f"""
[console]
data_dir = "{folder / 'data'}"
[deployments.site]
[cameras.cam]
driver = "sim"
model = "PTZ"
deployment = "site"
resolution = [320, 180]
{calibration_line}
"""
    (folder / "config.toml").write_text(text)
    return str(folder / "config.toml")


def test_a_ptz_calibration_is_read_beside_the_config_and_checked(tmp_path):
    _write_calibration(tmp_path / "calibration.npz")
    settings = load_settings(_config(tmp_path, 'calibration = "calibration.npz"\ncalibration_zoom = 0.25'))
    opts = settings.cameras["cam"].options
    assert opts["calibration"] == str(tmp_path / "calibration.npz") and opts["calibration_zoom"] == 0.25

    with pytest.raises(ConfigError) as err:
        load_settings(_config(tmp_path, 'calibration = "missing.npz"'))
    assert err.value.key == "cameras.cam.calibration" and "not found" in str(err.value) and "fix:" in str(err.value)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(ConfigError, match=r"cameras\.cam\.calibration: .*corrupt\.npz: not a readable \.npz"):
        load_settings(_config(tmp_path, 'calibration = "corrupt.npz"'))
    with pytest.raises(ConfigError, match=r"cameras\.cam\.calibration_zoom"):
        load_settings(_config(tmp_path, 'calibration = "calibration.npz"\ncalibration_zoom = 1.5'))


def test_the_cli_exits_2_naming_the_key_for_a_missing_calibration(cli, tmp_path):
    config = _config(tmp_path, 'calibration = "nowhere/calibration.npz"')
    res = cli("monitor", "collect-references", "--config", config)
    assert res.code == 2 and res.out == ""
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "cameras.cam.calibration" in lines[0] and "fix:" in lines[0]
    assert "Traceback" not in res.err
    res = cli("monitor", "collect-references", "--config", config, "--json")
    assert res.code == 2 and res.json()["exit_code"] == 2 and "cameras.cam.calibration" in res.json()["error"]


def test_scans_record_the_calibrated_lens_and_colmap_features(tmp_path):
    cal = _write_calibration(tmp_path / "calibration.npz")
    settings = ptz_settings(tmp_path, calibration=str(cal), calibration_zoom=0.0)
    ref = collect_references(settings, "site/cam", settle_s=0.5)
    manifest = read_manifest(ref.folder)
    for frame in manifest["frames"]:
        np.testing.assert_allclose(frame["K"], K_CAL)
        np.testing.assert_allclose(frame["dist"], DIST.ravel())
    query = extract_query("site/cam", 0.5, 10.0, [(10.0, 5.0, 0.5)], settings=settings, features="")
    frame = read_manifest(query.folder)["frames"][0]
    np.testing.assert_allclose(frame["K"], K_at_zoom_calibrated(0.5, K_CAL, 0.0, (60.0, 6.0), (320, 180)))
    assert frame["K"][0][0] > 5 * K_CAL[0, 0]          # zoom 0.5: a narrower view, longer focal length

    # COLMAP's feature import (feature_importer --image_path images --import_path features)
    # reads features/<image name>.txt: "N 128", then "x y scale orientation d1 ... d128" per line.
    first = manifest["frames"][0]
    feats = load_features(ref.folder / first["features"])
    lines = (ref.folder / "features" / "000.png.txt").read_text().splitlines()
    n, dim = (int(v) for v in lines[0].split())
    assert (n, dim) == (len(feats), 128) and len(lines) == n + 1 and n > 100
    rows = [line.split() for line in lines[1:]]
    assert all(len(r) == 4 + 128 for r in rows)
    head = np.array([[float(v) for v in r[:4]] for r in rows])
    desc = np.array([[int(v) for v in r[4:]] for r in rows])
    np.testing.assert_allclose(head[:, :2], feats.keypoints + 0.5, atol=1e-4)     # COLMAP: pixel centres at +0.5
    np.testing.assert_allclose(head[:, 2], feats.sizes / 2.0, atol=1e-4)
    np.testing.assert_allclose(head[:, 3], np.radians(feats.angles_deg), atol=1e-5)
    assert desc.min() >= 0 and desc.max() <= 255
    np.testing.assert_array_equal(desc, np.clip(np.rint(feats.descriptors), 0, 255))
    assert json.loads((ref.folder / "manifest.json").read_text())["frames"][0]["features"] == "features/000.npz"
