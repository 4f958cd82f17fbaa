"""Frame -> image conversions shared by commands and jobs (cv2 imported inside functions).

OpenCV names Bayer patterns after the second row: RGGB sensor data needs
``COLOR_BayerBG2RGB`` (OpenCV 5 adds the honest alias ``COLOR_BayerRGGB2RGB``).
tests/drivers/test_imaging.py pins this down with a pure-red mosaic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from camdeck.fileio.atomic import write_bytes_atomic
from camdeck.drivers.base import Frame


def debayer_rggb(raw: np.ndarray) -> np.ndarray:
    """Demosaic an RGGB Bayer image.

    Args:
        raw: (H, W) uint8 or uint16 mosaic, R at (0, 0).
    Returns:
        (H, W, 3) RGB of the same dtype.
    """
    import cv2

    code = getattr(cv2, "COLOR_BayerRGGB2RGB", cv2.COLOR_BayerBG2RGB)
    return cv2.cvtColor(np.ascontiguousarray(raw), code)


def frame_to_rgb(frame: Frame) -> np.ndarray:
    """Any frame as (H, W, 3) RGB: RAW Bayer is demosaiced, BGR is swapped, RGB passes."""
    fmt = frame.format
    if fmt.startswith("RAW"):
        return debayer_rggb(frame.array)
    if fmt == "BGR":
        return np.ascontiguousarray(frame.array[..., ::-1])
    return frame.array


def write_image_atomic(path: Path, rgb: np.ndarray) -> Path:
    """Encode ``rgb`` (H, W, 3) by the file's suffix (.png/.jpg/.tif) and write it atomically.

    The image goes to a temporary file beside ``path`` that replaces it only when
    complete, so an interrupted write never leaves half a file.

    Raises:
        ValueError: the suffix is not an image format OpenCV can write.
        OSError: the folder cannot be written.
    """
    import cv2

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
        raise ValueError(f"{path}: unknown image type {suffix or '(none)'}; use .png, .jpg or .tif")
    bgr = rgb[..., ::-1] if rgb.ndim == 3 else rgb
    ok, data = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the image as {suffix}")
    write_bytes_atomic(path, data.tobytes())
    return path
