"""Point clouds as binary little-endian PLY: x, y, z float32 and optional red, green, blue uint8."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from camdeck.calibration.outputs import write_atomic
from camdeck.calibration.errors import CalibrationFileError, CalibrationInputError


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Write a binary little-endian PLY, atomically (a temporary file replaces ``path`` when complete).

    Args:
        path: the file to write.
        points: (N, 3) x, y, z, metres (stored as float32).
        colors: (N, 3) uint8 red, green, blue, or None for no colour.

    Raises:
        CalibrationInputError: points or colours of the wrong shape, or non-finite points.
        CalibrationWriteError: the file cannot be written (names the file and the fix).
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise CalibrationInputError(f"points must be (N, 3), got shape {pts.shape}", "pass an (N, 3) array")
    if not np.all(np.isfinite(pts)):
        raise CalibrationInputError("points contain NaN or inf", "filter invalid points before writing")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        col = np.asarray(colors)
        if col.shape != pts.shape:
            raise CalibrationInputError(f"colors must match points {pts.shape}, got shape {col.shape}",
                                        "pass one (r, g, b) uint8 triple per point")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    rec = np.empty(len(pts), dtype=fields)
    rec["x"], rec["y"], rec["z"] = (pts[:, i].astype(np.float32) for i in range(3))
    if colors is not None:
        col = np.clip(np.asarray(colors), 0, 255).astype(np.uint8)
        rec["red"], rec["green"], rec["blue"] = col[:, 0], col[:, 1], col[:, 2]
    header = ["ply", "format binary_little_endian 1.0", "comment written by camdeck",
              f"element vertex {len(pts)}", "property float x", "property float y", "property float z"]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header.append("end_header")

    def write(fh) -> None:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(rec.tobytes())

    return write_atomic(path, write)


_PLY_TYPES = {"float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8", "uchar": "u1", "uint8": "u1",
              "char": "i1", "int8": "i1", "short": "<i2", "int16": "<i2", "ushort": "<u2", "uint16": "<u2",
              "int": "<i4", "int32": "<i4", "uint": "<u4", "uint32": "<u4"}


#: Largest PLY read, bytes (a 1920x1080 cloud with colour is about 31 MB).
PLY_CAP = 1024 * 1024 * 1024


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a binary little-endian PLY of vertices.

    Returns:
        points (N, 3) float32 and colours (N, 3) uint8 (None when the file has none).

    Raises:
        CalibrationFileError: missing, not a regular file, over 1 GiB, not a binary little-endian
            vertex PLY, or truncated.
    """
    from camdeck.fileio.bounded import UnreadableFile, read_regular

    path = Path(path)
    try:
        data = read_regular(path, cap=PLY_CAP)          # a FIFO or a device would never end
    except UnreadableFile as err:
        raise CalibrationFileError(f"{path}: {err.problem}", "give an existing PLY file") from None
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise CalibrationFileError(f"{path}: not a PLY file", "give a PLY written by camdeck pointcloud")
    lines = data[:end].decode("ascii", "replace").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise CalibrationFileError(f"{path}: only binary little-endian PLY is read", "write it with camdeck")
    n, fields, in_vertex = 0, [], False
    for line in lines:
        parts = line.split()
        if parts[:2] == ["element", "vertex"]:
            if len(parts) != 3 or not parts[2].isdigit():
                raise CalibrationFileError(f"{path}: bad vertex count in {line!r}", "write it again")
            n, in_vertex = int(parts[2]), True
        elif parts and parts[0] == "element":
            in_vertex = False
        elif in_vertex and parts[:1] == ["property"] and len(parts) == 3 and parts[1] in _PLY_TYPES:
            fields.append((parts[2], _PLY_TYPES[parts[1]]))
    body = data[end + len(b"end_header\n"):]
    try:
        dtype = np.dtype(fields)
    except (TypeError, ValueError):                       # e.g. a property named twice
        raise CalibrationFileError(f"{path}: malformed vertex properties", "write it again") from None
    if len(body) < n * dtype.itemsize or not {"x", "y", "z"} <= set(dtype.names or ()):
        raise CalibrationFileError(f"{path}: truncated or without x, y, z", "write it again")
    rec = np.frombuffer(body, dtype=dtype, count=n)
    pts = np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float32)
    cols = None
    if {"red", "green", "blue"} <= set(dtype.names):
        cols = np.stack([rec["red"], rec["green"], rec["blue"]], axis=1).astype(np.uint8)
    return pts, cols
