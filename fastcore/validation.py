"""The validating front shared by every carve backend (numpy only, imports fast).

``check_carve_inputs`` turns the loosely typed arguments of ``fastcore.carve`` into a
``CarveProblem`` of exact shapes and dtypes, or raises ``CarveInputError`` (a
ValueError) naming the argument and the fix. Backends trust a CarveProblem completely.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from camdeck.fastcore.errors import CarveInputError

MAX_GRID_SIZE = 1024
BACKENDS = ("auto", "cython", "numpy", "torch")

# uint8 -> float32 value (p / 255), one table shared by every backend so values agree exactly.
U8_TO_FLOAT = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)


@dataclass(frozen=True)
class CarveProblem:
    """Validated carve inputs.

    images: V C-contiguous (H, W) arrays, all uint8 or all float32.
    K, R: (V, 3, 3) float64; t: (V, 3) float64 (x_cam = R @ X + t).
    grid_size: N; voxel_size: metres (any unit, used consistently); grid_center: (3,).
    attenuation: per unit of distance, >= 0.
    """

    images: list
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    grid_size: int
    voxel_size: float
    grid_center: np.ndarray
    attenuation: float

    @property
    def n_views(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.images[0].shape

    @property
    def is_uint8(self) -> bool:
        return self.images[0].dtype == np.uint8

    def corner(self) -> np.ndarray:
        """(3,) float64: the centre of voxel (0, 0, 0)."""
        return self.grid_center - (self.grid_size - 1) / 2.0 * self.voxel_size

    def camera_centers(self) -> np.ndarray:
        """(V, 3) float64: C = -R^T t for each view."""
        return -np.einsum("vji,vj->vi", self.R, self.t)

    def projection_coefficients(self) -> np.ndarray:
        """(V, 12) float64: base, di, dj, dk with K @ (R @ X + t) = base + i*di + j*dj + k*dk."""
        P = np.einsum("vab,vbc->vac", self.K, self.R)          # (V, 3, 3)
        Pt = np.einsum("vab,vb->va", self.K, self.t)            # (V, 3)
        base = np.einsum("vab,b->va", P, self.corner()) + Pt
        steps = P * self.voxel_size                              # columns: di, dj, dk
        return np.concatenate([base, steps[:, :, 0], steps[:, :, 1], steps[:, :, 2]], axis=1).copy()


def _all_finite(arr: np.ndarray) -> bool:
    """True when every element is finite (small arrays in plain Python: no ufunc overhead)."""
    if arr.size <= 64:
        return all(map(math.isfinite, arr.ravel().tolist()))
    return bool(np.isfinite(arr).all())


def _finite_array(value, name: str, shapes: tuple[tuple[int, ...], ...], fix: str) -> np.ndarray:
    if type(value) is np.ndarray and value.dtype == np.float64:
        arr = value                   # the common case: no conversion
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise CarveInputError(f"{name}: not numeric ({type(value).__name__}); fix: {fix}") from None
    if arr.shape not in shapes:
        raise CarveInputError(f"{name}: shape {arr.shape}; fix: {fix}")
    if not _all_finite(arr):
        raise CarveInputError(f"{name}: contains NaN or inf; fix: pass finite values")
    return arr


def _check_images(images) -> list:
    if isinstance(images, np.ndarray):
        views = [images] if images.ndim == 2 else list(images) if images.ndim == 3 else None
        if views is None:
            raise CarveInputError(f"images: array of shape {images.shape}; fix: pass V (H, W) "
                                  "arrays (a list or a (V, H, W) array)")
    elif isinstance(images, (list, tuple)):
        views = list(images)
    else:
        raise CarveInputError(f"images: {type(images).__name__}; fix: pass a list of (H, W) "
                              "uint8 or float32 numpy arrays")
    if not views:
        raise CarveInputError("images: no views; fix: pass at least one (H, W) image")
    out = []
    for v, img in enumerate(views):
        if not isinstance(img, np.ndarray):
            raise CarveInputError(f"images[{v}]: {type(img).__name__}, not a numpy array; "
                                  "fix: pass numpy arrays (torch tensors go to fastcore.torch_backend)")
        if img.ndim != 2:
            raise CarveInputError(f"images[{v}]: shape {img.shape}; fix: pass single-channel "
                                  "(H, W) images (debayer or convert to gray first)")
        if img.dtype not in (np.uint8, np.float32):
            raise CarveInputError(f"images[{v}]: dtype {img.dtype}; fix: pass uint8 or float32 "
                                  "(e.g. img.astype(np.float32))")
        if img.shape[0] < 1 or img.shape[1] < 1:
            raise CarveInputError(f"images[{v}]: empty image {img.shape}")
        if img.dtype != views[0].dtype:
            raise CarveInputError(f"images[{v}]: dtype {img.dtype} but images[0] is {views[0].dtype}; "
                                  "fix: give every view the same dtype")
        if img.shape != views[0].shape:
            raise CarveInputError(f"images[{v}]: shape {img.shape} but images[0] is {views[0].shape}; "
                                  "fix: give every view the same (H, W)")
        out.append(img if img.flags.c_contiguous else np.ascontiguousarray(img))
    return out


def _per_view(arr: np.ndarray, V: int, name: str, per: tuple[int, ...]) -> np.ndarray:
    if arr.shape == per:
        shared = arr
        arr = np.empty((V,) + per, np.float64)
        arr[...] = shared
        return arr
    if arr.shape[0] != V:
        raise CarveInputError(f"{name}: {arr.shape[0]} views but images has {V}; "
                              f"fix: pass one {per} per view")
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def _check_rotations(R: np.ndarray) -> None:
    """Each R[v] must be a rotation: |R^T R - I| <= 1e-4 elementwise and det > 0.

    Plain Python on the nine floats of each view: no BLAS/LAPACK (on a 2-core Pi their
    spinning worker threads would steal the carve kernel's second core) and no ufunc
    overhead for 3x3 matrices.
    """
    for v, ((a, b, c), (d, e, f), (g, h, i)) in enumerate(R.tolist()):
        det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        err = max(abs(a * a + d * d + g * g - 1.0), abs(b * b + e * e + h * h - 1.0),
                  abs(c * c + f * f + i * i - 1.0), abs(a * b + d * e + g * h),
                  abs(a * c + d * f + g * i), abs(b * c + e * f + h * i))
        if not (err <= 1e-4 and det > 0):
            raise CarveInputError(f"R[{v}]: not a rotation matrix (R^T R != I or det <= 0); "
                                  "fix: pass world-to-camera rotations")


def check_grid_size(grid_size, name: str = "grid_size") -> int:
    """An int in 1..1024, else CarveInputError naming ``name``."""
    if type(grid_size) is int and 1 <= grid_size <= MAX_GRID_SIZE:
        return grid_size            # the common case, without the ABC checks below
    if isinstance(grid_size, bool) or not isinstance(grid_size, numbers.Integral):
        raise CarveInputError(f"{name}: {grid_size!r} is not an integer; fix: pass N in 1..{MAX_GRID_SIZE}")
    if not 1 <= int(grid_size) <= MAX_GRID_SIZE:
        raise CarveInputError(f"{name}: {grid_size} outside 1..{MAX_GRID_SIZE}; fix: pass N in 1..{MAX_GRID_SIZE}")
    return int(grid_size)


def check_positive(value, name: str, allow_zero: bool = False) -> float:
    """A finite float > 0 (>= 0 with allow_zero), else CarveInputError naming ``name``."""
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise CarveInputError(f"{name}: {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise CarveInputError(f"{name}: {value}; fix: pass a finite number {'>= 0' if allow_zero else '> 0'}")
    return value


def check_carve_inputs(images, K, R, t, grid_size, voxel_size, grid_center=(0.0, 0.0, 0.0),
                       attenuation=0.0) -> CarveProblem:
    """Validate carve()'s arguments (see fastcore.carve) into a CarveProblem.

    K may be one (3, 3) shared by every view or (V, 3, 3); R (V, 3, 3); t (V, 3) or
    (V, 3, 1); a single view may pass R (3, 3) and t (3,).

    Raises:
        CarveInputError: (a ValueError) naming the bad argument.
    """
    views = _check_images(images)
    V = len(views)
    N = check_grid_size(grid_size)
    s = check_positive(voxel_size, "voxel_size")
    att = check_positive(attenuation, "attenuation", allow_zero=True)
    center = _finite_array(grid_center, "grid_center", ((3,),), "pass (x, y, z)")
    if not center.flags.c_contiguous:
        center = np.ascontiguousarray(center)
    K_arr = _per_view(_finite_array(K, "K", ((3, 3), (V, 3, 3)), f"pass (3, 3) or ({V}, 3, 3)"),
                      V, "K", (3, 3))
    R_arr = _per_view(_finite_array(R, "R", ((3, 3), (V, 3, 3)), f"pass ({V}, 3, 3) world-to-camera rotations"),
                      V, "R", (3, 3))
    t_arr = _finite_array(t, "t", ((3,), (3, 1), (V, 3), (V, 3, 1)), f"pass ({V}, 3) translations")
    t_arr = _per_view(t_arr.reshape(t_arr.shape[:-1]) if t_arr.shape[-1:] == (1,) else t_arr, V, "t", (3,))
    _check_rotations(R_arr)
    return CarveProblem(views, K_arr, R_arr, t_arr, N, s, center, att)


def check_out(out, N: int) -> np.ndarray:
    """A writeable C-contiguous float32 (N, N, N) array for out=, else CarveInputError."""
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != (N, N, N):
        desc = f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        raise CarveInputError(f"out: {desc}; fix: pass np.empty(({N}, {N}, {N}), np.float32) or None")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise CarveInputError("out: not a writeable C-contiguous array; fix: pass np.empty((N, N, N), np.float32)")
    return out
