"""Carving against the simulator's ground truth (drivers.sim.scene is the truth here)."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck import fastcore
from camdeck.drivers.sim import placement
from camdeck.drivers.sim import scene as scene_mod

CENTER = np.array(scene_mod.LAB_CENTER)
N = 48
VOXEL_M = 1.0 / N


@pytest.fixture(scope="module")
def scene():
    return scene_mod.lab_scene()


@pytest.fixture(scope="module")
def truth(scene):
    return scene.occupancy(N, VOXEL_M, CENTER)


@pytest.fixture(scope="module")
def ring_views(scene):
    """8 silhouettes (480x270) from a ring around the objects, alternately low and high."""
    size = (480, 270)
    K = scene_mod.intrinsics_from_hfov(45, size)
    images, Rs, ts = [], [], []
    for v in range(8):
        a = 2 * np.pi * v / 8 + 0.3
        R, t = scene_mod.look_at(CENTER + [2.2 * np.cos(a), 2.2 * np.sin(a), (0.2, 1.8)[v % 2]], CENTER)
        images.append(scene.silhouette(K, R, t, size).astype(np.uint8) * 255)
        Rs.append(R)
        ts.append(t)
    return images, K, np.array(Rs), np.array(ts)


@pytest.fixture(scope="module")
def stereo_views(scene):
    """The simulated stereo rig's two silhouettes (960x540), at its true poses."""
    size = (960, 540)
    K = scene_mod.intrinsics_from_hfov(60, size)
    poses = placement.stereo_poses(100.0)
    images = [scene.silhouette(K, R, t, size).astype(np.uint8) * 255 for R, t in poses]
    return images, K, np.array([p[0] for p in poses]), np.array([p[1] for p in poses])


@pytest.mark.parametrize("backend", fastcore.available_backends())
def test_eight_views_match_the_true_occupancy(ring_views, truth, backend):
    grid = fastcore.carve(*ring_views, N, VOXEL_M, CENTER, backend=backend)
    occupied = grid > 0.5
    iou = (occupied & truth).sum() / (occupied | truth).sum()
    assert iou >= 0.8, f"IoU {iou:.3f}"


@pytest.mark.parametrize("backend", fastcore.available_backends())
def test_stereo_pair_keeps_the_occupied_voxels(stereo_views, truth, backend):
    grid = fastcore.carve(*stereo_views, N, VOXEL_M, CENTER, backend=backend)
    kept = (grid[truth] > 0).mean()
    assert kept >= 0.99, f"kept {kept:.4f} of the occupied voxels"
    assert (grid > 0).mean() < 0.8   # and it does carve the empty space away
