"""Reference and query scans against the simulator's truth: in-process, and through ONVIF + MQTT."""
from __future__ import annotations

import json

import numpy as np
import pytest

from camdeck.calibration import rotations as rot
from camdeck.calibration.features import load_features
from camdeck.drivers.sim.ptz_state import Bump, write_bump
from camdeck.drivers.sim.ptz_world import world_for
from camdeck.monitoring.devices import UnknownDevice, select_devices
from camdeck.monitoring.scans import ScanFileError, collect_references, extract_query, grid_stops, read_manifest
from tests.monitoring import ptz_settings
from tests.helpers import assert_noisy_view


def _expected_view(settings, pan, tilt, zoom=0.0, bump=Bump()):
    """What the simulated camera "cam" must see at this pose (the world is a function of direction)."""
    spec = settings.cameras["cam"]
    w, h = spec.resolution
    K = rot.K_at_zoom(zoom, spec.options["hfov_deg"], w, h)
    R = rot.R_W_cam(pan, tilt, rot.R_align_from_ypr(*spec.options["align_ypr_deg"]), bump.matrix())
    return world_for(settings.sim.seed, w, spec.options["hfov_deg"]).render(K, R, (w, h)), K


def _read_rgb(path):
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]


def test_grid_covers_the_ranges_in_serpentine_order():
    stops = grid_stops((-180.0, 180.0), (-30.0, 90.0), 16, 6)
    assert len(stops) == 96
    assert sorted({p for _, _, p, _ in stops}) == [-180.0 + 22.5 * i for i in range(16)]
    assert sorted({t for _, _, _, t in stops}) == [-30.0, -6.0, 18.0, 42.0, 66.0, 90.0]
    assert [i for i, j, _, _ in stops[:17]] == list(range(16)) + [15]
    assert [p for _, _, p, _ in grid_stops((-60.0, 60.0), (0.0, 10.0), 3, 1)] == [-60.0, 0.0, 60.0]
    with pytest.raises(ScanFileError):
        grid_stops((-1, 1), (-1, 1), 0, 2)


def test_devices_are_named_by_deployment_and_camera(tmp_path):
    settings = ptz_settings(tmp_path)
    assert [d.id for d in select_devices(settings, None)] == ["site/cam"]
    assert [d.id for d in select_devices(settings, "site")] == ["site/cam"]
    with pytest.raises(UnknownDevice, match="site/cam"):
        select_devices(settings, "elsewhere/cam")


def test_reference_scan_matches_the_truth_and_resumes(tmp_path):
    settings = ptz_settings(tmp_path)
    seen = []

    def interrupt_after_three(stage, done, total):
        seen.append((stage, done, total))
        if stage == "capture" and done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect_references(settings, "site/cam", settle_s=0.5, progress=interrupt_after_three)
    partial = read_manifest(tmp_path / "scans/site/cam/reference.partial")
    assert len(partial["frames"]) == 3 and partial["complete"] is False
    assert not (tmp_path / "scans/site/cam/reference").exists()     # nothing half-made is in use

    result = collect_references(settings, "site/cam", settle_s=0.5)
    assert (result.frames, result.captured, result.resumed) == (8, 5, 3)
    manifest = read_manifest(result.folder)
    assert manifest["complete"] and manifest["kind"] == "reference" and manifest["image_size"] == [320, 180]
    assert (manifest["deployment"], manifest["camera"]) == ("site", "cam")
    stops = grid_stops((-180.0, 180.0), (-30.0, 90.0), 4, 2)
    for frame, (i, j, pan, tilt) in zip(manifest["frames"], stops):
        assert (frame["pan_deg"], frame["tilt_deg"], frame["zoom"]) == pytest.approx((pan, tilt, 0.0))
        assert frame["stop"] == [i, j] and frame["timestamp"].endswith("Z")
        expected, K = _expected_view(settings, pan, tilt)
        np.testing.assert_allclose(frame["K"], K)
        assert_noisy_view(_read_rgb(result.folder / frame["image"]), expected)
    feats = load_features(result.folder / manifest["frames"][0]["features"])
    assert feats.method == "sift" and len(feats) > 100 and feats.descriptors.shape[1] == 128

    again = collect_references(settings, "site/cam", settle_s=0.5, features="")
    assert again.resumed == 0 and again.captured == 8
    archived = [p for p in (tmp_path / "scans/site/cam").iterdir() if p.name.startswith("reference-")]
    assert len(archived) == 1 and read_manifest(archived[0])["complete"]


def test_passive_query_sees_the_bumped_mount(tmp_path):
    settings = ptz_settings(tmp_path)
    bump = Bump(1.0, -0.5, 0.25)
    write_bump(tmp_path, "cam", bump)
    result = extract_query("site/cam", 0.5, 10.0, settings=settings)
    assert len(result.frames) == 1 and result.positions == [(0.0, 0.0, 0.0)]
    assert result.telemetry[0].moving is False
    expected, _ = _expected_view(settings, 0.0, 0.0, bump=bump)
    assert_noisy_view(result.frames[0].array, expected)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["kind"] == "query" and manifest["mode"] == "passive" and result.folder.parent.name == "query"
    assert manifest["telemetry_source"] == "in-process"


