"""What calibration's .npz/.npy files must hold, and the one reader every loader goes through.

The reading itself is :func:`camdeck.fileio.arrays.load_npz` (regular files under a cap, no
pickle, each array's header checked before its data, then shape, dtype, finiteness and range);
calibration adds the specs of its files (docs/design.md, "Files the project writes") and turns
a refusal into a ``CalibrationFileError`` naming the file, the key and the fix (exit 2).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from camdeck.calibration.errors import CalibrationFileError
from camdeck.fileio.arrays import ArraySpec, load_npy, load_npz
from camdeck.fileio.bounded import UnreadableFile

#: OpenCV distortion models: k1 k2 p1 p2 [k3 [k4 k5 k6 [s1..s4 [tx ty]]]].
DIST_SIZES = (4, 5, 8, 12, 14)
MAX_SIDE_PX = 65535

_MATRIX = ArraySpec(shape=(3, 3), kinds="fiu")
_DIST = ArraySpec(kinds="fiu", sizes=DIST_SIZES, max_ndim=2)
_SIZE = ArraySpec(shape=(2,), kinds="iu", low=1, high=MAX_SIDE_PX)
_RMS = ArraySpec(kinds="fiu", sizes=(1,), max_ndim=1, low=0.0, required=False)

#: calibration.npz (calibration.intrinsics.save_calibration).
CAMERA_SPEC: Mapping[str, ArraySpec] = {"K": _MATRIX, "dist": _DIST, "image_size": _SIZE,
                                        "rms": ArraySpec(kinds="fiu", sizes=(1,), max_ndim=1, low=0.0)}
#: stereo.npz (calibration.stereo.save_stereo): the rectification is recomputed, so not read.
STEREO_SPEC: Mapping[str, ArraySpec] = {"K1": _MATRIX, "dist1": _DIST, "K2": _MATRIX, "dist2": _DIST,
                                        "R": _MATRIX, "T": ArraySpec(kinds="fiu", sizes=(3,), max_ndim=2),
                                        "image_size": _SIZE, "rms": _RMS}
#: features/NNN.npz of a scan (calibration.features.save_features); N keypoints of D values.
FEATURES_SPEC: Mapping[str, ArraySpec] = {
    "keypoints": ArraySpec(shape=("N", 2), kinds="f", low=-1e6, high=1e6),
    "descriptors": ArraySpec(shape=("N", "D"), kinds="fiu"),
    "scores": ArraySpec(shape=("N",), kinds="fiu"),
    "sizes": ArraySpec(shape=("N",), kinds="fiu", low=0.0),
    "angles_deg": ArraySpec(shape=("N",), kinds="fiu", required=False),
    "method": ArraySpec(shape=(), kinds="U"),
    "image_size": _SIZE,
}
#: R_align.npy (calibration.align.save_r_align).
R_ALIGN_SPEC = ArraySpec(shape=(3, 3), kinds="f")


def read_npz(path: str | os.PathLike, spec: Mapping[str, ArraySpec], fix: str) -> dict[str, np.ndarray]:
    """The checked arrays of ``spec`` from the .npz at ``path``.

    Raises:
        CalibrationFileError: missing, not a regular file, not an .npz, or a key missing or
            malformed (the message names the file and the key).
    """
    if not os.path.lexists(path):
        raise CalibrationFileError(f"{path}: file not found", "give the path of a file camdeck wrote")
    try:
        return load_npz(path, spec, fix=fix)
    except UnreadableFile as err:
        raise CalibrationFileError(f"{err.path}: {err.problem}", err.fix) from None


def read_npy(path: str | os.PathLike, spec: ArraySpec, fix: str) -> np.ndarray:
    """The checked array in the .npy at ``path`` (errors as :func:`read_npz`)."""
    if not os.path.lexists(path):
        raise CalibrationFileError(f"{path}: file not found", fix)
    try:
        return load_npy(path, spec, fix=fix)
    except UnreadableFile as err:
        raise CalibrationFileError(f"{err.path}: {err.problem}", err.fix) from None


def check_camera_matrix(K: Any, path: str | os.PathLike, key: str, fix: str) -> np.ndarray:
    """``K`` as a (3, 3) float64 pinhole matrix: positive focal lengths, last row (0, 0, 1).

    Raises:
        CalibrationFileError: naming the file and the key.
    """
    K = np.asarray(K, dtype=np.float64)
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], (0.0, 0.0, 1.0)) or K[1, 0] != 0:
        raise CalibrationFileError(f"{path}: key {key} is not a camera matrix (fx, fy > 0, last row 0 0 1)", fix)
    return K
