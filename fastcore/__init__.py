"""fastcore: voxel carving kernels, grid I/O and the live reconstruction job.

``carve`` is the one entry point (docs/design.md, fastcore contract): a validating Python
front over lean backends -- the Cython kernel (fastcore._carve), the numpy reference
(fastcore.reference) and torch (fastcore.torch_backend, CPU or CUDA). Only numpy is
imported here; torch and cv2 are imported inside the functions that use them.
fastcore imports nothing from the rest of camdeck but fileio (atomic writes of grid files).

NaN policy, the same on every backend (tests/fastcore/test_nan_policy.py): NaN or infinity in
K, R, t, grid_center, voxel_size or attenuation is refused (CarveInputError). In a float32
image NaN and +-inf are values: a voxel that any view sees (in front of it, inside its image)
as NaN is NaN, never +inf or a number from another view (as ``np.minimum``); +-inf take part in
the minimum like any value, and an infinite pixel whose attenuation factor underflows to 0 gives
NaN (IEEE inf * 0). uint8 images cannot hold NaN.
"""
from __future__ import annotations

import os

import numpy as np

from camdeck.fastcore.devices import DEVICES, DeviceUnavailable, resolve_device
from camdeck.fastcore.errors import BackendUnavailable, CarveInputError, FastcoreError, GridFileError
from camdeck.fastcore.grid_io import VoxelGrid, load_grid, save_grid
from camdeck.fastcore.validation import BACKENDS, U8_TO_FLOAT, check_carve_inputs, check_out

__all__ = [
    "carve", "empty_grid", "process_image_to_voxel_grid", "available_backends", "cython_available",
    "save_grid", "load_grid", "VoxelGrid",
    "FastcoreError", "CarveInputError", "GridFileError", "BackendUnavailable",
    "DEVICES", "DeviceUnavailable", "resolve_device",
]


# The kernel's idle OpenMP threads sleep rather than spin: on a shared CPU (a Pi's capture and
# TUI, or any other busy process) libgomp's default spin-wait took the 64^3 dense-scene median
# from ~0.9 ms to ~17 ms and its p90 beside one busy process to ~96 ms (docs/design.md, "Thread
# policy"). libgomp reads this once, when it is loaded (with fastcore._carve, after this line);
# an operator's own OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

_CARVE_MODULE = None      # fastcore._carve once imported; False when it cannot be


def _carve_module():
    global _CARVE_MODULE
    if _CARVE_MODULE is None:
        try:
            from camdeck.fastcore import _carve
        except ImportError:
            _CARVE_MODULE = False
        else:
            _CARVE_MODULE = _carve
    return _CARVE_MODULE


def empty_grid(N: int) -> np.ndarray:
    """An uninitialised (N, N, N) float32 grid starting on a 64-byte cache line.

    ``carve`` allocates its grids this way; pass one as ``out=`` to reuse it. On x86-64 with
    AVX-512 VBMI the kernel then streams whole cache lines of a big grid straight from its
    tiles (1.6-1.8 ms less at 256^3 than a grid numpy placed 16 bytes into a line, which goes
    through a staging copy).
    """
    nbytes = N * N * N * 4
    raw = np.empty(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + nbytes].view(np.float32).reshape(N, N, N)


def cython_available() -> bool:
    """True when the compiled kernel (fastcore._carve) can be imported."""
    return _carve_module() is not False


def available_backends() -> list[str]:
    """The backends usable here, fastest first ("cython", "torch", "numpy")."""
    from camdeck.fastcore.extras import has_extra

    names = ["cython"] if cython_available() else []
    if has_extra("torch"):
        names.append("torch")
    return names + ["numpy"]


def carve(images, K, R, t, grid_size, voxel_size, grid_center=(0.0, 0.0, 0.0),
          attenuation=0.0, backend="auto", out=None, device=None) -> np.ndarray:
    """Carve a voxel grid from V calibrated views (space carving by minimum).

    For each voxel centre ``X = grid_center + ([i, j, k] - (N - 1) / 2) * voxel_size`` and
    each view, ``(x, y, z) = K @ (R @ X + t)``; the view's value is the pixel
    ``(floor(y/z + 0.5), floor(x/z + 0.5))`` (uint8 as value/255, float32 as is) times
    ``exp(-attenuation * |X - C|)`` when z > 0 and the pixel is inside the image, else 0.
    The voxel is the minimum over the views; a NaN that any view sees makes it NaN (the NaN
    policy in the module doc).

    Args:
        images: V images (H, W), all uint8 or all float32, same shape; a list or a
            (V, H, W) array (a single (H, W) array is one view).
        K: (3, 3) shared or (V, 3, 3) intrinsics, pixels.
        R: (V, 3, 3) world-to-camera rotations (x_cam = R @ X + t).
        t: (V, 3) translations, same length unit as voxel_size.
        grid_size: N in 1..1024 (the grid is N x N x N).
        voxel_size: edge of a voxel (> 0).
        grid_center: (3,) world position of the grid centre.
        attenuation: >= 0, per unit length (0: no attenuation).
        backend: "cython" (default when built), "numpy", "torch" or "auto".
        out: optional (N, N, N) float32 C-contiguous array to write into (reused, no allocation).
        device: where to run: None or "cpu"; "cuda" / "cuda:N" (the torch backend on that GPU,
            the grid copied back into ``out``); "auto" (CUDA when torch sees a GPU, else the
            CPU). A CUDA device takes backend "torch" or "auto"; the others run on the CPU only.

    Returns:
        (N, N, N) float32 grid indexed [i, j, k] = [x, y, z] (``out`` when given).

    Raises:
        CarveInputError: (a ValueError) naming the bad argument: image shapes or dtypes,
            non-finite K/R/t, grid size outside 1..1024, a bad out=, an unknown backend.
        BackendUnavailable: backend="cython" without the built extension, or "torch" without torch.
        DeviceUnavailable: (a BackendUnavailable) a CUDA device that is not there.
    """
    problem = check_carve_inputs(images, K, R, t, grid_size, voxel_size, grid_center, attenuation)
    N = problem.grid_size
    out = empty_grid(N) if out is None else check_out(out, N)
    dev, name = _resolve_device_backend(device, backend)
    if name == "cython":
        return _carve_cython(problem, out)
    if name == "torch":
        from camdeck.fastcore.torch_backend import carve_problem_torch
        grid = carve_problem_torch(problem, device=dev)
        out[...] = grid.cpu().numpy() if dev != "cpu" else grid.numpy()
        return out
    from camdeck.fastcore.reference import carve_problem
    return carve_problem(problem, out)


