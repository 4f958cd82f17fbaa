"""The torch backend of the carve contract: CPU or CUDA, grid optionally kept on the device.

The contract of fastcore.reference (floor(u + 0.5) pixels, the shared uint8 -> float table),
written as a few whole-array passes per view (separable projections, a zero border instead of
masks, float32: see carve_problem_torch) so a GPU runs it as wide kernels; on the CPU it goes
in slabs of i so memory stays bounded. torch is imported inside the functions, never at
fastcore import.
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

    The work is a handful of whole-array element-wise passes per view, with no masks and no
    per-voxel branches, so a GPU runs it as a few wide kernels:

    - projections are separable: ``x = a[i] + b[j] + c[k]`` (and y, z likewise), so only the
      (N,) terms are computed up front (float64 on the host) and each voxel costs two adds;
    - each view's image is turned into values once (uint8 through the shared table) and given a
      one-pixel zero border: a projection left of, right of, above or below the image is clamped
      onto the border, and one behind the camera reads the border's corner, so "outside -> 0"
      needs no mask;
    - projections are float64, as in the reference: float32 would halve the memory traffic, but
      a regular grid puts many projections exactly on pixel boundaries, and float32 rounds
      those ties differently often enough (0.1 % of a 24^3 grid) to fail the agreement tests.

    On the CPU the grid is processed in slabs of i (bounded memory); on CUDA in one pass.

    Args:
        problem: a validated CarveProblem.
        device: where to run ("cpu", "cuda", "cuda:N" or a torch.device).
        out: optional (N, N, N) float32 tensor on ``device``.
        device_images: optional per-view tensors already on the device (None entries: use problem.images).
    """
    torch = require_extra("torch", "the torch carve backend")

    dev = torch.device(device)
    N = problem.grid_size
    H, W = problem.image_shape
    if out is None:
        out = torch.empty((N, N, N), dtype=torch.float32, device=dev)
    lut = torch.from_numpy(U8_TO_FLOAT).to(dev)
    bordered = []
    for v, img in enumerate(problem.images):
        tensor = device_images[v] if device_images and device_images[v] is not None else torch.from_numpy(img)
        tensor = tensor.to(dev)
        values = lut[tensor.long()] if problem.is_uint8 else tensor.float()
        bordered.append(torch.nn.functional.pad(values, (1, 1, 1, 1)).reshape(-1))    # (H + 2) * (W + 2)
    terms = _separable_terms(problem, N)                                             # (V, 3, 3, N) float64
    terms_dev = torch.from_numpy(terms).to(dev)
    dist_terms = None
    if problem.attenuation > 0:
        axis = (np.arange(N) - (N - 1) / 2.0) * problem.voxel_size
        coords = np.asarray(problem.grid_center, np.float64)[:, None] + axis[None, :]            # (3, N)
        d2 = (coords[None, :, :] - problem.camera_centers()[:, :, None]) ** 2                    # (V, 3, N)
        dist_terms = torch.from_numpy(d2).to(dev)
    slab = N if dev.type == "cuda" else max(1, _SLAB_VOXELS // (N * N))
    with torch.no_grad():
        for i0 in range(0, N, slab):
            i1 = min(N, i0 + slab)
            result = out[i0:i1]
            for v in range(problem.n_views):
                value = _view_values(torch, terms_dev[v], bordered[v], i0, i1, W, H)
                if dist_terms is not None:
                    dt = dist_terms[v]
                    dist = (dt[0, i0:i1, None, None] + (dt[1, None, :, None] + dt[2, None, None, :])).sqrt_()
                    value = (value.double() * dist.mul_(-problem.attenuation).exp_()).float()
                if v == 0:
                    result.copy_(value)
                else:
                    torch.minimum(result, value, out=result)
    return out


def _separable_terms(problem: CarveProblem, N: int) -> np.ndarray:
    """(V, 3, 3, N) float64: for view v and row r of ``K @ [R | t]``, the terms along i, j and k
    whose sum is that row at voxel (i, j, k) (the translation folded into the k term)."""
    axis = (np.arange(N) - (N - 1) / 2.0) * problem.voxel_size
    coords = np.asarray(problem.grid_center, np.float64)[:, None] + axis[None, :]        # (3, N): x, y, z
    P = np.einsum("vab,vbc->vac", problem.K, np.concatenate([problem.R, problem.t[:, :, None]], axis=2))
    terms = P[:, :, :3, None] * coords[None, None, :, :]                                  # (V, 3, 3, N)
    terms[:, :, 2, :] += P[:, :, 3, None]
    return terms


def _view_values(torch, terms, bordered, i0: int, i1: int, W: int, H: int):
    """Values (i1 - i0, N, N) float32 that one view gives the voxels of slab [i0, i1)."""
    def row(r):
        return terms[r, 0, i0:i1, None, None] + (terms[r, 1, None, :, None] + terms[r, 2, None, None, :])

    z = row(2)
    # floor(u + 0.5) clamped to [-1, W]: -1 and W are the zero border (shifted by +1 below).
    col = row(0).div_(z).add_(0.5).floor_().clamp_(-1, W).add_(1)
    rowi = row(1).div_(z).add_(0.5).floor_().clamp_(-1, H).add_(1)
    index = rowi.mul_(W + 2).add_(col)
    index = torch.where(z > 0, index, torch.zeros((), dtype=index.dtype, device=index.device))  # behind: corner 0
    return bordered.take(index.long())
