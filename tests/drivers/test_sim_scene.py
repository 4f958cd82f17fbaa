"""The simulated scene is ground truth: its depth, occupancy and silhouettes must be exact geometry."""
from __future__ import annotations

import math

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, RigSpec
from camdeck.drivers.sim.placement import (STEREO_RELATIVE_ROTATION_DEG, camera_pose, relative_pose, stereo_truth,
                                   SimTruth)
from camdeck.drivers.sim.primitives import Box, Cylinder, Sphere
from camdeck.drivers.sim.scene import (BACKGROUND_RADIANCE_MAX, LAB_CENTER, OBJECT_RADIANCE_MIN, WALL_Y_M,
                               intrinsics_from_hfov, lab_scene, look_at)

SIZE = (161, 121)   # odd, so the principal point falls on a pixel centre


@pytest.fixture(scope="module")
def scene():
    return lab_scene(0)


def _ray(K, R, u, v):
    d_cam = np.linalg.inv(K) @ np.array([u, v, 1.0])
    return R.T @ (d_cam / d_cam[2])


def test_look_at_points_the_optical_axis_at_the_target_with_image_top_up():
    R, t = look_at((0.3, -0.2, 1.4), LAB_CENTER)
    assert np.allclose(R @ R.T, np.eye(3)) and math.isclose(np.linalg.det(R), 1.0)
    K = intrinsics_from_hfov(60.0, SIZE)
    truth = SimTruth(K, np.zeros(5), R, t, SIZE)
    u, v = truth.project(np.array([LAB_CENTER, np.add(LAB_CENTER, (0, 0, 0.2))]))
    assert np.allclose(u, ((SIZE[0] - 1) / 2, (SIZE[1] - 1) / 2))
    assert v[1] < u[1]          # a point above the target is higher in the image (smaller v)
    assert math.isclose(K[0, 0], 0.5 * SIZE[0] / math.tan(math.radians(30.0)))


def test_depth_through_a_sphere_centre_is_distance_minus_radius(scene):
    sphere = next(p for p in scene.objects if isinstance(p, Sphere))
    position = np.array([0.1, 0.0, 1.1])
    R, t = look_at(position, sphere.center)
    K = intrinsics_from_hfov(50.0, SIZE)
    depth = scene.depth(K, R, t, SIZE)
    centre_px = depth[(SIZE[1] - 1) // 2, (SIZE[0] - 1) // 2]
    expected = np.linalg.norm(np.subtract(sphere.center, position)) - sphere.radius
    assert centre_px == pytest.approx(expected, abs=1e-5)


def test_depth_of_floor_and_wall_pixels_matches_the_plane_intersection(scene):
    position = np.array([0.0, 0.0, 1.2])
    R, t = look_at(position, (1.5, 5.0, 0.8))    # off to the side: no objects in view there
    K = intrinsics_from_hfov(70.0, SIZE)
    depth = scene.depth(K, R, t, SIZE)
    render = scene.render(K, R, t, SIZE)
    for u, v in [(10, 115), (150, 118), (80, 5), (20, 20)]:
        d = _ray(K, R, u, v)
        s_floor = -position[2] / d[2] if d[2] < 0 else np.inf
        s_wall = (WALL_Y_M - position[1]) / d[1] if d[1] > 0 else np.inf
        assert depth[v, u] == pytest.approx(min(s_floor, s_wall), rel=1e-5)
        assert not render.object_mask[v, u]
    assert np.array_equal(render.depth, depth)


def test_rays_that_meet_nothing_have_infinite_depth(scene):
    R, t = look_at((0.0, 0.0, 1.0), (0.0, -5.0, 8.0))   # up and away from the wall
    render = scene.render(intrinsics_from_hfov(40.0, SIZE), R, t, SIZE)
    assert np.isinf(render.depth).all() and not render.object_mask.any()


def test_primitives_hit_where_the_analytic_formula_says():
    tex = lab_scene(0).objects[0].texture
    origin = np.array([0.0, -2.0, 0.0])
    dirs = np.array([[0.0, 1.0, 0.0], [0.05, 1.0, 0.02], [0.0, 1.0, 0.9]]).T
    box = Box((0.0, 0.0, 0.0), (0.4, 0.4, 0.4), 0.0, tex)
    assert box.intersect(origin, dirs)[:2] == pytest.approx([1.8, 1.8])
    assert np.isinf(box.intersect(origin, dirs)[2])
    cyl = Cylinder((0.0, 0.0, 0.0), 0.3, 0.5, tex)
    assert cyl.intersect(origin, dirs)[0] == pytest.approx(1.7)
    turned = Box((0.0, 0.0, 0.0), (0.4, 0.4, 0.4), 45.0, tex)       # an edge faces the ray
    assert turned.intersect(origin, dirs)[0] == pytest.approx(2.0 - 0.2 * math.sqrt(2))


def test_occupancy_marks_voxels_inside_the_objects(scene):
    n, voxel = 100, 0.01
    occ = scene.occupancy(n, voxel, LAB_CENTER)
    assert occ.shape == (n, n, n) and occ.dtype == bool
    axis = (np.arange(n) - (n - 1) / 2) * voxel
    sphere = next(p for p in scene.objects if isinstance(p, Sphere))
    i, j, k = (int(np.argmin(np.abs(axis + LAB_CENTER[a] - sphere.center[a]))) for a in range(3))
    assert occ[i, j, k]                                     # indexed [x, y, z]
    assert not occ[0, 0, 0] and not occ[-1, -1, -1]
    volume = 4 / 3 * math.pi * (0.2 ** 3 + 0.1 ** 3) + 0.3 * 0.25 * 0.35 + math.pi * 0.09 ** 2 * 0.4 + 0.16 ** 3
    assert occ.sum() * voxel ** 3 == pytest.approx(volume, rel=0.03)


def test_silhouette_is_the_projection_of_the_occupied_voxels(scene):
    occ = scene.occupancy(64, 0.015, LAB_CENTER)
    axis = (np.arange(64) - 31.5) * 0.015
    idx = np.argwhere(occ)
    centres = axis[idx] + np.asarray(LAB_CENTER)
    K = intrinsics_from_hfov(40.0, SIZE)
    R, t = look_at((0.4, 0.2, 1.5), LAB_CENTER)
    sil = scene.silhouette(K, R, t, SIZE)
    uv = np.floor(SimTruth(K, np.zeros(5), R, t, SIZE).project(centres) + 0.5).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < SIZE[0]) & (uv[:, 1] >= 0) & (uv[:, 1] < SIZE[1])
    assert inside.all()
    hits = sil[uv[:, 1], uv[:, 0]]
    assert hits.mean() > 0.97
    covered = np.zeros_like(sil)
    covered[uv[:, 1], uv[:, 0]] = True
    assert covered[sil].mean() > 0.9