def test_active_query_drives_to_the_stops(tmp_path):
    settings = ptz_settings(tmp_path)
    stops = [(10.0, 5.0), (-30.0, 20.0, 0.2)]
    result = extract_query("site/cam", 0.5, 10.0, stops, settings=settings, features="")
    np.testing.assert_allclose(result.positions, [(10.0, 5.0, 0.0), (-30.0, 20.0, 0.2)], atol=1e-9)
    for frame, (pan, tilt, zoom) in zip(result.frames, result.positions):
        expected, _ = _expected_view(settings, pan, tilt, zoom)
        assert_noisy_view(frame.array, expected)
    assert [f["index"] for f in read_manifest(result.folder)["frames"]] == [0, 1]


def test_query_through_onvif_and_mqtt(tmp_path, mosquitto):
    from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
    from camdeck.drivers.sim.ptz import SimPtzCamera

    base = ptz_settings(tmp_path, mqtt_port=mosquitto.port)
    sim = SimPtzCamera(base.cameras["cam"], base.driver_context(), mqtt=("127.0.0.1", mosquitto.port))
    with OnvifDeviceServer(sim, "admin", "pw") as server:
        settings = ptz_settings(tmp_path, mqtt_port=mosquitto.port, onvif_port=server.port)
        result = extract_query("site/cam-onvif", 0.5, 20.0, [(25.0, 12.0)], settings=settings, features="")
        np.testing.assert_allclose(result.positions, [(25.0, 12.0, 0.0)], atol=1e-4)
        assert result.extra["telemetry_source"] == "mqtt"
        assert result.telemetry[0].pan_deg == pytest.approx(25.0)
        expected, _ = _expected_view(settings, 25.0, 12.0)
        assert np.abs(result.frames[0].array.astype(int) - expected).mean() < 4
        # With the broker unreachable the scan polls the camera's position instead.
        mosquitto.stop()
        result = extract_query("site/cam-onvif", 0.5, 20.0, [(-5.0, 3.0)], settings=settings, features="")
        np.testing.assert_allclose(result.positions, [(-5.0, 3.0, 0.0)], atol=1e-4)
        assert result.extra["telemetry_source"] == "poll"
    sim.close()


def test_features_round_trip_and_disk_needs_local_weights(tmp_path, monkeypatch):
    from camdeck.calibration.errors import CalibrationInputError
    from camdeck.calibration.features import extract_features, save_features

    settings = ptz_settings(tmp_path)
    image, _ = _expected_view(settings, 0.0, 10.0)
    feats = extract_features(image, "sift", max_features=500)
    assert 100 < len(feats) <= 500 and feats.image_size == (320, 180)
    back = load_features(save_features(tmp_path / "f" / "000.npz", feats))
    np.testing.assert_array_equal(back.keypoints, feats.keypoints)
    np.testing.assert_array_equal(back.descriptors, feats.descriptors)
    monkeypatch.setenv("CAMDECK_DISK_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(CalibrationInputError, match="depth-save.pth"):
        extract_features(image, "disk")


def test_manifests_and_sim_state_that_are_not_plain_json_files_are_refused_not_waited_on(tmp_path):
    """A FIFO, a huge or a deeply nested manifest.json was read whole with read_text()/json.loads:
    a FIFO blocked the reader forever and nesting overflowed the parser. They now go through
    fileio.bounded (regular files, bounded size and depth), like every other reader."""
    import os

    from camdeck.drivers.errors import DriverError
    from camdeck.drivers.sim.ptz_state import Bump
    from camdeck.monitoring.cloud_reference import reference_stamp
    from camdeck.monitoring.reference_swap import read_json_manifest
    from tests.fuzz.outcome import time_limit

    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "manifest.json")
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "manifest.json").write_text("[" * 100000 + "]" * 100000)
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / "manifest.json").write_text("[1, 2]")

    class Cloud:
        def scan_location(self, deployment, camera, kind):
            return f"s3://b/{deployment}/{camera}/{kind}/"

    with time_limit(30):
        for folder in (fifo, deep, listed):
            with pytest.raises(ScanFileError) as info:
                read_manifest(folder)
            assert info.value.bad_input and "fix:" in str(info.value)
            assert read_json_manifest(folder) is None
            assert reference_stamp(Cloud(), folder, "site", "cam") == "s3://b/site/cam/reference/ "
        state = tmp_path / "data" / "sim"
        state.mkdir(parents=True)
        os.mkfifo(state / "bumps.json")
        with pytest.raises(DriverError) as info:
            write_bump(tmp_path / "data", "cam", Bump(1.0, 0.0, 0.0))
        assert "not a regular file" in str(info.value)