def _resolve_device_backend(device, backend) -> tuple[str, str]:
    """(device, backend) to run: a GPU device takes the torch backend ("auto" picks it)."""
    if backend not in BACKENDS:
        raise CarveInputError(f"backend: {backend!r}; fix: pass one of {', '.join(BACKENDS)}")
    dev = resolve_device(device, f"device {device!r}")
    if dev == "cpu":
        return dev, _resolve_backend(backend)
    if backend not in ("auto", "torch"):
        raise CarveInputError(f"backend {backend!r} runs on the CPU only, device {device!r} asked for a GPU; "
                              "fix: pass backend 'torch' (or 'auto') with a CUDA device, or device 'cpu'")
    return dev, "torch"


def _resolve_backend(backend) -> str:
    if backend == "auto":
        return "cython" if cython_available() else "numpy"
    if backend not in BACKENDS:
        raise CarveInputError(f"backend: {backend!r}; fix: pass one of {', '.join(BACKENDS)}")
    if backend == "cython" and not cython_available():
        raise BackendUnavailable("backend 'cython': the compiled kernel fastcore._carve is not built; "
                                 "fix: pip install --no-build-isolation -e . (needs a C compiler)")
    if backend == "torch":
        from camdeck.fastcore.extras import has_extra, missing_note
        if not has_extra("torch"):
            raise BackendUnavailable(missing_note("torch", "backend 'torch'"))
    return backend


def _carve_cython(problem, out: np.ndarray) -> np.ndarray:
    _carve = _carve_module()
    if problem.is_uint8 and problem.attenuation == 0.0:
        coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center,
                                   problem.grid_size, problem.voxel_size)
        _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, 0)
    else:
        _carve.carve_general(problem.images, problem.is_uint8, problem.projection_coefficients(),
                             problem.camera_centers(), problem.corner(), problem.voxel_size,
                             problem.attenuation, out, U8_TO_FLOAT, 0)
    return out


def process_image_to_voxel_grid(image, camera_position, camera_rotation, grid_size, voxel_size,
                                grid_center=(0.0, 0.0, 0.0), attenuation=0.0, *, K=None,
                                backend="auto", out=None) -> np.ndarray:
    """The stereo rig's original one-view call, on top of ``carve``.

    Args:
        image: (H, W) uint8 or float32.
        camera_position: (3,) camera centre C in the world.
        camera_rotation: (3, 3) camera-to-world rotation (columns: the camera axes in the world).
        grid_size, voxel_size, grid_center, attenuation: as in ``carve``.
        K: optional (3, 3); default f = max(H, W) px, principal point at the image centre
            ((W - 1) / 2, (H - 1) / 2).

    Returns:
        (N, N, N) float32: ``carve([image], K, R.T, -R.T @ C, ...)``.

    Raises:
        CarveInputError: naming the bad argument.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 2:
        raise CarveInputError(f"image: {getattr(image, 'shape', type(image).__name__)}; "
                              "fix: pass one (H, W) uint8 or float32 array")
    rot = _finite(camera_rotation, "camera_rotation", (3, 3))
    pos = _finite(camera_position, "camera_position", (3,))
    if K is None:
        H, W = image.shape
        f = float(max(H, W))
        K = np.array([[f, 0.0, (W - 1) / 2.0], [0.0, f, (H - 1) / 2.0], [0.0, 0.0, 1.0]])
    R = rot.T
    return carve([image], K, R[None], -np.einsum("ab,b->a", R, pos)[None], grid_size, voxel_size, grid_center,
                 attenuation, backend=backend, out=out)


def _finite(value, name: str, shape: tuple) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CarveInputError(f"{name}: not numeric") from None
    if arr.shape != shape:
        raise CarveInputError(f"{name}: shape {arr.shape}; fix: pass {shape}")
    if not np.all(np.isfinite(arr)):
        raise CarveInputError(f"{name}: contains NaN or inf; fix: pass finite values")
    return arr
