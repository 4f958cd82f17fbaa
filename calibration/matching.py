"""Correspondences between a query frame and a reference frame, as rays in the mount frame B.

Two ways, chosen per pair by the views' focal lengths (calibration.views):

- *direct*: the frames' own features (stored ``features/*.npz``, else extracted) are matched
  (mutual nearest neighbours passing Lowe's ratio test); each keypoint's ray comes from its
  frame's K and distortion and is lifted into B with the frame's pan/tilt;
- *resampled*, for a query zoomed in well past the reference (its pixels more than 1.5 times
  finer): both images are resampled into one virtual camera at the query's orientation
  (calibration.views.virtual_view), features are extracted there, inside the part both show,
  and matched. A virtual pixel's ray is the virtual camera's, exactly, on both sides, so the
  resampling changes which features are found, never where the rays point.

Either way the result satisfies ``b_r ≈ ΔR · b_q`` (calibration.offsets).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camdeck.calibration.errors import CalibrationFileError
from camdeck.calibration.features import Features, extract_features, load_features
from camdeck.calibration.views import View, needs_resampling, pixels_to_rays, resample_into, view_of, virtual_view

#: SIFT's contrast threshold in the virtual camera: its images are smooth (upsampled from the
#: reference), so their difference-of-Gaussian responses are weaker than a camera frame's.
_CONTRAST_THRESHOLD = 0.01
#: Virtual-image pixels kept clear of the border of the shared part (SIFT's support of a
#: keypoint reaches this far; beyond the border the resampled image is padding).
_BORDER_PX = 8


class FrameSource:
    """One scan frame with its view, features and image, each read or computed once.

    Args:
        frame: a ``calibration.align.ScanFrame``.
        size: its scan's image size (w, h) (0s: from K).
        method, max_features: the feature method and cap (calibration.features).
    """

    def __init__(self, frame: Any, size: tuple[int, int], method: str, max_features: int) -> None:
        self.frame = frame
        self.view: View = view_of(frame, size)
        self.method = method
        self.max_features = max_features
        self._features: Features | None = None
        self._image: np.ndarray | None = None

    def image(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB.

        Raises:
            CalibrationFileError: the image is missing or unreadable.
        """
        if self._image is None:
            self._image = read_rgb(self.frame.image)
        return self._image

    def features(self) -> Features:
        """Stored features when the manifest names them and they are of ``method``, else extracted.

        Raises:
            CalibrationFileError: a features file the manifest names is there but damaged
                (truncated, wrong shapes, NaN): the scan is, so the user hears of it.
        """
        if self._features is None:
            path = self.frame.features
            if path is not None and os.path.lexists(path):      # absent: computed on the fly (design)
                stored = load_features(path)
                if stored.method == self.method:
                    self._features = stored
            if self._features is None:
                self._features = extract_features(self.image(), self.method, max_features=self.max_features)
        return self._features


#: Largest scan image read, bytes (a 4K PNG is a few tens of MB).
IMAGE_CAP = 256 * 1024 * 1024


