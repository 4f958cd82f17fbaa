"""Shared test helpers: simulated chessboard views, rendered once per test session.

The views come from drivers.sim.targets, rendered through a known camera (the truth the
tests compare against). Sizes stay modest (960x540) to keep the suite fast on 2 cores.
"""
from __future__ import annotations

import functools

import numpy as np

SIZE = (960, 540)
HFOV_DEG = 70.0
DIST = np.array([-0.11, 0.06, 0.0004, -0.0003, 0.0])


@functools.lru_cache(maxsize=None)
def camera(size: tuple[int, int] = SIZE, dist: bool = True, offset_px: tuple[float, float] = (4.5, -3.0)):
    """A PinholeView with a principal point off centre and barrel distortion (the truth)."""
    from camdeck.drivers.sim.scene import intrinsics_from_hfov
    from camdeck.drivers.sim.targets import PinholeView

    K = intrinsics_from_hfov(HFOV_DEG, size)
    K[0, 2] += offset_px[0]
    K[1, 2] += offset_px[1]
    K[1, 1] *= 1.0015                       # slightly non-square pixels: fx and fy are solved apart
    return PinholeView(K, DIST.copy() if dist else np.zeros(5), np.eye(3), np.zeros(3), size)


@functools.lru_cache(maxsize=None)
def board():
    from camdeck.calibration.chessboard import Board

    return Board(9, 6, 25.0)


@functools.lru_cache(maxsize=None)
def mono_views(n: int = 20, seed: int = 11) -> tuple[np.ndarray, ...]:
    """``n`` grey views of the board in front of :func:`camera`."""
    from camdeck.drivers.sim.board_render import render_views
    from camdeck.drivers.sim.targets import board_poses

    cam = camera()
    return tuple(render_views(cam, board(), board_poses(cam, board(), n, seed=seed), seed=seed))


def sim_config_text() -> str:
    """The built-in config with the ASI pair binned 2x2: 960x540 frames over the full field of view."""
    from camdeck.console.config import BUILTIN_CONFIG

    text = BUILTIN_CONFIG.read_text()
    binned = text.replace("controls = { exposure_us = 10000, gain = 100,",
                          "controls = { bin = 2, exposure_us = 10000, gain = 100,")
    assert binned.count("bin = 2") == 2, "the built-in config's ASI controls changed; update this helper"
    return binned


@functools.lru_cache(maxsize=None)
def sim_settings():
    """Settings of :func:`sim_config_text`."""
    import sys

    from camdeck.console.config import parse_settings

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return parse_settings(tomllib.loads(sim_config_text()), "test config")


def open_sim_pair():
    """The simulated asi-stereo rig (a drivers.stereo.StereoPair), not started.

    It runs on a ManualClock, so which frames (and so which noise) a test gets does not depend
    on the machine's load: every run of the suite sees the same images.
    """
    from camdeck.drivers.sim.clock import ManualClock
    from camdeck.drivers.stereo import open_stereo_rig

    settings = sim_settings()
    return open_stereo_rig(settings.rigs["asi-stereo"], settings.cameras, settings.driver_context(ManualClock()))


@functools.lru_cache(maxsize=None)
def sim_mono_set(n: int = 20, seed: int = 4):
    """``n`` raw RGGB frames from the simulated left ASI camera with a chessboard at varied poses.

    Returns (truth, frames).
    """
    from camdeck.drivers.sim.targets import ChessboardTarget

    pair = open_sim_pair()
    try:
        target = ChessboardTarget(board(), [pair.left], seed=seed)
        return pair.left.truth, tuple(target.capture()[0] for _ in range(n))
    finally:
        pair.close()


@functools.lru_cache(maxsize=None)
def sim_stereo_set(n: int = 15, seed: int = 2):
    """``n`` raw RGGB pairs from the simulated ASI pair with a chessboard posed in view of both.

    Returns (left truth, right truth, left frames, right frames).
    """
    from camdeck.drivers.sim.targets import ChessboardTarget

    pair = open_sim_pair()
    try:
        target = ChessboardTarget(board(), [pair.left, pair.right], seed=seed)
        shots = [target.capture() for _ in range(n)]
        return (pair.left.truth, pair.right.truth, tuple(s[0] for s in shots), tuple(s[1] for s in shots))
    finally:
        pair.close()