def test_objects_are_brighter_than_the_background_and_textured(scene):
    R, t = look_at((0.0, 0.0, 1.2), LAB_CENTER)
    render = scene.render(intrinsics_from_hfov(55.0, (240, 136)), R, t, (240, 136))
    obj, bg = render.rgb[render.object_mask], render.rgb[~render.object_mask]
    assert render.object_mask.mean() > 0.05
    assert obj.min() >= OBJECT_RADIANCE_MIN and bg.max() <= BACKGROUND_RADIANCE_MAX
    assert render.rgb.dtype == np.float32 and 0.0 <= render.rgb.min() and render.rgb.max() <= 1.0
    assert obj.std() > 0.03 and bg.std() > 0.02       # texture, not flat paint


def test_textures_follow_the_seed_and_geometry_does_not():
    R, t = look_at((0.0, 0.0, 1.2), LAB_CENTER)
    K, size = intrinsics_from_hfov(55.0, (96, 54)), (96, 54)
    a, b, c = (lab_scene(s).render(K, R, t, size) for s in (0, 0, 1))
    assert np.array_equal(a.rgb, b.rgb)
    assert not np.allclose(a.rgb, c.rgb) and np.array_equal(a.depth, c.depth)


def test_stereo_rig_placement_gives_the_documented_baseline_and_small_rotation():
    rig = RigSpec("pair", "stereo", ("l", "r"), {"baseline_mm": 120.0})
    truth = stereo_truth(rig)
    assert truth.baseline_mm == pytest.approx(120.0)
    assert truth.T_m[0] == pytest.approx(-0.12, abs=1e-3)          # right camera on +x: T_x = -baseline
    angle = math.degrees(math.acos((np.trace(truth.R) - 1) / 2))
    assert angle == pytest.approx(float(np.linalg.norm(STEREO_RELATIVE_ROTATION_DEG)), rel=1e-6)
    specs = {n: CameraSpec(n, "sim", "ASI662MC") for n in rig.cameras}
    (R_l, t_l), (R_r, t_r) = (camera_pose(specs[n], {"pair": rig}) for n in rig.cameras)
    eye = np.eye(3)
    again = relative_pose(SimTruth(eye, np.zeros(5), R_l, t_l, (1, 1)), SimTruth(eye, np.zeros(5), R_r, t_r, (1, 1)))
    assert np.allclose(again.R, truth.R) and np.allclose(again.T_mm, truth.T_mm)


