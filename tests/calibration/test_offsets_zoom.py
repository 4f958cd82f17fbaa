"""Zoomed queries and honest confidence, against the simulated PTZ camera's truth.

A passive query sees whatever zoom the camera was left at; the reference is taken at zoom 0
(60°). The reference frames are chosen by how much of the query's view they show, and a query
zoomed far past them is matched in a resampled virtual camera (calibration.views, .matching).
"""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration.align import read_scan_manifest
from camdeck.calibration.confidence import angular_spread_deg, image_coverage
from camdeck.calibration.offsets import offsets_from_dirs
from camdeck.calibration.rotations import K_at_zoom, R_B_cam, rotation_angle_deg
from camdeck.calibration.views import View, frames_by_overlap, overlap_fraction, view_of
from camdeck.drivers.sim.ptz_state import Bump, write_bump
from tests.calibration.test_offsets import OPTIONS, REFERENCE_STOPS, SIZE, sim_camera, take_scan

BUMP = Bump(pitch_deg=0.4, yaw_deg=-0.3, roll_deg=0.5)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    data = tmp_path_factory.mktemp("sim")
    camera = sim_camera(data)
    try:
        folder = take_scan(camera, data / "reference", REFERENCE_STOPS, "reference")
    finally:
        camera.close()
    return data, folder


def _query(data, folder, stop, **kwargs):
    write_bump(data, "ptz-1", BUMP)
    camera = sim_camera(data)
    try:
        truth = camera.truth()
        return take_scan(camera, folder, [stop], "query", **kwargs), truth
    finally:
        camera.close()
        write_bump(data, "ptz-1", None)


def test_a_zoomed_view_overlaps_the_wide_frames_it_lies_in(reference):
    """The zoom-1 view (6°) at pan 20° lies inside the zoom-0 frame at pan 0° (60° wide), even
    though their optical axes are 20° apart, three times its field of view."""
    _, folder = reference
    ref = read_scan_manifest(folder)
    query = View(K=K_at_zoom(1.0, (60.0, 6.0), *SIZE), size=SIZE, R=R_B_cam(20.0, 5.0))
    views = [(f, view_of(f, ref.image_size)) for f in ref.frames]
    chosen = frames_by_overlap(query, views, 2, 0.1)
    assert [(f.pan_deg, f.tilt_deg) for f, _ in chosen] == [(0.0, 0.0), (45.0, 0.0)]
    assert chosen[0][1] == 1.0 and chosen[1][1] > 0.1
    assert overlap_fraction(query, view_of(ref.frame(0), ref.image_size)) == 0.0      # pan -180°: behind


@pytest.mark.parametrize("zoom, stop", [(0.6, (20.0, 8.0)), (0.8, (-68.0, 9.0)), (1.0, (17.3, -4.1))])
def test_passive_queries_at_any_zoom_measure_the_bump(reference, tmp_path, zoom, stop):
    data, ref = reference
    query, truth = _query(data, tmp_path / "query", stop, zoom=zoom)
    result = offsets_from_dirs(ref, query, OPTIONS)
    errors = np.abs([result.pitch_deg - BUMP.pitch_deg, result.yaw_deg - BUMP.yaw_deg, result.roll_deg - BUMP.roll_deg])
    print(f"zoom {zoom}: error (pitch, yaw, roll) {np.round(errors, 4)} deg, {result.inliers} inliers, "
          f"confidence {result.confidence}, spread {result.spread_deg}°")
    assert result.per_frame[0].resampled
    assert errors.max() < 0.05 and rotation_angle_deg(truth.delta_R.T @ result.delta_R) < 0.05
    # a narrow view pins the rotation about its own axis down less well, and the confidence says so
    assert result.spread_deg < 5.0 and result.confidence < 0.8


def test_a_query_seeing_2_percent_of_the_scene_reports_low_confidence(reference, tmp_path):
    data, ref = reference
    full, _ = _query(data, tmp_path / "full", (20.0, 8.0))
    patch, _ = _query(data, tmp_path / "patch", (20.0, 8.0), keep_area=0.02)
    whole = offsets_from_dirs(ref, full, OPTIONS)
    small = offsets_from_dirs(ref, patch, OPTIONS)
    print(f"confidence: full view {whole.confidence} (coverage {whole.coverage}, spread {whole.spread_deg}°), "
          f"2 % patch {small.confidence} (coverage {small.coverage}, spread {small.spread_deg}°)")
    assert whole.confidence > 0.8
    assert small.inliers / small.per_frame[0].matches > 0.8      # the matches are clean ...
    assert small.confidence < 0.3                                 # ... yet they cover 2 % of the view
    assert small.coverage < 0.1 < 0.5 < whole.coverage


def test_coverage_and_spread_measure_the_inliers_geometry():
    assert image_coverage(np.array([[10.0, 10.0], [12.0, 11.0]]), (640, 360)) == 1 / 64
    grid = np.stack(np.meshgrid(np.arange(8) * 80 + 40.0, np.arange(8) * 45 + 22.0), -1).reshape(-1, 2)
    assert image_coverage(grid, (640, 360)) == 1.0
    assert angular_spread_deg(np.tile([0.0, 0.0, 1.0], (10, 1))) == 0.0
    cone = np.array([[np.sin(np.radians(3.0)) * np.cos(a), np.sin(np.radians(3.0)) * np.sin(a), np.cos(np.radians(3.0))]
                     for a in np.linspace(0, 2 * np.pi, 36, endpoint=False)])
    assert angular_spread_deg(cone) == pytest.approx(3.0, abs=0.01)     # every ray 3° from the axis
