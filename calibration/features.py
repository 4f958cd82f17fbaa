"""Local features of scan frames: extraction (SIFT; DISK through kornia) and ``features/*.npz`` files.

A features file holds ``keypoints`` (N, 2) float32 pixel coordinates (x right, y down, pixel
centres at integers), ``descriptors`` (N, D) float32 (SIFT: D = 128, OpenCV's values;
DISK: D = 128), ``scores`` (N,) float32 (SIFT: response; DISK: detection
score), ``sizes`` (N,) float32 (SIFT keypoint diameter px; DISK: 0), ``method`` ("sift" | "disk"),
``image_size`` (w, h) and, from SIFT, ``angles_deg`` (N,) float32 (OpenCV's keypoint angle; files
without it read as zeros).

SIFT features are also exported the way COLMAP's feature import (``colmap feature_importer
--image_path images --import_path features``) reads them: ``features/<image name>.txt`` with the
header ``N 128`` and one line per keypoint ``x y scale orientation d1 ... d128``: x, y in COLMAP's
pixel convention (the centre of the top-left pixel is (0.5, 0.5), OpenCV's +0.5), scale the
keypoint's sigma (OpenCV's diameter / 2), orientation in radians, descriptors as integers 0-255
(OpenCV's SIFT descriptors are already on that scale). DISK descriptors are not SIFT's and have
no such export.

DISK needs its pretrained weights on this machine: ``$CAMDECK_DISK_WEIGHTS`` or the torch hub
cache's ``checkpoints/depth-save.pth``. Nothing is downloaded here; without the file the
error says where to put it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camdeck.calibration.errors import CalibrationInputError
from camdeck.fastcore.extras import require_extra

METHODS = ("sift", "disk")
DISK_WEIGHTS_FILE = "depth-save.pth"


@dataclass(frozen=True)
class Features:
    """Keypoints and descriptors of one image.

    Attributes:
        keypoints: (N, 2) float32 pixel coordinates (x, y).
        descriptors: (N, D) float32.
        scores: (N,) float32 detector response.
        sizes: (N,) float32 keypoint diameter in px (0 when the method has none).
        method: "sift" or "disk".
        image_size: (width, height) px of the image they came from.
        angles_deg: (N,) float32 keypoint orientation (OpenCV's angle, degrees), or None.
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    scores: np.ndarray
    sizes: np.ndarray
    method: str
    image_size: tuple[int, int]
    angles_deg: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])


def _gray(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 from (H, W) or (H, W, 3) RGB uint8/uint16/float."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3:
        if img.shape[2] != 3:
            raise CalibrationInputError(f"expected an (H, W, 3) RGB image, got shape {img.shape}",
                                        "pass an RGB frame")
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    elif img.ndim != 2:
        raise CalibrationInputError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}",
                                    "pass a grey or RGB frame")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return img


def extract_features(image: np.ndarray, method: str = "sift", *, max_features: int = 4000,
                     device: str = "cpu", mask: np.ndarray | None = None,
                     contrast_threshold: float | None = None) -> Features:
    """Detect keypoints and compute descriptors.

    Args:
        image: (H, W, 3) RGB or (H, W) grey image.
        method: "sift" (OpenCV) or "disk" (kornia, local weights required).
        max_features: keep at most this many, strongest first.
        device: torch device for DISK.
        mask: optional (H, W) array; keypoints only where it is non-zero.
        contrast_threshold: SIFT's contrast threshold (None: OpenCV's 0.04); lower finds more
            keypoints in smooth (e.g. upsampled) images. DISK ignores it.
    Raises:
        CalibrationInputError: unknown method, a bad image, or DISK weights missing (the fix says where).
    """
    if method not in METHODS:
        raise CalibrationInputError(f"unknown feature method {method!r}", f"use one of {', '.join(METHODS)}")
    gray = _gray(image)
    size = (int(gray.shape[1]), int(gray.shape[0]))
    if mask is not None:
        mask = (np.asarray(mask) != 0).astype(np.uint8)
        if mask.shape != gray.shape:
            raise CalibrationInputError(f"mask of shape {mask.shape} for an image of shape {gray.shape}",
                                        "pass a mask of the image's height and width")
    if method == "sift":
        return _sift(gray, size, max_features, mask, contrast_threshold)
    feats = _disk(np.asarray(image), size, max_features, device)
    if mask is None or not len(feats):
        return feats
    x = np.clip(np.rint(feats.keypoints[:, 0]).astype(int), 0, size[0] - 1)
    y = np.clip(np.rint(feats.keypoints[:, 1]).astype(int), 0, size[1] - 1)
    keep = mask[y, x] != 0
    return Features(feats.keypoints[keep], feats.descriptors[keep], feats.scores[keep], feats.sizes[keep],
                    feats.method, feats.image_size)