def read_rgb(path: Path) -> np.ndarray:
    """A scan image as (H, W, 3) uint8 RGB.

    Raises:
        CalibrationFileError: missing or not an image (names the file).
    """
    import cv2

    from camdeck.fileio.bounded import UnreadableFile, check_regular

    try:
        check_regular(path, what="scan image", cap=IMAGE_CAP)      # a FIFO would block imread
    except UnreadableFile as err:
        problem = "not found" if not os.path.lexists(path) else err.problem
        raise CalibrationFileError(f"scan image {path}: {problem}", "collect the scan again") from None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CalibrationFileError(f"scan image {path}: not a readable image", "collect the scan again")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def match_features(query: Features, ref: Features, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours passing the ratio test: (query idx (M,), ref idx (M,))."""
    import cv2

    if len(query) < 2 or len(ref) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    fwd = matcher.knnMatch(query.descriptors, ref.descriptors, k=2)
    back = matcher.match(ref.descriptors, query.descriptors)
    back_of = {m.queryIdx: m.trainIdx for m in back}
    qi, ri = [], []
    for pair in fwd:
        if len(pair) < 2:
            continue
        best, second = pair
        if best.distance < ratio * second.distance and back_of.get(best.trainIdx) == best.queryIdx:
            qi.append(best.queryIdx)
            ri.append(best.trainIdx)
    return np.asarray(qi, int), np.asarray(ri, int)


@dataclass(frozen=True)
class PairRays:
    """Matched rays of one query/reference pair.

    Attributes:
        b_q, b_r: (M, 3) unit rays in B (query's and reference's, at their recorded pan/tilt).
        focal_px: focal length of the pixels the keypoints were found in (the query's, or the
            virtual camera's when resampled): an inlier threshold in px converts with it.
        resampled: True when matched in a virtual camera.
    """

    b_q: np.ndarray
    b_r: np.ndarray
    focal_px: float
    resampled: bool

    def __len__(self) -> int:
        return int(len(self.b_q))


def pair_rays(query: FrameSource, ref: FrameSource, ratio: float, prior: np.ndarray | None = None) -> PairRays:
    """Match one query frame against one reference frame (directly, or resampled when zoomed in).

    Args:
        prior: (3, 3) a first estimate of ΔR (``b_r ≈ ΔR · b_q``), used when resampling: the
            reference is then resampled at the orientation that shows what the query shows, so
            both virtual images line up and tracking finds correspondences across the whole view
            (a 2° offset is a third of a view zoomed to 6°, too far for tracking from scratch).
    """
    qv, rv = query.view, ref.view
    if not needs_resampling(qv, rv):
        fq, fr = query.features(), ref.features()
        qi, ri = match_features(fq, fr, ratio)
        return PairRays(pixels_to_rays(qv, fq.keypoints[qi]) @ qv.R.T, pixels_to_rays(rv, fr.keypoints[ri]) @ rv.R.T,
                        qv.focal_px, False)
    import cv2

    virtual = virtual_view(qv, rv)
    ref_virtual = virtual if prior is None else View(K=virtual.K, size=virtual.size, R=np.asarray(prior) @ virtual.R)
    img_q, valid_q = resample_into(query.image(), qv, virtual)
    img_r, valid_r = resample_into(ref.image(), rv, ref_virtual)
    shared = (valid_q & valid_r).astype(np.uint8)
    shared = cv2.erode(shared, np.ones((2 * _BORDER_PX + 1, 2 * _BORDER_PX + 1), np.uint8))
    empty = np.zeros((0, 3))
    if int(shared.sum()) < (4 * _BORDER_PX) ** 2:
        return PairRays(empty, empty, virtual.focal_px, True)
    fq = extract_features(img_q, query.method, max_features=query.max_features, mask=shared,
                          contrast_threshold=_CONTRAST_THRESHOLD)
    fr = extract_features(img_r, ref.method, max_features=ref.max_features, mask=shared,
                          contrast_threshold=_CONTRAST_THRESHOLD)
    qi, ri = match_features(fq, fr, ratio)
    uv_q, uv_r = tracked_corners(img_r, img_q, shared, ref.max_features)
    uv_q = np.vstack([fq.keypoints[qi], uv_q])
    uv_r = np.vstack([fr.keypoints[ri], uv_r])
    return PairRays(pixels_to_rays(virtual, uv_q) @ virtual.R.T, pixels_to_rays(ref_virtual, uv_r) @ ref_virtual.R.T,
                    virtual.focal_px, True)


def tracked_corners(ref_img: np.ndarray, query_img: np.ndarray, mask: np.ndarray, max_corners: int,
                    max_error_px: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Corners of ``ref_img`` followed into ``query_img`` by pyramidal Lucas-Kanade, kept when the
    track runs back to where it started (forward-backward check).

    In the virtual camera the two images differ only by the small mount offset being measured,
    so tracking finds correspondences wherever there is texture, also where too few distinctive
    features survive the resampling (a view zoomed to a few degrees of a zoom-0 reference).

    Args:
        ref_img, query_img: (h, w, 3) uint8 RGB of the same virtual camera.
        mask: (h, w) uint8, non-zero where both are defined.
    Returns:
        (query px (M, 2), reference px (M, 2)) float64.
    """
    import cv2

    gray_r = cv2.cvtColor(ref_img, cv2.COLOR_RGB2GRAY)
    gray_q = cv2.cvtColor(query_img, cv2.COLOR_RGB2GRAY)
    corners = cv2.goodFeaturesToTrack(gray_r, maxCorners=max_corners, qualityLevel=0.01, minDistance=4, mask=mask)
    none = np.zeros((0, 2))
    if corners is None or len(corners) < 2:
        return none, none
    lk = dict(winSize=(21, 21), maxLevel=4, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.01))
    ahead, ok, _ = cv2.calcOpticalFlowPyrLK(gray_r, gray_q, corners, None, **lk)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(gray_q, gray_r, ahead, None, **lk)
    h, w = mask.shape
    ahead, corners, back = ahead.reshape(-1, 2), corners.reshape(-1, 2), back.reshape(-1, 2)
    keep = (ok.ravel() == 1) & (ok_back.ravel() == 1) & (np.linalg.norm(back - corners, axis=1) < max_error_px)
    keep &= (ahead[:, 0] >= 0) & (ahead[:, 0] <= w - 1) & (ahead[:, 1] >= 0) & (ahead[:, 1] <= h - 1)
    inside = keep.copy()
    inside[keep] = mask[np.rint(ahead[keep, 1]).astype(int), np.rint(ahead[keep, 0]).astype(int)] != 0
    return ahead[inside].astype(np.float64), corners[inside].astype(np.float64)
