"""Every backend agrees with reference.py: at most 0.1 % of voxels differ, and only where a
projection lands on a pixel boundary."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck import fastcore
from camdeck.fastcore.reference import carve_reference
from camdeck.fastcore.validation import check_carve_inputs

BACKENDS = ["cython", "torch"]      # both are part of every install (make venv builds the kernel, pins torch)


def look_at(position, target):
    position = np.asarray(position, float)
    z = np.asarray(target, float) - position
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    return R, -R @ position


def blob_views(n_views, size=(160, 120), dtype=np.uint8, seed=0, radius_m=3.0, spread_deg=360):
    """Views on a ring around the origin, each a textured disc silhouette (background 0)."""
    rng = np.random.default_rng(seed)
    w, h = size
    K = np.array([[0.9 * w, 0, (w - 1) / 2], [0, 0.9 * w, (h - 1) / 2], [0, 0, 1.0]])
    Rs, ts, images = [], [], []
    yy, xx = np.mgrid[0:h, 0:w]
    for v in range(n_views):
        a = np.radians(spread_deg * v / n_views)
        R, t = look_at([radius_m * np.cos(a), radius_m * np.sin(a), 0.8], [0, 0, 0])
        disc = (xx - w / 2 + 5 * v) ** 2 + (yy - h / 2) ** 2 < (0.3 * h) ** 2
        texture = rng.integers(1, 256, (h, w))
        img = np.where(disc, texture, 0)
        images.append(img.astype(np.uint8) if dtype == np.uint8 else (img / 255.0).astype(dtype))
        Rs.append(R)
        ts.append(t)
    return images, K, np.array(Rs), np.array(ts)


def boundary_voxels(problem, tol_px=1e-3):
    """(N, N, N) bool: voxels with some view's u + 0.5 or v + 0.5 within tol of an integer."""
    N = problem.grid_size
    axis = (np.arange(N) - (N - 1) / 2) * problem.voxel_size
    X, Y, Z = np.meshgrid(*(problem.grid_center[c] + axis for c in range(3)), indexing="ij")
    pts = np.stack([X, Y, Z], -1)
    near = np.zeros((N, N, N), bool)
    for K, R, t in zip(problem.K, problem.R, problem.t):
        p = (pts @ R.T + t) @ K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            for coord in (p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]):
                frac = np.abs((coord + 0.5) - np.round(coord + 0.5))
                near |= frac < tol_px
    return near


def assert_agrees(got, want, problem):
    differ = ~np.isclose(got, want, rtol=1e-6, atol=1e-6)
    assert differ.mean() <= 0.001, f"{differ.mean():.4%} of voxels differ"
    if differ.any():
        assert boundary_voxels(problem)[differ].all(), "a voxel differs away from any pixel boundary"


CASES = {
    "two-views-u8": dict(n_views=2, spread_deg=30),
    "three-views-u8": dict(n_views=3),
    "one-view-u8": dict(n_views=1),
    "float32": dict(n_views=2, dtype=np.float32, spread_deg=40),
    "camera-inside-grid": dict(n_views=2, radius_m=0.5),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("N", [1, 23, 48])
def test_backend_matches_reference(backend, case, N):
    images, K, R, t = blob_views(**CASES[case])
    args = (images, K, R, t, N, 2.0 / N, (0.1, -0.05, 0.0))
    want = carve_reference(*args)
    got = fastcore.carve(*args, backend=backend)
    assert got.dtype == np.float32 and got.shape == (N, N, N)
    assert_agrees(got, want, check_carve_inputs(*args))
    if N > 1 and case != "camera-inside-grid":
        assert 0 < np.count_nonzero(want) < want.size  # the case carves something


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_float_pixels_and_attenuation(backend):
    images, K, R, t = blob_views(3, dtype=np.float32, spread_deg=60)
    images = [img - 0.25 for img in images]   # negative values: no early exit allowed
    args = (images, K, R, t, 40, 0.05, (0.0, 0.0, 0.0), 0.7)
    want = carve_reference(*args)
    assert want.min() < 0
    assert_agrees(fastcore.carve(*args, backend=backend), want, check_carve_inputs(*args))


@pytest.mark.parametrize("backend", BACKENDS)
def test_uint8_attenuation(backend):
    images, K, R, t = blob_views(2, spread_deg=45)
    args = (images, K, R, t, 32, 0.06, (0.0, 0.0, 0.0), 1.5)
    want = carve_reference(*args)
    assert 0 < want.max() < 1.0
    assert_agrees(fastcore.carve(*args, backend=backend), want, check_carve_inputs(*args))


def test_out_buffer_is_reused_and_overwritten():
    images, K, R, t = blob_views(2, spread_deg=30)
    out = np.full((32, 32, 32), 7.0, np.float32)
    args = (images, K, R, t, 32, 0.06, (0.011, 0.003, -0.02))
    got = fastcore.carve(*args, out=out)
    assert got is out
    assert_agrees(out, carve_reference(*args), check_carve_inputs(*args))
    assert out.max() <= 1.0


def test_grid_behind_every_camera_is_empty():
    images, K, R, t = blob_views(2, spread_deg=30)
    far_behind = -10.0 * R[0][2] * 3   # well behind camera 0 (and beyond camera 1)
    for backend in BACKENDS + ["numpy"]:
        grid = fastcore.carve(images, K, R, t, 16, 0.05, tuple(far_behind), backend=backend)
        assert not grid.any()


def test_process_image_to_voxel_grid_is_the_one_view_carve():
    images, K, R, t = blob_views(1)
    image = images[0]
    h, w = image.shape
    C = -R[0].T @ t[0]
    centre = (0.013, -0.007, 0.004)   # off the camera's symmetry plane: no exact pixel ties
    got = fastcore.process_image_to_voxel_grid(image, C, R[0].T, 32, 0.08, centre, 0.2)
    f = float(max(h, w))
    K_default = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    want = carve_reference([image], K_default, R, t, 32, 0.08, centre, 0.2)
    assert_agrees(got, want, check_carve_inputs([image], K_default, R, t, 32, 0.08, centre, 0.2))
    with_k = fastcore.process_image_to_voxel_grid(image, C, R[0].T, 32, 0.08, centre, K=K)
    assert_agrees(with_k, carve_reference([image], K, R, t, 32, 0.08, centre),
                  check_carve_inputs([image], K, R, t, 32, 0.08, centre))


def test_torch_keeps_the_grid_on_the_device():
    import torch
    from camdeck.fastcore.torch_backend import carve_torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    images, K, R, t = blob_views(2, spread_deg=30)
    dev_images = [torch.from_numpy(img).to(device) for img in images]
    out = torch.empty((24, 24, 24), dtype=torch.float32, device=device)
    got = carve_torch(dev_images, K, R, t, 24, 0.08, out=out)
    assert got is out and got.device.type == device
    assert_agrees(got.cpu().numpy(), carve_reference(images, K, R, t, 24, 0.08),
                  check_carve_inputs(images, K, R, t, 24, 0.08))


def test_torch_cuda_matches_reference():
    import torch
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from camdeck.fastcore.torch_backend import carve_torch

    images, K, R, t = blob_views(3)
    got = carve_torch(images, K, R, t, 40, 0.05, device="cuda").cpu().numpy()
    assert_agrees(got, carve_reference(images, K, R, t, 40, 0.05), check_carve_inputs(images, K, R, t, 40, 0.05))