def _sift(gray: np.ndarray, size: tuple[int, int], max_features: int, mask: np.ndarray | None = None,
          contrast_threshold: float | None = None) -> Features:
    import cv2

    sift = (cv2.SIFT_create(nfeatures=max_features) if contrast_threshold is None
            else cv2.SIFT_create(nfeatures=max_features, contrastThreshold=contrast_threshold))
    kps, desc = sift.detectAndCompute(gray, mask)
    if desc is None or not kps:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), np.zeros(0, np.float32),
                        np.zeros(0, np.float32), "sift", size)
    pts = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
    scores = np.array([k.response for k in kps], np.float32)
    sizes = np.array([k.size for k in kps], np.float32)
    angles = np.array([k.angle for k in kps], np.float32)
    order = np.argsort(-scores, kind="stable")[:max_features]
    return Features(pts[order], desc[order].astype(np.float32), scores[order], sizes[order], "sift", size,
                    angles[order])


def disk_weights_path() -> Path | None:
    """The local DISK checkpoint, or None: ``$CAMDECK_DISK_WEIGHTS``, else torch hub's checkpoints folder."""
    env = os.environ.get("CAMDECK_DISK_WEIGHTS")
    if env:
        return Path(env) if Path(env).is_file() else None
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    path = Path(torch_home) / "hub" / "checkpoints" / DISK_WEIGHTS_FILE
    return path if path.is_file() else None


_DISK_MODELS: dict[str, object] = {}


def _disk(image: np.ndarray, size: tuple[int, int], max_features: int, device: str) -> Features:
    weights = disk_weights_path()
    if weights is None:
        raise CalibrationInputError(
            "DISK features need kornia's pretrained weights, which are not on this machine",
            f"put {DISK_WEIGHTS_FILE} (kornia DISK 'depth' checkpoint) in ~/.cache/torch/hub/checkpoints/ "
            "or point CAMDECK_DISK_WEIGHTS at it, or use features = \"sift\"")
    torch = require_extra("torch", 'features = "disk"')
    DISK = require_extra("kornia.feature", 'features = "disk"').DISK

    model = _DISK_MODELS.get(device)
    if model is None:
        state = torch.load(weights, map_location=device)
        model = DISK().to(device)
        model.load_state_dict(state["extractor"] if "extractor" in state else state)
        model.eval()
        _DISK_MODELS[device] = model
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    t = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        out = model(t, n=max_features, pad_if_not_divisible=True)[0]
    pts = out.keypoints.cpu().numpy().astype(np.float32)
    desc = out.descriptors.cpu().numpy().astype(np.float32)
    scores = out.detection_scores.cpu().numpy().astype(np.float32)
    return Features(pts, desc, scores, np.zeros(len(pts), np.float32), "disk", size)


def save_features(path: str | os.PathLike, features: Features) -> Path:
    """Write ``features`` as an .npz (atomically: a temporary file replaced when complete).

    Raises:
        CalibrationWriteError: the file cannot be written (names the file and the fix).
    """
    from camdeck.calibration.outputs import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda fh: np.savez(
        fh, keypoints=features.keypoints, descriptors=features.descriptors, scores=features.scores,
        sizes=features.sizes, method=np.array(features.method), image_size=np.array(features.image_size),
        angles_deg=features.angles_deg if features.angles_deg is not None else np.zeros(len(features), np.float32)))


def load_features(path: str | os.PathLike) -> Features:
    """Read a features .npz written by :func:`save_features`.

    Raises:
        CalibrationFileError: missing, not a regular file, not an .npz, or a key missing or
            malformed (the message names the file and the key).
    """
    from camdeck.calibration.files import FEATURES_SPEC, read_npz

    data = read_npz(path, FEATURES_SPEC, "delete it (features are recomputed from the image) or collect the scan again")
    n = len(data["keypoints"])
    return Features(keypoints=data["keypoints"].astype(np.float32), descriptors=data["descriptors"].astype(np.float32),
                    scores=data["scores"].astype(np.float32), sizes=data["sizes"].astype(np.float32),
                    method=str(data["method"]), image_size=tuple(int(x) for x in data["image_size"]),
                    angles_deg=(data["angles_deg"].astype(np.float32) if "angles_deg" in data
                                else np.zeros(n, np.float32)))


def save_colmap_features(path: str | os.PathLike, features: Features) -> Path:
    """Write SIFT ``features`` as a COLMAP feature-import text file (see the module docstring), atomically.

    Args:
        path: ``<import folder>/<image name>.txt``, e.g. ``features/000.png.txt`` for ``images/000.png``.
    Raises:
        CalibrationInputError: the features are not 128-dimensional SIFT.
        OSError: the file cannot be written.
    """
    from camdeck.fileio.atomic import write_text_atomic

    if features.method != "sift" or features.descriptors.shape[1:] != (128,):
        raise CalibrationInputError(f"COLMAP's feature import takes 128-dimensional SIFT, not {features.method!r}",
                                    'use features = "sift" for a COLMAP export')
    angles = features.angles_deg if features.angles_deg is not None else np.zeros(len(features), np.float32)
    desc = np.clip(np.rint(features.descriptors), 0, 255).astype(np.uint8)
    lines = [f"{len(features)} 128"]
    for (x, y), size, angle, d in zip(features.keypoints, features.sizes, angles, desc):
        lines.append(f"{x + 0.5:.4f} {y + 0.5:.4f} {size / 2.0:.4f} {np.radians(angle):.6f} " + " ".join(map(str, d)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, "\n".join(lines) + "\n")
