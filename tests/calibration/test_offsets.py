"""Orientation offsets against the simulated PTZ camera's truth: its bump (pitch/yaw/roll) and lighting.

Scans are taken with drivers.sim.ptz.SimPtzCamera (the camera the fleet drives) on a manual clock,
at 640x360 to keep the suite fast; the camera's own ``truth()`` says what ΔR really is.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from camdeck.calibration.errors import CalibrationFileError
from camdeck.calibration.features import extract_features, save_features
from camdeck.calibration.offsets import OffsetsFailed, OffsetsOptions, offsets_from_dirs
from camdeck.calibration.rotations import rotation_angle_deg
from camdeck.drivers.base import CameraSpec
from camdeck.drivers.registry import DriverContext
from camdeck.drivers.sim.clock import ManualClock
from camdeck.drivers.sim.ptz import SimPtzCamera
from camdeck.drivers.sim.ptz_state import Bump, write_bump
from camdeck.drivers.sim.ptz_world import Lighting

SIZE = (640, 360)
REFERENCE_STOPS = [(float(p), float(t)) for t in (0.0, 30.0) for p in range(-180, 180, 45)]
DIMMER = Lighting(gain=0.65, gamma=1.35, colour_gains=(1.0, 0.85, 1.15))


def sim_camera(data_dir: Path, align=(37.5, 0.8, -0.4)) -> SimPtzCamera:
    spec = CameraSpec(name="ptz-1", driver="sim", model="PTZ", resolution=SIZE,
                      options={"deployment": "sim-site", "align_ypr_deg": align, "hfov_deg": (60.0, 6.0),
                               "pan_range_deg": (-180.0, 180.0), "tilt_range_deg": (-30.0, 90.0)})
    return SimPtzCamera(spec, DriverContext(data_dir=data_dir, seed=0, clock=ManualClock()), telemetry_hz=0)


def take_scan(camera: SimPtzCamera, folder: Path, stops, kind: str, *, zoom: float = 0.0,
              keep_area: float | None = None, lens=None, record_dist: bool = True) -> Path:
    """Drive, capture and save like a camdeck scan: images/, features/ (SIFT .npz), manifest.json.

    ``keep_area``: keep only a centred patch of this share of the image (same aspect), the rest
    flat grey, like a view mostly hidden by fog or an obstruction.
    ``lens``: a callable (rgb, K) -> (rgb, dist) putting a distorting lens in front of the
    simulator's pinhole; the manifest records ``dist`` when ``record_dist``.
    """
    import cv2

    (folder / "images").mkdir(parents=True)
    frames = []
    for index, (pan, tilt) in enumerate(stops):
        camera.move_absolute(pan, tilt, zoom)
        frame = camera.capture()
        array = frame.array
        if keep_area is not None:
            h, w = array.shape[:2]
            pw, ph = int(round(w * keep_area ** 0.5)), int(round(h * keep_area ** 0.5))
            x0, y0 = (w - pw) // 2, (h - ph) // 2
            hidden = np.full_like(array, 128)
            hidden[y0:y0 + ph, x0:x0 + pw] = array[y0:y0 + ph, x0:x0 + pw]
            array = hidden
        dist = None
        if lens is not None:
            array, dist = lens(array, np.asarray(frame.meta["K"]))
        image, feats = f"images/{index:03d}.png", f"features/{index:03d}.npz"
        cv2.imwrite(str(folder / image), array[:, :, ::-1])
        save_features(folder / feats, extract_features(array, "sift", max_features=2000))
        frames.append({"index": index, "image": image, "features": feats, "pan_deg": frame.meta["pan_deg"],
                       "tilt_deg": frame.meta["tilt_deg"], "zoom": frame.meta["zoom"], "K": frame.meta["K"],
                       "timestamp": "2026-11-21T10:00:00Z"})
        if dist is not None and record_dist:
            frames[-1]["dist"] = [float(v) for v in np.ravel(dist)]
    (folder / "manifest.json").write_text(json.dumps({"deployment": "sim-site", "camera": "ptz-1", "kind": kind,
                                                      "created": "2026-11-21T10:00:00Z", "image_size": list(SIZE),
                                                      "frames": frames}))
    return folder


OPTIONS = OffsetsOptions(max_features=2000)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    data = tmp_path_factory.mktemp("sim")
    camera = sim_camera(data)
    try:
        folder = take_scan(camera, data / "reference", REFERENCE_STOPS, "reference")
    finally:
        camera.close()
    return data, folder


@pytest.mark.parametrize("bump, lighting", [
    (Bump(pitch_deg=2.0), None),
    (Bump(yaw_deg=-2.0), None),
    (Bump(roll_deg=2.0), DIMMER),
    (Bump(pitch_deg=-1.3, yaw_deg=1.7, roll_deg=-2.0), DIMMER),
    (Bump(pitch_deg=0.4, yaw_deg=-0.05, roll_deg=0.6), Lighting(gain=1.3, gamma=0.8)),
])
def test_bumps_up_to_2_deg_per_axis_are_recovered_within_005_deg(reference, tmp_path, bump, lighting):
    data, ref = reference
    write_bump(data, "ptz-1", bump)
    camera = sim_camera(data)
    camera.set_lighting(lighting)
    try:
        truth = camera.truth()
        query = take_scan(camera, tmp_path / "query", [(20.0, 8.0), (-110.0, 15.0)], "query")
    finally:
        camera.close()
        write_bump(data, "ptz-1", None)
    result = offsets_from_dirs(ref, query, OPTIONS)
    errors = np.abs(np.array([result.pitch_deg - bump.pitch_deg, result.yaw_deg - bump.yaw_deg,
                              result.roll_deg - bump.roll_deg]))
    print(f"bump {bump}: error per axis (pitch, yaw, roll) {np.round(errors, 4)} deg, "
          f"{result.inliers} inliers, confidence {result.confidence}")
    assert errors.max() < 0.05, errors
    assert rotation_angle_deg(truth.delta_R.T @ result.delta_R) < 0.05
    assert result.frames == 2 and result.inliers > 200 and result.confidence > 0.5


def test_an_unbumped_camera_never_alerts_over_20_runs(reference, tmp_path):
    """20 passive-like runs at different positions and lighting: every offset stays far below 0.5°."""
    data, ref = reference
    rng = np.random.default_rng(20)
    worst = 0.0
    for run in range(20):
        camera = sim_camera(data)
        camera.set_lighting(Lighting(gain=float(rng.uniform(0.6, 1.3)), gamma=float(rng.uniform(0.75, 1.35))))
        try:
            stop = (float(rng.uniform(-180, 179)), float(rng.uniform(-5, 30)))
            query = take_scan(camera, tmp_path / f"q{run}", [stop], "query")
        finally:
            camera.close()
        result = offsets_from_dirs(ref, query, OPTIONS)
        worst = max(worst, abs(result.pitch_deg), abs(result.yaw_deg), abs(result.roll_deg))
    print(f"unbumped, 20 runs: worst |offset| {worst:.4f} deg")
    assert worst < 0.05          # an alert needs 0.5°: ten times the worst seen


def test_a_query_without_matches_fails_with_its_reason_not_a_number(reference, tmp_path):
    data, ref = reference
    camera = sim_camera(data)
    camera.set_lighting(Lighting(gain=0.0, offset=40.0))     # a flat grey view: nothing to match
    try:
        query = take_scan(camera, tmp_path / "query", [(0.0, 0.0)], "query")
    finally:
        camera.close()
    with pytest.raises(OffsetsFailed) as err:
        offsets_from_dirs(ref, query, OPTIONS)
    assert "no query frame matched" in str(err.value) and "needed" in str(err.value)
    assert not getattr(err.value, "bad_input", False)
    assert err.value.per_frame[0].pitch_deg is None


def test_a_missing_or_corrupt_reference_is_bad_input(reference, tmp_path):
    _, ref = reference
    with pytest.raises(CalibrationFileError) as err:
        offsets_from_dirs(tmp_path / "nowhere", ref)
    assert err.value.bad_input
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "manifest.json").write_text('{"frames": [{"index": 0}]}')
    with pytest.raises(CalibrationFileError) as err:
        offsets_from_dirs(tmp_path / "corrupt", ref)
    assert "manifest.json" in str(err.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = json.loads((ref / "manifest.json").read_text())
    for frame in manifest["frames"]:
        frame.pop("features", None)                            # force reading the (missing) images
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CalibrationFileError) as err:
        offsets_from_dirs(broken, ref, OPTIONS)
    assert "not found" in str(err.value)


def test_the_cli_prints_json_and_writes_the_excel_report_and_csv(cli, reference, tmp_path):
    from openpyxl import load_workbook

    data, ref = reference
    write_bump(data, "ptz-1", Bump(yaw_deg=1.0))
    camera = sim_camera(data)
    try:
        query = take_scan(camera, tmp_path / "query", [(0.0, 10.0)], "query")
    finally:
        camera.close()
        write_bump(data, "ptz-1", None)
    res = cli("offsets", "--reference", ref, "--query", query, "--out", tmp_path / "offsets.xlsx", "--json")
    assert res.code == 0, res.err
    out = res.json()
    assert set(out) >= {"pitch_deg", "yaw_deg", "roll_deg", "frames", "inliers", "per_frame", "confidence"}
    assert out["yaw_deg"] == pytest.approx(1.0, abs=0.05)
    assert out["per_frame"][0]["used"] is True
    assert load_workbook(tmp_path / "offsets.xlsx")["Summary"]["B1"].value == "value"
    assert (tmp_path / "offsets.csv").read_text().splitlines()[-1].startswith("combined,")
    res = cli("offsets", "--reference", tmp_path / "missing", "--query", query)
    assert res.code == 2 and "folder not found" in res.err
