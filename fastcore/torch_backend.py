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

    On the CPU the grid is processed in slabs of i (bounded memory), eager; on CUDA in one pass
    through ``torch.compile``, which fuses the passes of every view and the minimum into one
    kernel (not measured on a GPU yet: none was available where this was written).

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
    terms = torch.from_numpy(_separable_terms(problem, N)).to(dev)                    # (V, 3, 3, N) float64
    stacked = torch.stack(bordered)                                                    # (V, (H + 2) * (W + 2))
    dist = None
    if problem.attenuation > 0:
        axis = (np.arange(N) - (N - 1) / 2.0) * problem.voxel_size
        coords = np.asarray(problem.grid_center, np.float64)[:, None] + axis[None, :]            # (3, N)
        dist = torch.from_numpy((coords[None, :, :] - problem.camera_centers()[:, :, None]) ** 2).to(dev)
    slab = N if dev.type == "cuda" else max(1, _SLAB_VOXELS // (N * N))
    carve_slab = _kernel_for(dev)
    with torch.no_grad():
        for i0 in range(0, N, slab):
            i1 = min(N, i0 + slab)
            di = dj = dk = None
            if dist is not None:
                di, dj, dk = dist[:, 0, i0:i1], dist[:, 1], dist[:, 2]
            out[i0:i1] = carve_slab(terms[:, :, 0, i0:i1], terms[:, :, 1], terms[:, :, 2], stacked, W, H,
                                di, dj, dk, float(problem.attenuation))
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


def slab_values(ti, tj, tk, bordered, W: int, H: int, di=None, dj=None, dk=None, attenuation: float = 0.0):
    """The carve of one slab of i: the minimum over the views, (n, N, N) float32.

    Pure tensor code without in-place steps or data-dependent branches, so ``torch.compile``
    can fuse it into one kernel (see :func:`_kernel_for`).

    Args:
        ti: (V, 3, n) float64, the i terms of each view's three projection rows for this slab.
        tj, tk: (V, 3, N) float64, the j and k terms (the translation is in tk).
        bordered: (V, (H + 2) * (W + 2)) float32 view values with their zero border, flattened.
        W, H: image width and height, px.
        di, dj, dk: None, or (V, n) / (V, N) / (V, N) squared distance terms to each camera centre.
        attenuation: per unit length (used when di is given).
    """
    result = None                                 # tensor methods only: no import, nothing for dynamo to break on
    for v in range(bordered.shape[0]):
        def row(r: int):
            return ti[v, r][:, None, None] + (tj[v, r][None, :, None] + tk[v, r][None, None, :])

        z = row(2)
        # floor(u + 0.5) clamped to [-1, W]: -1 and W fall on the zero border (shifted by +1).
        col = (row(0) / z + 0.5).floor().clamp(-1, W) + 1
        line = (row(1) / z + 0.5).floor().clamp(-1, H) + 1
        index = (line * (W + 2) + col).masked_fill(~(z > 0), 0.0)                # behind: the corner, 0
        value = bordered[v].take(index.long())
        if di is not None:
            d = (di[v][:, None, None] + (dj[v][None, :, None] + dk[v][None, None, :])).sqrt()
            value = (value.double() * (d * -attenuation).exp()).float()
        result = value if result is None else result.minimum(value)
    return result


_COMPILED: dict = {}


def _kernel_for(dev):
    """:func:`slab_values`, compiled with ``torch.compile`` on CUDA (one fused kernel per grid
    shape instead of ~15 full-grid passes per view); eager on the CPU, where compiling costs
    minutes on a small machine. A compile that fails falls back to eager, once, with a warning;
    ``CAMDECK_TORCH_COMPILE=0`` turns compiling off."""
    import logging
    import os

    if dev.type != "cuda" or os.environ.get("CAMDECK_TORCH_COMPILE", "1") == "0":
        return slab_values
    fn = _COMPILED.get("cuda")
    if fn is not None:
        return fn
    torch = require_extra("torch", "the torch carve backend")
    try:
        compiled = torch.compile(slab_values, dynamic=False)
    except Exception as err:                      # no compiler stack: eager still works
        logging.getLogger("camdeck.fastcore").warning("torch.compile unavailable (%s); the torch carve runs eager", err)
        _COMPILED["cuda"] = slab_values
        return slab_values

    def guarded(*args):
        try:
            return compiled(*args)
        except Exception as err:                  # compile errors surface at the first call
            logging.getLogger("camdeck.fastcore").warning("torch.compile failed (%s); the torch carve runs eager",
                                                        " ".join(str(err).split())[:200])
            _COMPILED["cuda"] = slab_values
            return slab_values(*args)

    _COMPILED["cuda"] = guarded
    return guarded
