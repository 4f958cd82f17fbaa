"""Voxel grid files: ``.npy`` and the raw ``.bin`` the stereo rig streams.

``.bin`` layout (little-endian, 64-byte header, then the data in C order [i, j, k]):

    offset size  field
    0      8     magic b"CDVOXEL1"
    8      4     N (uint32), the grid is N x N x N
    12     4     header size in bytes (uint32, 64)
    16     8     voxel size (float64)
    24     24    grid centre x, y, z (3 x float64)
    48     8     dtype, numpy's dtype.str in ASCII padded with NUL ("<f4", "|u1", "<f8")
    56     8     reserved (zero)
    64     N^3 * itemsize   data

``.npy`` holds the array only (np.save); its voxel size and centre are unknown on load.
"""
from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camdeck.fastcore.errors import FastcoreError, GridFileError
from camdeck.fileio.arrays import ArraySpec, load_npy
from camdeck.fileio.atomic import replace_atomically, write_fix
from camdeck.fileio.bounded import UnreadableFile, check_regular

MAGIC = b"CDVOXEL1"
HEADER_SIZE = 64
_HEADER = struct.Struct("<8sII d3d 8s 8x")
GRID_DTYPES = (np.dtype("<f4"), np.dtype("|u1"), np.dtype("<f8"))
MAX_N = 1024


@dataclass
class VoxelGrid:
    """A loaded grid: data (N, N, N) indexed [i, j, k]; voxel_size and grid_center (3,)
    are None when the file does not carry them (.npy)."""

    data: np.ndarray
    voxel_size: float | None = None
    grid_center: tuple[float, float, float] | None = None


def save_grid(path, grid: np.ndarray, voxel_size: float | None = None,
              grid_center=(0.0, 0.0, 0.0)) -> Path:
    """Write ``grid`` (N, N, N) float32/uint8/float64 to ``path`` (.npy or .bin).

    The write goes to a temporary file that is renamed into place, so a reader never
    sees a half-written grid. ``.bin`` needs ``voxel_size``.

    Raises:
        GridFileError: unknown suffix, a non-cubic grid, an unsupported dtype, or .bin
            without voxel_size.
        FastcoreError: the file cannot be written (full disk, permissions); the old file,
            if any, is left as it was and no temporary file remains.
    """
    path = Path(path)
    grid = np.asarray(grid)
    if grid.ndim != 3 or len(set(grid.shape)) != 1 or not 1 <= grid.shape[0] <= MAX_N:
        raise GridFileError(f"grid: shape {grid.shape}; fix: pass an (N, N, N) array, N in 1..{MAX_N}")
    dtype = grid.dtype.newbyteorder("<") if grid.dtype.byteorder == ">" else grid.dtype
    if np.dtype(dtype) not in GRID_DTYPES:
        raise GridFileError(f"grid: dtype {grid.dtype}; fix: save float32, uint8 or float64")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        def write(fh):
            np.save(fh, np.ascontiguousarray(grid, dtype=dtype), allow_pickle=False)
    elif suffix == ".bin":
        if voxel_size is None or not np.isfinite(voxel_size) or voxel_size <= 0:
            raise GridFileError(f"voxel_size: {voxel_size!r}; fix: a .bin grid needs voxel_size > 0")
        cx, cy, cz = (float(c) for c in np.asarray(grid_center, dtype=np.float64).reshape(3))
        dt = np.dtype(dtype)
        header = _HEADER.pack(MAGIC, grid.shape[0], HEADER_SIZE, float(voxel_size), cx, cy, cz,
                              dt.str.encode("ascii"))

        def write(fh):
            fh.write(header)
            fh.write(np.ascontiguousarray(grid, dtype=dt).tobytes())
    else:
        raise GridFileError(f"{path}: unknown suffix {path.suffix!r}; fix: use .npy or .bin")
    try:
        replace_atomically(path, write)
    except OSError as err:
        raise FastcoreError(f"{path}: cannot be written ({err.strerror or err}); "
                            f"fix: {write_fix(err, path.parent)}") from None
    return path


