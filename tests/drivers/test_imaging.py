"""Debayering and atomic image writes."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.drivers.base import Frame
from camdeck.drivers.imaging import debayer_rggb, frame_to_rgb, write_image_atomic


def test_rggb_red_sites_become_red():
    raw = np.zeros((16, 16), np.uint8)
    raw[0::2, 0::2] = 200  # R at (0, 0) in RGGB
    rgb = debayer_rggb(raw)
    centre = rgb[6:10, 6:10].reshape(-1, 3).mean(0)
    assert centre[0] > 150 and centre[1] < 60 and centre[2] < 10


def test_rggb_blue_sites_become_blue():
    raw = np.zeros((16, 16), np.uint8)
    raw[1::2, 1::2] = 200
    centre = debayer_rggb(raw)[6:10, 6:10].reshape(-1, 3).mean(0)
    assert centre[2] > 150 and centre[0] < 10


def test_frame_to_rgb_swaps_bgr():
    arr = np.zeros((4, 4, 3), np.uint8)
    arr[..., 0] = 255  # blue in BGR
    rgb = frame_to_rgb(Frame(arr, 0, 0, "x", {"format": "BGR"}))
    assert rgb[0, 0].tolist() == [0, 0, 255]


def test_write_image_atomic_roundtrip_and_bad_suffix(tmp_path):
    import cv2

    img = (np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5)
    out = write_image_atomic(tmp_path / "a.png", img)
    assert (cv2.imread(str(out))[..., ::-1] == img).all()
    with pytest.raises(ValueError, match="unknown image type"):
        write_image_atomic(tmp_path / "a.xyz", img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
