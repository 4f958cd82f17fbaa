"""Live voxel reconstruction: synchronized frames in, carved (and fused) grids out.

The job knows nothing about cameras: ``LiveReconstruction.run(source)`` takes frames from
whoever calls it -- an iterator or a callable yielding ``LiveSample`` (or the tuple
``(images, K, R, t, timestamp_ns)``). Each sample is turned into carve-ready images
(RAW8 Bayer debayered to gray with OpenCV, downsampled to the voxel scale, dimmer pixels
than ``threshold`` set to 0), carved into a reused buffer, optionally fused over time,
saved every ``save_every_s`` and reported through ``progress(event)``.

Events (``ReconstructionEvent``) carry the latest grid, fps and latency, so a UI shows
them without touching the job; the grid is a read-only view of a buffer the job reuses two
frames later (copy it to keep it). The job holds two grids (three when fusing) and no frame
beyond the one it carves.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from camdeck.fastcore import empty_grid
from camdeck.fastcore.errors import CarveInputError

FUSION_MODES = ("none", "ema", "min")
# OpenCV names a Bayer pattern by the 2x2 block at row 1, column 1; sensors name it at (0, 0).
_CV_BAYER = {"RGGB": "COLOR_BayerBG2GRAY", "BGGR": "COLOR_BayerRG2GRAY",
             "GRBG": "COLOR_BayerGB2GRAY", "GBRG": "COLOR_BayerGR2GRAY"}


@dataclass(frozen=True)
class LiveSample:
    """One synchronized set of views.

    images: V arrays, (H, W) uint8 RAW8 Bayer or gray, or (H, W, 3) uint8 BGR.
    K: (3, 3) or (V, 3, 3) for the full-resolution images; R: (V, 3, 3) world->camera;
    t: (V, 3), metres. timestamp_ns: capture time (monotonic ns), or None.
    undistort: None for pinhole images, else one ``(map1, map2)`` pair per view (None for a
        view that needs none), as ``cv2.initUndistortRectifyMap`` makes them with K as the new
        matrix: the full-resolution gray image is remapped through it before shrinking.
    """

    images: Sequence[np.ndarray]
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    timestamp_ns: int | None = None
    undistort: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None


@dataclass(frozen=True)
class ReconstructionSettings:
    """What the live job does with each sample.

    grid_size: N; voxel_size: metres; grid_center: (3,) metres.
    bayer: the RAW8 pattern of (H, W) frames ("RGGB", ...) or None for gray frames.
    threshold: gray level 0..255 below which a pixel is background (0); None keeps all.
    downsample: integer factor, or "auto" (about two voxels' footprint per pixel, at most 8).
    fusion: "none" (latest carve), "ema" (running average, weight ``fusion_alpha`` on the
        new carve) or "min" (a voxel stays carved away once a frame carves it).
    save_every_s: save the grid at most this often (None: never); out_dir: where.
    save_format: "bin", "npy" or "both" (each save writes grid_NNNNNN.bin and .npy).
    device: where the carve runs: "cpu", "cuda" / "cuda:N" (the torch backend) or "auto"
        (checked by fastcore.resolve_device when the job is built).
    max_frames / duration_s: stop after this many frames / seconds (None: until the source ends).
    """

    grid_size: int = 128
    voxel_size: float = 1.0 / 128
    grid_center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    backend: str = "auto"
    attenuation: float = 0.0
    bayer: str | None = "RGGB"
    threshold: int | None = 72
    downsample: int | str = "auto"
    fusion: str = "none"
    fusion_alpha: float = 0.5
    save_every_s: float | None = None
    out_dir: Path | None = None
    save_format: str = "bin"
    max_frames: int | None = None
    duration_s: float | None = None
    device: str = "cpu"


SAVE_FORMATS = ("bin", "npy", "both")


@dataclass(frozen=True)
class ReconstructionEvent:
    """What the job reports. kind: "started", "frame", "saved" or "finished".

    frame: frames carved so far; grid: (N, N, N) float32 read-only view of the latest
    (fused) grid or None; fps: frames per second over the last few frames; latency_ms:
    sample received -> grid ready; carve_ms: the carve alone; occupied_fraction: voxels > 0;
    path: the file written ("saved"); elapsed_s: since start.
    """

    kind: str
    frame: int = 0
    grid: np.ndarray | None = None
    fps: float = 0.0
    latency_ms: float = 0.0
    carve_ms: float = 0.0
    occupied_fraction: float = 0.0
    path: Path | None = None
    elapsed_s: float = 0.0


@dataclass
class ReconstructionSummary:
    """The run's totals: frames, seconds, mean fps, mean latency, files saved, last grid."""

    frames: int = 0
    elapsed_s: float = 0.0
    fps: float = 0.0
    mean_latency_ms: float = 0.0
    saved: list[Path] = field(default_factory=list)
    grid: np.ndarray | None = None


def check_settings(s: ReconstructionSettings) -> ReconstructionSettings:
    """Raise CarveInputError naming the first bad field."""
    from camdeck.fastcore.validation import check_grid_size, check_positive

    check_grid_size(s.grid_size)
    check_positive(s.voxel_size, "voxel_size")
    if s.fusion not in FUSION_MODES:
        raise CarveInputError(f"fusion: {s.fusion!r}; fix: one of {', '.join(FUSION_MODES)}")
    if not 0.0 < s.fusion_alpha <= 1.0:
        raise CarveInputError(f"fusion_alpha: {s.fusion_alpha}; fix: a weight in (0, 1]")
    if s.bayer is not None and s.bayer not in _CV_BAYER:
        raise CarveInputError(f"bayer: {s.bayer!r}; fix: one of {', '.join(_CV_BAYER)} or None")
    if s.threshold is not None and not 0 <= int(s.threshold) <= 255:
        raise CarveInputError(f"threshold: {s.threshold}; fix: a gray level 0..255")
    if s.downsample != "auto" and (not isinstance(s.downsample, int) or not 1 <= s.downsample <= 16):
        raise CarveInputError(f"downsample: {s.downsample!r}; fix: 'auto' or an integer 1..16")
    if s.save_every_s is not None and (s.save_every_s <= 0 or s.out_dir is None):
        raise CarveInputError("save_every_s: needs a positive period and out_dir; fix: give both")
    if s.save_format not in SAVE_FORMATS:
        raise CarveInputError(f"save_format: {s.save_format!r}; fix: one of {', '.join(SAVE_FORMATS)}")
    from camdeck.fastcore.devices import check_device_name
    check_device_name(s.device)
    if s.max_frames is not None and s.max_frames < 1:
        raise CarveInputError(f"max_frames: {s.max_frames}; fix: at least 1")
    if s.duration_s is not None and s.duration_s <= 0:
        raise CarveInputError(f"duration_s: {s.duration_s}; fix: a positive number of seconds")
    return s


def prepare_view(image: np.ndarray, K: np.ndarray, *, bayer: str | None, factor: int,
                 threshold: int | None, undistort: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One frame -> (carve-ready (h, w) uint8 image, its (3, 3) K).

    Debayers (H, W) RAW8 when ``bayer`` is set, converts (H, W, 3) BGR to gray, removes lens
    distortion through ``undistort`` maps (K stays K), shrinks by ``factor`` with area
    averaging (K follows, pixel centres kept at integers), then sets pixels below
    ``threshold`` to 0.
    """
    import cv2

    img = np.ascontiguousarray(image)
    if img.dtype != np.uint8:
        raise CarveInputError(f"images: dtype {img.dtype}; fix: pass uint8 frames (RAW8 or 8-bit)")
    if img.ndim == 3:
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif bayer is not None:
        gray = cv2.cvtColor(img, getattr(cv2, _CV_BAYER[bayer]))
    else:
        gray = img
    if undistort is not None:
        map1, map2 = undistort
        if map1.shape[:2] != gray.shape:
            raise CarveInputError(f"undistort: maps for {map1.shape[1]}x{map1.shape[0]} px, the image is "
                                  f"{gray.shape[1]}x{gray.shape[0]}; fix: make the maps at the frame size")
        gray = cv2.remap(gray, map1, map2, cv2.INTER_LINEAR)
    K = np.asarray(K, dtype=np.float64)
    if factor > 1:
        h, w = gray.shape
        new_w, new_h = max(1, w // factor), max(1, h // factor)
        gray = cv2.resize(gray, (new_w, new_h), interpolation=cv2.INTER_AREA)
        sx, sy = new_w / w, new_h / h
        S = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        K = np.einsum("ab,bc->ac", S, K)
    if threshold is not None and threshold > 0:
        gray = cv2.threshold(gray, int(threshold) - 1, 255, cv2.THRESH_TOZERO)[1]
    return np.ascontiguousarray(gray), K


def auto_downsample(K: np.ndarray, R: np.ndarray, t: np.ndarray, voxel_size: float,
                    grid_center) -> int:
    """The factor that leaves about two pixels per voxel at the grid centre (1..8)."""
    depth = float(np.dot(R[2], np.asarray(grid_center, dtype=np.float64)) + t[2])
    if depth <= 0:
        return 1
    footprint_px = float(K[0, 0]) * voxel_size / depth
    return int(min(8, max(1, footprint_px // 2)))


class LiveReconstruction:
    """The live job. ``run(source)`` blocks until done; ``stop()`` (any thread) ends it.

    Args:
        settings: ReconstructionSettings (checked here).
        progress: called with each ReconstructionEvent, on the job's thread.
        clock: monotonic seconds; injected so tests can run faster than real time.
    """

    def __init__(self, settings: ReconstructionSettings,
                 progress: Callable[[ReconstructionEvent], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = check_settings(settings)
        self._progress = progress or (lambda event: None)
        self._clock = clock
        self._stop = threading.Event()
        N = settings.grid_size
        # Two grids the events hand out in turn (a consumer has one frame to copy the latest).
        # Without fusion the carve writes straight into them; fusing needs a third, the carve's
        # own, made only then: at 256^3 each grid is 64 MiB.
        self._grids = (empty_grid(N), empty_grid(N))
        self._carved = empty_grid(N) if settings.fusion != "none" else None
        self._latest: np.ndarray | None = None
        self._factor: int | None = None

    def stop(self) -> None:
        self._stop.set()

    def run(self, source: Iterable | Callable) -> ReconstructionSummary:
        """Carve every sample from ``source`` until it ends, a limit is reached or stop().

        Raises:
            CarveInputError: a sample that cannot be carved (shapes, dtypes, poses).
            Whatever ``source`` raises (a camera error) propagates unchanged.
        """
        s = self.settings
        start = self._clock()
        last_save = None
        recent: list[float] = []
        summary = ReconstructionSummary()
        if s.out_dir is not None:
            # A run killed with -9 mid-save left its grid's temporary (tens of MB) in out_dir.
            from camdeck.fileio.leftovers import remove_stale_temporaries
            remove_stale_temporaries(s.out_dir, "grid_*")
        self._emit("started")
        for sample in _samples(source):
            if self._stop.is_set():
                break
            received = self._clock()
            carve_ms = self._process(_as_sample(sample))
            sample = None       # the frames go now, not while the next pair is captured
            done = self._clock()
            summary.frames += 1
            recent = (recent + [done])[-10:]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
            latency_ms = (done - received) * 1e3
            summary.mean_latency_ms += (latency_ms - summary.mean_latency_ms) / summary.frames
            self._emit("frame", summary.frames, fps, latency_ms, carve_ms, done - start)
            if s.save_every_s is not None and (last_save is None or done - last_save >= s.save_every_s):
                summary.saved.extend(self._save(summary.frames, done - start))
                last_save = done
            if (s.max_frames is not None and summary.frames >= s.max_frames) or \
                    (s.duration_s is not None and done - start >= s.duration_s):
                break
        summary.elapsed_s = self._clock() - start
        summary.fps = summary.frames / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
        if s.out_dir is not None and self._latest is not None and s.save_every_s is not None \
                and (not summary.saved or last_save != done):
            summary.saved.extend(self._save(summary.frames, summary.elapsed_s))
        summary.grid = self._latest
        self._emit("finished", summary.frames, summary.fps, summary.mean_latency_ms, 0.0, summary.elapsed_s)
        return summary

    # ------------------------------------------------------------------ steps
    def _process(self, sample: LiveSample) -> float:
        from camdeck import fastcore
        s = self.settings
        V = len(sample.images)
        K = np.asarray(sample.K, dtype=np.float64)
        Ks = np.broadcast_to(K, (V, 3, 3)) if K.shape == (3, 3) else K
        R = np.asarray(sample.R, dtype=np.float64)
        t = np.asarray(sample.t, dtype=np.float64).reshape(V, 3)
        if Ks.shape != (V, 3, 3) or R.shape != (V, 3, 3):
            raise CarveInputError(f"K/R: shapes {K.shape}, {R.shape} for {V} views; fix: one per view")
        if self._factor is None:
            self._factor = (auto_downsample(Ks[0], R[0], t[0], s.voxel_size, s.grid_center)
                            if s.downsample == "auto" else int(s.downsample))
        maps = sample.undistort if sample.undistort is not None else [None] * V
        if len(maps) != V:
            raise CarveInputError(f"undistort: {len(maps)} map pairs for {V} views; fix: one per view (or None)")
        views, Kd = [], []
        for img, Kv, view_maps in zip(sample.images, Ks, maps):
            view, Kv2 = prepare_view(img, Kv, bayer=s.bayer if np.ndim(img) == 2 else None,
                                     factor=self._factor, threshold=s.threshold, undistort=view_maps)
            views.append(view)
            Kd.append(Kv2)
        target = self._grids[0] if self._latest is not self._grids[0] else self._grids[1]
        carved = target if self._carved is None else self._carved
        t0 = time.perf_counter()
        fastcore.carve(views, np.array(Kd), R, t, s.grid_size, s.voxel_size, s.grid_center,
                       s.attenuation, backend=s.backend, out=carved, device=s.device)
        carve_ms = (time.perf_counter() - t0) * 1e3
        if carved is not target:            # fusing: the new carve meets the latest grid
            if self._latest is None:
                np.copyto(target, carved)
            elif s.fusion == "ema":
                np.multiply(self._latest, 1.0 - s.fusion_alpha, out=target)
                carved *= s.fusion_alpha      # in place: no fourth grid for the product
                target += carved
            else:
                np.minimum(self._latest, carved, out=target)
        self._latest = target
        return carve_ms

    def _save(self, frame: int, elapsed_s: float) -> list[Path]:
        from camdeck.fastcore.grid_io import save_grid

        s = self.settings
        Path(s.out_dir).mkdir(parents=True, exist_ok=True)
        suffixes = ("bin", "npy") if s.save_format == "both" else (s.save_format,)
        paths = []
        for suffix in suffixes:
            path = Path(s.out_dir) / f"grid_{frame:06d}.{suffix}"
            save_grid(path, self._latest, s.voxel_size, s.grid_center)
            self._emit("saved", frame, elapsed_s=elapsed_s, path=path)
            paths.append(path)
        return paths

    def _emit(self, kind: str, frame: int = 0, fps: float = 0.0, latency_ms: float = 0.0,
              carve_ms: float = 0.0, elapsed_s: float = 0.0, path: Path | None = None) -> None:
        grid = None
        occupied = 0.0
        if self._latest is not None and kind != "started":
            grid = self._latest.view()
            grid.flags.writeable = False
            occupied = float(np.count_nonzero(self._latest)) / self._latest.size
        self._progress(ReconstructionEvent(kind, frame, grid, fps, latency_ms, carve_ms, occupied,
                                           path, elapsed_s))


def _samples(source):
    if callable(source) and not hasattr(source, "__iter__"):
        while True:
            sample = source()
            if sample is None:
                return
            yield sample
    else:
        yield from source


def _as_sample(sample) -> LiveSample:
    if isinstance(sample, LiveSample):
        return sample
    try:
        images, K, R, t, *rest = sample
    except (TypeError, ValueError):
        raise CarveInputError("source: yields neither a LiveSample nor (images, K, R, t, timestamp_ns); "
                              "fix: yield LiveSample(...)") from None
    return LiveSample(images, K, R, t, rest[0] if rest else None)


def run_live_reconstruction(source, settings: ReconstructionSettings,
                            progress: Callable[[ReconstructionEvent], None] | None = None,
                            clock: Callable[[], float] = time.monotonic) -> ReconstructionSummary:
    """Convenience: ``LiveReconstruction(settings, progress, clock).run(source)``."""
    return LiveReconstruction(settings, progress, clock).run(source)
