"""The CLI contract: global options anywhere, exit codes, JSON on stdout, bad input in one line."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.startswith("camdeck ")
    assert cli("--version", "--json").json()["version"]


def test_cameras_list_json_names_every_camera(cli):
    r = cli("cameras", "list", "--json")
    assert r.code == 0, r.err
    rows = {c["name"]: c for c in r.json()["cameras"]}
    assert set(rows) == {"asi-left", "asi-right", "lightroom", "darkroom", "still", "ptz-1", "ptz-2"}
    assert rows["asi-left"]["serial"] and rows["asi-left"]["rig"] == "asi-stereo"
    assert rows["ptz-1"]["deployment"] == "sim-site"
    assert "sim-password" not in r.out


def test_global_options_before_and_after_the_command(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text((REPO / "config.toml").read_text().replace('label = "stereo left"', 'label = "from c.toml"'))
    before = cli("--config", str(cfg), "cameras", "list", "--json").json()
    after = cli("cameras", "list", "--json", "--config", str(cfg)).json()
    eq = cli("cameras", "list", f"--config={cfg}", "--json").json()
    for doc in (before, after, eq):
        assert doc["config"] == str(cfg)
        assert any(c["label"] == "from c.toml" for c in doc["cameras"])


def test_missing_config_exits_2_with_one_line(cli, tmp_path):
    r = cli("--config", str(tmp_path / "missing.toml"), "cameras", "list")
    assert r.code == 2
    assert r.err.count("\n") == 1 and "missing.toml: file not found" in r.err


def test_malformed_config_exits_2_naming_the_key(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text((REPO / "config.toml").read_text().replace("preview_fps = 15", "preview_fps = -3"))
    r = cli("cameras", "list", "--config", str(cfg), "--json")
    assert r.code == 2
    assert "console.preview_fps" in r.err and r.err.count("\n") == 1
    assert "console.preview_fps" in r.json()["error"]


def test_unknown_camera_exits_2(cli, tmp_path):
    r = cli("cameras", "snap", "no-such-cam", "--out", str(tmp_path / "x.png"))
    assert r.code == 2 and "unknown camera 'no-such-cam'" in r.err and "asi-left" in r.err
    assert not (tmp_path / "x.png").exists()


def test_option_without_value_exits_2(cli):
    r = cli("cameras", "list", "--config")
    assert r.code == 2 and "--config needs a value" in r.err


def test_no_command_under_json_still_prints_one_json_object(cli):
    r = cli("--json")
    assert r.code == 2 and r.json()["error"].startswith("no command given")
    r = cli("cameras", "--json")
    assert r.code == 2 and "camdeck cameras --help" in r.json()["error"]


def test_usage_error_exits_2(cli):
    assert cli("cameras", "snap").code == 2
    assert cli("no-such-command").code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_exits_2_before_capture(cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    r = cli("cameras", "snap", "asi-left", "--out", str(locked / "f.png"))
    assert r.code == 2 and "not writable" in r.err


def test_out_in_missing_folder_or_folder_exits_2(cli, tmp_path):
    r = cli("cameras", "snap", "asi-left", "--out", str(tmp_path / "nowhere" / "f.png"))
    assert r.code == 2 and "does not exist" in r.err
    r = cli("cameras", "snap", "asi-left", "--out", str(tmp_path))
    assert r.code == 2 and "is a folder" in r.err
    r = cli("cameras", "snap", "asi-left", "--out", str(tmp_path / "f.raw"))
    assert r.code == 2 and "unknown image type" in r.err


def test_snap_writes_a_debayered_png(cli, tmp_path):
    import cv2

    out = tmp_path / "left.png"
    r = cli("cameras", "snap", "asi-left", "--out", str(out), "--json")
    assert r.code == 0, r.err
    doc = r.json()
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (doc["height"], doc["width"], 3) == (1080, 1920, 3)
    # A demosaiced colour image, not a grey mosaic: channels differ somewhere.
    assert np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)).mean() > 1.0
    assert not list(tmp_path.glob("*.part"))


def test_snap_with_board_finds_the_simulators_board_where_it_is(cli, tmp_path):
    """`cameras snap --board 9x6`: the simulated camera puts its board in view, the corners found
    lie where the simulator drew them (its first pose, projected with its lens), and they are
    drawn on the image."""
    import cv2

    from camdeck.calibration.chessboard import Board
    from camdeck.console.config import BUILTIN_CONFIG, load_settings
    from camdeck.drivers.registry import open_camera
    from camdeck.drivers.sim.targets import board_corners_world, project_points, view_of

    out = tmp_path / "board.png"
    r = cli("cameras", "snap", "asi-left", "--out", str(out), "--board", "9x6", "--json")
    assert r.code == 0, r.err
    found = r.json()["board"]
    assert found["found"] and found["board"] == "9x6" and len(found["corners_px"]) == 54
    assert all(0.0 <= found[k] <= 1.0 for k in ("x", "y", "size", "skew"))
    board = Board(9, 6, 25.0)
    settings = load_settings(BUILTIN_CONFIG, tmp_path / "truth")
    with open_camera(settings.cameras["asi-left"], settings.driver_context()) as cam:
        pose = cam.calibration_target(board).poses[0]
        truth, _ = project_points(view_of(cam), board_corners_world(board, pose))
    corners = np.asarray(found["corners_px"])
    err = min(np.linalg.norm(c - truth, axis=1).max() for c in (corners, corners[::-1]))
    assert err < 0.5, f"corner error {err:.3f} px"
    # The corners are drawn: OpenCV's coloured markers on a board that is only black, white and grey.
    img = cv2.imread(str(out)).astype(int)
    chroma = [np.ptp(img[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4], axis=2).max() for x, y in corners]
    assert np.median(chroma) > 100, chroma


def test_snap_board_not_in_view_is_reported_with_its_reason(tmp_path):
    from camdeck.calibration.chessboard import Board
    from camdeck.console.cli.cameras import _find_board
    from camdeck.drivers.base import Frame

    blank = np.full((480, 640, 3), 90, np.uint8)
    rgb = blank.copy()
    found = _find_board(Frame(blank, 0, 0, "x", {"format": "RGB"}), rgb, Board(9, 6, 25.0))
    assert found == {"board": "9x6", "found": False, "reason": "no 9x6 chessboard found"}
    assert np.array_equal(rgb, blank)


def test_snap_board_spec_is_checked_before_the_camera_opens(cli, tmp_path):
    r = cli("cameras", "snap", "asi-left", "--out", str(tmp_path / "b.png"), "--board", "9")
    assert r.code == 2 and r.err.count("camdeck: error:") == 1 and "--board" in r.err and "fix:" in r.err
    assert not (tmp_path / "b.png").exists()


def test_snap_pi_camera(cli, tmp_path):
    out = tmp_path / "pi.jpg"
    r = cli("cameras", "snap", "lightroom", "--out", str(out), "--json")
    assert r.code == 0, r.err
    assert r.json()["format"] in ("RGB", "BGR") and out.stat().st_size > 1000


def test_help_in_a_subprocess_is_plain_and_quick_to_import():
    out = subprocess.run([sys.executable, "-m", "camdeck.console.cli.app", "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0 and "cameras" in out.stdout
