"""The numpy reference implementation of the carve contract (docs/design.md, fastcore contract).

It is the specification the fast backends are tested against, written the way the
contract reads and vectorised with broadcasting: for each view the homogeneous
projection K @ (R @ X + t) of every voxel centre is a sum of three broadcast 1-D terms,
so no (N^3, 3) coordinate array is built. The grid is processed in slabs of i so the
temporaries stay a few MB whatever N is.
"""
from __future__ import annotations

import numpy as np

from camdeck.fastcore.validation import U8_TO_FLOAT, CarveProblem, check_carve_inputs, check_out

_SLAB_VOXELS = 1 << 20  # voxels per slab: ~8 MB per float64 temporary


def carve_reference(images, K, R, t, grid_size, voxel_size, grid_center=(0.0, 0.0, 0.0),
                    attenuation=0.0, out=None) -> np.ndarray:
    """Carve with numpy; the same arguments and result as ``fastcore.carve``.

    Returns:
        (N, N, N) float32, indexed [i, j, k] = [x, y, z].

    Raises:
        CarveInputError: (ValueError) naming a bad argument.
    """
    problem = check_carve_inputs(images, K, R, t, grid_size, voxel_size, grid_center, attenuation)
    N = problem.grid_size
    out = np.empty((N, N, N), np.float32) if out is None else check_out(out, N)
    return carve_problem(problem, out)


def voxel_axis(problem: CarveProblem) -> np.ndarray:
    """(N,) float64 offsets of voxel centres from grid_center along one axis."""
    N = problem.grid_size
    return (np.arange(N, dtype=np.float64) - (N - 1) / 2.0) * problem.voxel_size


def carve_problem(problem: CarveProblem, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (N, N, N) float32 for a validated problem and return it."""
    N = problem.grid_size
    axis = voxel_axis(problem)
    xs, ys, zs = (problem.grid_center[c] + axis for c in range(3))
    slab = max(1, _SLAB_VOXELS // (N * N))
    for i0 in range(0, N, slab):
        i1 = min(N, i0 + slab)
        out[i0:i1] = _carve_slab(problem, xs[i0:i1], ys, zs)
    return out


def _carve_slab(problem: CarveProblem, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
    """(len(xs), N, N) float32 for the voxels with x in xs."""
    H, W = problem.image_shape
    X = xs[:, None, None]
    Y = ys[None, :, None]
    Z = zs[None, None, :]
    result = None
    for v, image in enumerate(problem.images):
        P = np.einsum("ab,bc->ac", problem.K[v], np.column_stack([problem.R[v], problem.t[v]]))  # (3, 4)
        x, y, z = (P[r, 0] * X + P[r, 1] * Y + (P[r, 2] * Z + P[r, 3]) for r in range(3))
        with np.errstate(divide="ignore", invalid="ignore"):
            col = np.floor(x / z + 0.5)
            row = np.floor(y / z + 0.5)
        inside = (z > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
        flat = np.where(inside, row * W + col, 0).astype(np.intp)
        pixels = image.reshape(-1)[flat]
        value = U8_TO_FLOAT[pixels] if problem.is_uint8 else pixels
        value = np.where(inside, value, np.float32(0))
        if problem.attenuation > 0:
            C = problem.camera_centers()[v]
            dist = np.sqrt((X - C[0]) ** 2 + (Y - C[1]) ** 2 + (Z - C[2]) ** 2)
            with np.errstate(invalid="ignore"):         # inf * 0 = NaN is the NaN policy, not an accident
                value = value * np.exp(-problem.attenuation * dist)
        result = value if result is None else np.minimum(result, value)
    return result.astype(np.float32, copy=False)