def test_position_options_override_the_default_pose():
    spec = CameraSpec("c", "sim", "IMX219", options={"position_m": (1.0, 0.5, 2.0), "look_at_m": (0.0, 3.0, 1.0)})
    R, t = camera_pose(spec, {})
    assert np.allclose(-R.T @ t, (1.0, 0.5, 2.0))
    assert np.allclose(R[2], np.subtract((0.0, 3.0, 1.0), (1.0, 0.5, 2.0)) / np.linalg.norm((-1.0, 2.5, -1.0)))


def _reference_albedo(tex, points):
    """SolidTexture.albedo as first written: whole arrays, value_noise / value_noise_2d per octave."""
    from camdeck.drivers.sim.texture import value_noise, value_noise_2d
    pts = np.asarray(points, dtype=np.float32)
    noise = value_noise
    if tex.flat_axis is not None:
        pts = pts[[a for a in range(3) if a != tex.flat_axis]]
        noise = value_noise_2d
    octaves, spots = tex._tables
    fbm = np.zeros(pts.shape[1], np.float32)
    total = 0.0
    for o, (lat, freq, off) in enumerate(octaves):
        amp = 0.9 ** o
        fbm += np.float32(amp) * noise(pts, lat, freq, off)
        total += amp
    fbm *= np.float32(1.6 / total)
    np.clip(fbm, -1.0, 1.0, out=fbm)
    spot = np.clip((noise(pts, *spots) - 0.1) * 8.0, 0.0, 1.0)[:, None]
    a, b = np.asarray(tex.color_a, np.float32), np.asarray(tex.color_b, np.float32)
    rgb = a + spot * (b - a)
    rgb *= (1.0 + np.float32(tex.contrast) * fbm)[:, None]
    return rgb


def test_texture_fast_path_gives_the_value_noise_definition_bit_for_bit(scene):
    rng = np.random.default_rng(11)
    far = rng.uniform(-1.0, 1.0, (3, 3000)) * 10.0 ** rng.uniform(0.0, 11.0, 3000)   # past int32 cells too
    for prim in scene.primitives:
        for pts in (rng.uniform(-7.0, 7.0, (3, n)) for n in (1, 5, 40_000)):  # one point, a few, many blocks
            assert np.array_equal(prim.texture.albedo(pts), _reference_albedo(prim.texture, pts))
        with np.errstate(invalid="ignore"):
            assert np.array_equal(prim.texture.albedo(far), _reference_albedo(prim.texture, far))


@pytest.mark.parametrize("pose", [((0.0, 0.0, 1.2), LAB_CENTER, 55.0),
                                  ((0.05, 2.0, 1.0), (0.2, 2.6, 0.95), 100.0),    # among the objects
                                  ((0.0, 2.55, 1.0), (0.0, -3.0, 1.0), 120.0)])   # objects behind too
def test_render_does_not_depend_on_bands_or_on_the_object_bounds(scene, pose, monkeypatch):
    import camdeck.drivers.sim.scene as scene_mod
    position, target, hfov = pose
    R, t = look_at(position, target)
    K, size = intrinsics_from_hfov(hfov, (203, 121)), (203, 121)
    fast = scene.render(K, R, t, size)
    monkeypatch.setattr(scene_mod, "_BAND_RAYS", 203 * 3 + 50)                 # many bands, uneven
    monkeypatch.setattr(scene_mod, "pixel_bounds", lambda prim, K, R, t, size: (0, size[0], 0, size[1]))
    slow = scene.render(K, R, t, size)
    assert np.array_equal(fast.rgb, slow.rgb) and np.array_equal(fast.depth, slow.depth)
    assert np.array_equal(fast.object_mask, slow.object_mask)
    assert np.array_equal(scene.depth(K, R, t, size), fast.depth)
    assert np.array_equal(scene.silhouette(K, R, t, size), fast.object_mask)


def test_a_lazy_render_traces_the_same_depth_and_mask_when_first_read():
    # The simulator's render cache keeps lazy renders: depth and mask are not held until read.
    scene = lab_scene()
    K = intrinsics_from_hfov(60, SIZE)
    R, t = look_at((0.0, -1.0, 1.2), LAB_CENTER)
    eager = scene.render(K, R, t, SIZE)
    lazy = scene.render(K, R, t, SIZE, lazy=True)
    assert np.array_equal(lazy.rgb, eager.rgb)
    assert lazy.nbytes == eager.rgb.nbytes                          # radiance only, so far
    assert np.array_equal(lazy.depth, eager.depth) and np.array_equal(lazy.object_mask, eager.object_mask)
    assert lazy.nbytes == eager.nbytes and not lazy.depth.flags.writeable
    assert lazy.depth is lazy.depth                                 # traced once, then kept
