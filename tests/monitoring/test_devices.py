"""monitoring.devices opens a PTZ camera of any driver and reads the telemetry the camera names.

Nothing in monitoring asks "is this the simulator?" (tests/test_layout.py checks the source);
these tests check the behaviour: a driver registered under another name gets the same
in-process telemetry, because the camera's TelemetryFeed says how to reach it."""
from __future__ import annotations

from dataclasses import replace

import pytest

from camdeck.drivers import registry
from camdeck.monitoring.devices import open_device
from tests.monitoring import ptz_settings


def _renamed(settings, driver: str):
    """``settings`` with camera "cam" served by ``driver`` (a registry entry the test adds)."""
    return replace(settings, cameras={**settings.cameras, "cam": replace(settings.cameras["cam"], driver=driver)})


def test_a_camera_under_any_driver_name_gets_the_telemetry_it_names(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.DRIVER_MODULES, "mast-sim", "camdeck.drivers.sim")
    settings = _renamed(ptz_settings(tmp_path), "mast-sim")
    with open_device(settings, "site/cam") as device:
        assert device.camera.info().driver == "sim"                    # the simulator, under another name
        assert (device.telemetry_source, device.telemetry_topic) == ("in-process", "camdeck/site/cam/telemetry")
        sample = device.move_and_settle(20.0, 5.0, 0.0, stable_s=0.5, timeout_s=10.0)
        assert (sample.pan_deg, sample.tilt_deg) == pytest.approx((20.0, 5.0))
        assert sample.moving is False and device.latch.count("cam") > 0
    assert device.telemetry_fallback == ""


def test_an_unknown_driver_is_the_registrys_error(tmp_path):
    from camdeck.drivers.errors import DriverUnavailable

    with pytest.raises(DriverUnavailable, match="unknown driver 'nope'"):
        open_device(_renamed(ptz_settings(tmp_path), "nope"), "site/cam")