def load_grid(path) -> VoxelGrid:
    """Read a grid written by ``save_grid`` (or by the stereo rig).

    Only a regular file is opened (a FIFO or a device would block or never end), of at most
    the size of a 1024^3 float64 grid.

    Raises:
        GridFileError: (a ValueError) the file is missing, not a regular file, truncated, not a
            camdeck grid, not cubic, or of an unsupported dtype; the message names the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".bin"):
        raise GridFileError(f"{path}: unknown suffix {path.suffix!r}; fix: load a .npy or .bin grid")
    if not os.path.lexists(path):
        raise GridFileError(f"{path}: no such file; fix: check the path")
    try:
        if suffix == ".npy":
            return _load_npy(path)
        return _load_bin(path)
    except UnreadableFile as err:
        raise GridFileError(str(err)) from None


#: The largest grid file: a 1024^3 float64 grid and its header.
GRID_CAP = MAX_N ** 3 * 8 + 4096
_GRID_SPEC = ArraySpec(kinds="fu", finite=False, max_ndim=8)      # NaN is a value (fastcore's NaN policy)


def _load_npy(path: Path) -> VoxelGrid:
    data = load_npy(path, _GRID_SPEC, fix="re-save it with camdeck", cap=GRID_CAP)
    if data.ndim != 3 or len(set(data.shape)) != 1 or not 1 <= data.shape[0] <= MAX_N:
        raise GridFileError(f"{path}: holds shape {data.shape}, not an (N, N, N) grid with N in 1..{MAX_N}; "
                            "fix: give a grid camdeck saved")
    if data.dtype.newbyteorder("<") not in GRID_DTYPES and data.dtype not in GRID_DTYPES:
        raise GridFileError(f"{path}: dtype {data.dtype}; fix: grids are float32, uint8 or float64")
    return VoxelGrid(data)


def _load_bin(path: Path) -> VoxelGrid:
    size = check_regular(path, cap=GRID_CAP)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):     # swapped between the check and the open
            raise GridFileError(f"{path}: not a regular file; fix: give a grid file")
        head = fh.read(HEADER_SIZE)
        if len(head) < 8 or head[:8] != MAGIC:
            raise GridFileError(f"{path}: not a camdeck voxel grid (magic {head[:8]!r}, "
                                f"expected {MAGIC!r}); fix: give a grid camdeck reconstruct saved")
        if len(head) < HEADER_SIZE:
            raise GridFileError(f"{path}: truncated header ({len(head)} of {HEADER_SIZE} bytes); "
                                "fix: give a whole grid file (was its copy cut short?)")
        magic, N, header_size, voxel_size, cx, cy, cz, dtype_raw = _HEADER.unpack(head)
        if header_size < HEADER_SIZE or not 1 <= N <= MAX_N:
            raise GridFileError(f"{path}: corrupt header (N={N}, header size {header_size}); "
                                "fix: re-copy or re-save the grid")
        try:
            dtype = np.dtype(dtype_raw.rstrip(b"\0").decode("ascii"))
        except (UnicodeDecodeError, TypeError):
            dtype = None
        if dtype not in GRID_DTYPES:
            shown = dtype_raw.rstrip(b"\0")
            raise GridFileError(f"{path}: unsupported dtype {shown!r} in header; "
                                "fix: grids are float32, uint8 or float64")
        expected = N ** 3 * dtype.itemsize
        if size - header_size != expected:
            what = "truncated" if size - header_size < expected else "has trailing bytes"
            raise GridFileError(f"{path}: {what}: {size - header_size} data bytes, expected {expected} "
                                f"for {N}^3 {dtype}; fix: re-copy or re-save the grid")
        fh.seek(header_size)
        data = np.fromfile(fh, dtype=dtype, count=N ** 3)
    if data.size != N ** 3:
        raise GridFileError(f"{path}: truncated while read ({data.size} of {N ** 3} voxels); fix: re-copy the grid")
    if not (np.isfinite(voxel_size) and voxel_size > 0) or not all(np.isfinite((cx, cy, cz))):
        raise GridFileError(f"{path}: corrupt header (voxel size {voxel_size}, centre {(cx, cy, cz)}); "
                            "fix: re-save the grid")
    return VoxelGrid(data.reshape(N, N, N), float(voxel_size), (cx, cy, cz))
