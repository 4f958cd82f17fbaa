"""Bad input raises ValueError naming the argument, from every backend; nothing reaches the kernel."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck import fastcore
from tests.fastcore.test_backends import blob_views

BACKENDS = fastcore.available_backends()


@pytest.fixture
def good():
    images, K, R, t = blob_views(2, spread_deg=30, size=(64, 48))
    return dict(images=images, K=K, R=R, t=t, grid_size=16, voxel_size=0.1)


def _carve(args, backend, **change):
    kw = {**args, **change}
    return fastcore.carve(kw.pop("images"), kw.pop("K"), kw.pop("R"), kw.pop("t"), kw.pop("grid_size"),
                          kw.pop("voxel_size"), backend=backend, **kw)


def _bad(args, backend, name, **change):
    with pytest.raises(ValueError, match=name):
        _carve(args, backend, **change)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mismatched_image_shapes(good, backend):
    images = [good["images"][0], good["images"][1][:-1]]
    _bad(good, backend, "images", images=images)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["K", "R", "t"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_geometry(good, backend, name, value):
    arr = np.array(good[name], dtype=np.float64)
    arr.flat[1] = value
    _bad(good, backend, name, **{name: arr})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [0, -3, 1025, 2.5, True, "64", None])
def test_grid_size_outside_range(good, backend, size):
    _bad(good, backend, "grid_size", grid_size=size)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.int16, np.uint16, bool])
def test_wrong_image_dtype(good, backend, dtype):
    _bad(good, backend, "images", images=[img.astype(dtype) for img in good["images"]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_shapes_and_values(good, backend):
    _bad(good, backend, "images", images=[np.zeros((4, 4, 3), np.uint8)] * 2)
    _bad(good, backend, "images", images=[good["images"][0], good["images"][1].astype(np.float32)])
    _bad(good, backend, "images", images=[])
    _bad(good, backend, "K", K=np.eye(2))
    _bad(good, backend, "R", R=good["R"][:1])
    _bad(good, backend, "R", R=good["R"] * 2.0)           # not a rotation
    _bad(good, backend, "t", t=np.zeros((2, 4)))
    _bad(good, backend, "voxel_size", voxel_size=0.0)
    _bad(good, backend, "voxel_size", voxel_size=float("nan"))
    _bad(good, backend, "grid_center", grid_center=(0, 0))
    _bad(good, backend, "attenuation", attenuation=-1.0)
    _bad(good, backend, "out", out=np.zeros((16, 16, 16), np.float64))
    _bad(good, backend, "out", out=np.zeros((16, 16, 15), np.float32))
    _bad(good, backend, "out", out=np.zeros((16, 16, 32), np.float32)[:, :, ::2])


def test_unknown_backend(good):
    with pytest.raises(ValueError, match="backend"):
        _carve(good, "opencl")


def test_process_image_to_voxel_grid_checks_its_arguments():
    image = np.zeros((10, 12), np.uint8)
    with pytest.raises(ValueError, match="camera_rotation"):
        fastcore.process_image_to_voxel_grid(image, (0, 0, 0), np.full((3, 3), np.nan), 8, 0.1)
    with pytest.raises(ValueError, match="camera_position"):
        fastcore.process_image_to_voxel_grid(image, (0, 0), np.eye(3), 8, 0.1)
    with pytest.raises(ValueError, match="image"):
        fastcore.process_image_to_voxel_grid(np.zeros((2, 3, 4), np.uint8), (0, 0, 0), np.eye(3), 8, 0.1)
    with pytest.raises(ValueError, match="grid_size"):
        fastcore.process_image_to_voxel_grid(image, (0, 0, 0), np.eye(3), 2000, 0.1)
