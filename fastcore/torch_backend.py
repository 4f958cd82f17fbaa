"""The torch backend of the carve contract: CPU or CUDA, grid optionally kept on the device.

Same arithmetic as fastcore.reference (float64 projections, floor(u + 0.5) pixels, the
shared uint8 -> float table), written with torch tensors and processed in slabs of i so
memory stays bounded. torch is imported inside the functions, never at fastcore import.
"""
from __future__ import annotations

import numpy as np

from camdeck.fastcore.errors import CarveInputError
from camdeck.fastcore.extras import require_extra
from camdeck.fastcore.validation import U8_TO_FLOAT, CarveProblem, check_carve_inputs

_SLAB_VOXELS = 1 << 22


def carve_torch(images, K, R, t, grid_size, voxel_size, grid_center=(0.0, 0.0, 0.0),
                attenuation=0.0, device=None, out=None):
    """Carve with torch; arguments as ``fastcore.carve``, result left on ``device``.

    Args:
        images: V (H, W) uint8 or float32 numpy arrays or torch tensors (may already be on
            the device: a live job keeps its frames there).
        device: "cpu", "cuda", "cuda:1", a torch.device, or None (the images' device if
            they are tensors, else CUDA when available, else CPU).
        out: optional (N, N, N) float32 tensor on ``device`` to write into.

    Returns:
        (N, N, N) float32 torch.Tensor on ``device``.

    Raises:
        CarveInputError: (ValueError) naming the bad argument.
    """
    torch = require_extra("torch", "the torch carve backend")

    dev = _pick_device(images, device)
    host_views = [_to_numpy_header(img, v) for v, img in enumerate(_as_list(images))]
    problem = check_carve_inputs(host_views, K, R, t, grid_size, voxel_size, grid_center, attenuation)
    tensors = [img if isinstance(img, torch.Tensor) else None for img in _as_list(images)]
    N = problem.grid_size
    if out is not None:
        if (not isinstance(out, torch.Tensor) or out.dtype != torch.float32
                or tuple(out.shape) != (N, N, N) or out.device != dev):
            raise CarveInputError(f"out: fix: pass torch.empty(({N}, {N}, {N}), dtype=torch.float32, device='{dev}')")
    return carve_problem_torch(problem, device=dev, out=out, device_images=tensors)


def _as_list(images) -> list:
    if isinstance(images, (list, tuple)):
        return list(images)
    if getattr(images, "ndim", 0) == 3:
        return list(images)
    return [images]


def _pick_device(images, device):
    torch = require_extra("torch", "the torch carve backend")

    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError):
            raise CarveInputError(f"device: {device!r}; fix: pass 'cpu' or 'cuda'") from None
    for img in _as_list(images):
        if isinstance(img, torch.Tensor):
            return img.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _to_numpy_header(img, v: int):
    """A numpy stand-in with the tensor's shape and dtype, for validation without a copy."""
    torch = require_extra("torch", "the torch carve backend")

    if not isinstance(img, torch.Tensor):
        return img
    dtypes = {torch.uint8: np.uint8, torch.float32: np.float32}
    if img.dtype not in dtypes:
        raise CarveInputError(f"images[{v}]: dtype {img.dtype}; fix: pass torch.uint8 or torch.float32")
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtypes[img.dtype]), shape=tuple(img.shape),
                                           strides=(0,) * img.ndim)


def carve_problem_torch(problem: CarveProblem, device="cpu", out=None, device_images=None):
    """(N, N, N) float32 tensor on ``device`` for a validated problem.

    device_images: optional per-view tensors (None entries: use problem.images).
    """
    torch = require_extra("torch", "the torch carve backend")

    dev = torch.device(device)
    N = problem.grid_size
    H, W = problem.image_shape
    if out is None:
        out = torch.empty((N, N, N), dtype=torch.float32, device=dev)
    lut = torch.from_numpy(U8_TO_FLOAT).to(dev)
    views = []
    for v, img in enumerate(problem.images):
        tensor = device_images[v] if device_images and device_images[v] is not None else torch.from_numpy(img)
        views.append(tensor.to(dev).contiguous().reshape(-1))
    f64 = dict(dtype=torch.float64, device=dev)
    axis = (torch.arange(N, **f64) - (N - 1) / 2.0) * problem.voxel_size
    xs, ys, zs = (problem.grid_center[c] + axis for c in range(3))
    P = torch.from_numpy(np.einsum("vab,vbc->vac", problem.K, np.concatenate(
        [problem.R, problem.t[:, :, None]], axis=2))).to(dev)                   # (V, 3, 4)
    centers = torch.from_numpy(problem.camera_centers()).to(dev)
    slab = max(1, _SLAB_VOXELS // (N * N))
    with torch.no_grad():
        for i0 in range(0, N, slab):
            X = xs[i0:i0 + slab, None, None]
            Y = ys[None, :, None]
            Z = zs[None, None, :]
            result = None
            for v in range(problem.n_views):
                x, y, z = (P[v, r, 0] * X + P[v, r, 1] * Y + (P[v, r, 2] * Z + P[v, r, 3]) for r in range(3))
                col = torch.floor(x / z + 0.5)
                row = torch.floor(y / z + 0.5)
                inside = (z > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
                flat = torch.where(inside, row * W + col, torch.zeros((), **f64)).long()
                pixels = views[v].gather(0, flat.reshape(-1)).reshape(flat.shape)
                value = lut.gather(0, pixels.long().reshape(-1)).reshape(flat.shape) if problem.is_uint8 else pixels
                value = torch.where(inside, value, torch.zeros((), dtype=torch.float32, device=dev))
                if problem.attenuation > 0:
                    C = centers[v]
                    dist = torch.sqrt((X - C[0]) ** 2 + (Y - C[1]) ** 2 + (Z - C[2]) ** 2)
                    value = value.double() * torch.exp(-problem.attenuation * dist)
                result = value if result is None else torch.minimum(result, value)
            out[i0:i0 + slab] = result.float()
    return out
