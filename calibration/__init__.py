"""Geometry: chessboard detection, camera intrinsics, stereo pairs, coverage, depth and point clouds.

Modules (import them directly; this package imports nothing heavy):
    errors      CalibrationError and its bad-input subclasses (exit code 2 in the CLI)
    chessboard  Board, detect_chessboard (findChessboardCornersSB, fallback, cornerSubPix)
    intrinsics  calibrate_intrinsics, save_calibration / load_calibration (calibration.npz)
    stereo      calibrate_stereo, StereoCalibration, save_stereo / load_stereo (stereo.npz)
    coverage    Coverage: corner heat map and X / Y / size / skew bars, as data
    depth       rectify, SGBM disparity, kornia depth and points, range filter, PointCloudJob
    ply         write_ply / read_ply (binary little-endian, x y z float32 + r g b uint8)
"""
