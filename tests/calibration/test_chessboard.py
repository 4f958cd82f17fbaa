"""Chessboard boards and corner detection, against the corners the simulator projects."""
from __future__ import annotations

import os

import numpy as np
import pytest

from camdeck.calibration.chessboard import Board, detect_chessboard, read_image, to_gray
from camdeck.calibration.errors import BoardSpecError
from tests.calibration import board, camera


def _one_view(pixel_format="GRAY", seed=3):
    from camdeck.drivers.sim.board_render import render_board
    from camdeck.drivers.sim.targets import board_corners_world, board_poses, project_points

    cam = camera()
    pose = board_poses(cam, board(), 1, seed=seed)[0]
    image = render_board(cam, board(), pose, pixel_format=pixel_format, seed=seed)
    truth, _ = project_points(cam, board_corners_world(board(), pose))
    return image, truth


def _matched_error(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(RMS, max) corner error in px, allowing for the 180-degree ambiguity of a board's corner order."""
    errs = [np.linalg.norm(f - truth, axis=1) for f in (found, found[::-1])]
    e = min(errs, key=lambda x: x.mean())
    return float(np.sqrt((e ** 2).mean())), float(e.max())


def test_board_parse_and_object_points():
    b = Board.parse("9x6", 25)
    assert b.pattern_size == (9, 6)
    pts = b.object_points()
    assert pts.shape == (54, 3) and pts.dtype == np.float32
    assert np.allclose(pts[1] - pts[0], [25, 0, 0]) and np.allclose(pts[9] - pts[0], [0, 25, 0])


@pytest.mark.parametrize("text,square", [("9-6", 25), ("9x", 25), ("1x6", 25), ("9x2", 25), ("7x7", 25), ("9x6", 0), ("9x6", -3)])
def test_bad_board_specs_are_bad_input_naming_the_value(text, square):
    with pytest.raises(BoardSpecError) as info:
        Board.parse(text, square)
    assert info.value.bad_input and "fix:" in str(info.value)


def test_detects_the_true_corners_to_a_tenth_of_a_pixel():
    image, truth = _one_view()
    det = detect_chessboard(image, board())
    assert det.found and det.method == "sb"
    assert det.corners.shape == (54, 2)
    rms, worst = _matched_error(det.corners, truth)
    assert rms < 0.1 and worst < 0.25


def test_detects_on_raw_bayer_frames():
    raw, truth = _one_view("RAW8_RGGB", seed=4)
    det = detect_chessboard(raw, board(), pixel_format="RAW8_RGGB")
    assert det.found
    rms, worst = _matched_error(det.corners, truth)
    assert rms < 0.1 and worst < 0.25


def test_classic_fallback_refines_to_subpixel(monkeypatch):
    import cv2

    image, truth = _one_view(seed=6)
    monkeypatch.setattr(cv2, "findChessboardCornersSB", lambda *a, **k: (False, None))
    assert not detect_chessboard(image, board()).found          # the fallback is asked for, never assumed
    det = detect_chessboard(image, board(), fallback=True)
    assert det.found and det.method == "classic"
    rms, worst = _matched_error(det.corners, truth)
    assert rms < 0.15 and worst < 0.4


def test_a_smaller_board_inside_a_larger_one_is_not_taken_for_it():
    from camdeck.drivers.imaging import frame_to_rgb
    from tests.calibration import sim_mono_set

    _, frames = sim_mono_set()
    # findChessboardCornersSB finds a 7x5 grid inside this 9x6 board; the border check refuses it
    det = detect_chessboard(frame_to_rgb(frames[2]), Board(7, 5, 25.0), pixel_format="RGB")
    assert not det.found and "larger than 7x5" in det.reason
    assert all(detect_chessboard(f.array, board(), pixel_format=f.format).found for f in frames[:5])


def test_wrong_board_and_blank_image_are_not_found_with_a_reason():
    image, _ = _one_view()
    det = detect_chessboard(image, Board(8, 5, 25.0))
    assert not det.found and "8x5" in det.reason
    assert not detect_chessboard(np.full((200, 300), 128, np.uint8), board()).found


def test_read_image_reports_why_a_file_cannot_be_used(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    assert read_image(tmp_path / "missing.png") == (None, "file not found")
    assert read_image(tmp_path / "empty.png")[1].startswith("empty file")
    assert "corrupt" in read_image(tmp_path / "corrupt.png")[1]
    os.mkfifo(tmp_path / "fifo.png")                            # matched by a glob: refused, never opened
    assert "FIFO" in read_image(tmp_path / "fifo.png")[1]
    assert "folder" in read_image(tmp_path)[1]


def test_to_gray_rejects_non_images():
    with pytest.raises(ValueError, match="shape"):
        to_gray(np.zeros((4, 4, 5), np.uint8))


def test_a_portrait_board_is_posed_wholly_in_view_and_found():
    """A board taller for its width than the image (--board 6x9) used to find too few poses (an
    internal error in calibrate capture and cameras snap); its poses now fit, and the detector
    finds the simulator's corners where they are."""
    from camdeck.drivers.sim.board_render import render_board
    from camdeck.drivers.sim.targets import _fully_visible, _paper_outline, board_corners_world, board_poses, project_points

    cam, tall = camera(), Board(6, 9, 25.0)
    poses = board_poses(cam, tall, 20, seed=5)
    assert len(poses) == 20 and all(_fully_visible(cam, _paper_outline(tall), p, 12.0) for p in poses)
    image = render_board(cam, tall, poses[0], pixel_format="GRAY", seed=5)
    det = detect_chessboard(image, tall)
    truth, _ = project_points(cam, board_corners_world(tall, poses[0]))
    assert det.found and _matched_error(det.corners, truth)[1] < 0.5


def test_a_board_of_another_size_is_answered_in_seconds_not_minutes(tmp_path):
    """The usual operator mistake, counting squares (--board 10x7 for a 9x6 board), on a full-HD
    frame: OpenCV's classic detector, once tried whenever the sector-based one failed, searched
    for minutes. The guard is a hang guard (about 1 s is typical), not a speed target."""
    from camdeck.console.config import BUILTIN_CONFIG, load_settings
    from camdeck.drivers.registry import open_camera
    from tests.fuzz.outcome import time_limit

    settings = load_settings(BUILTIN_CONFIG, tmp_path)
    with open_camera(settings.cameras["asi-left"], settings.driver_context()) as cam:
        cam.start()
        frame = cam.calibration_target(board()).next_views(5.0)[0]
    assert frame.array.shape[:2] == (1080, 1920)
    with time_limit(60):
        det = detect_chessboard(frame.array, Board(10, 7, 25.0), pixel_format=frame.format)
        assert not det.found and "10x7" in det.reason
        assert detect_chessboard(frame.array, board(), pixel_format=frame.format).found
