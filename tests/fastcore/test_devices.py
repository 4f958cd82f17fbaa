"""--device cpu|cuda|auto: the torch backend takes a device; CUDA that is not there is one line, exit 2.

No GPU is available where this suite runs on CPUs: the CUDA paths are checked by
test_backends.py::test_torch_cuda_matches_reference on a machine that has one; here the
CPU path and the refusals are.
"""
from __future__ import annotations

import numpy as np
import pytest

from camdeck import fastcore
from camdeck.fastcore.devices import DeviceUnavailable, resolve_device
from camdeck.fastcore.reference import carve_reference
from camdeck.fastcore.validation import check_carve_inputs
from tests.fastcore.test_backends import assert_agrees, blob_views


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def test_torch_on_the_cpu_device_matches_the_reference_with_attenuation():
    images, K, R, t = blob_views(3, spread_deg=90)
    want = carve_reference(images, K, R, t, 31, 0.06, attenuation=0.2)
    got = fastcore.carve(images, K, R, t, 31, 0.06, attenuation=0.2, backend="torch", device="cpu")
    assert_agrees(got, want, check_carve_inputs(images, K, R, t, 31, 0.06, attenuation=0.2))
    assert np.count_nonzero(got) > 100


def test_auto_picks_what_is_there():
    images, K, R, t = blob_views(2, spread_deg=30)
    args = (images, K, R, t, 23, 2.0 / 23, (0.1, -0.05, 0.0))
    got = fastcore.carve(*args, device="auto")
    assert_agrees(got, carve_reference(*args), check_carve_inputs(*args))
    assert resolve_device("auto") == ("cuda" if _cuda() else "cpu")
    assert resolve_device(None) == "cpu" and resolve_device("cpu") == "cpu"


def test_auto_without_a_gpu_driver_decides_without_importing_torch():
    """Importing torch costs seconds on a Pi; with no GPU driver on the machine "auto" is the CPU
    at once. Checked in a fresh interpreter, where nothing has imported torch yet."""
    import subprocess
    import sys

    from camdeck.fastcore.devices import no_gpu_driver

    if not no_gpu_driver():
        pytest.skip("this machine has a GPU driver: auto must ask torch")
    code = ("import sys; from camdeck.fastcore.devices import resolve_device; "
            "print(resolve_device('auto'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cpu", "False"]


def test_a_missing_gpu_is_one_line_naming_why_and_the_fix():
    if _cuda():
        pytest.skip("a CUDA device is present")
    images, K, R, t = blob_views(1)
    with pytest.raises(DeviceUnavailable) as caught:
        fastcore.carve(images, K, R, t, 8, 0.1, device="cuda")
    text = str(caught.value)
    assert "CUDA is not available here" in text and "fix:" in text and "\n" not in text
    assert caught.value.bad_input


def test_unknown_devices_and_cpu_backends_on_a_gpu_are_named():
    images, K, R, t = blob_views(1)
    with pytest.raises(fastcore.CarveInputError, match="device: 'gpu'"):
        fastcore.carve(images, K, R, t, 8, 0.1, device="gpu")
    if _cuda():
        with pytest.raises(fastcore.CarveInputError, match="runs on the CPU only"):
            fastcore.carve(images, K, R, t, 8, 0.1, backend="cython", device="cuda")


@pytest.mark.parametrize("argv,needle", [
    (["reconstruct", "--rig", "asi-stereo", "--frames", "1", "--device", "cuda"], "--device cuda: CUDA is not available"),
    (["bench", "--backends", "torch-cuda", "--sizes", "8"], "bench --backends torch-cuda: CUDA is not available"),
])
def test_cli_without_cuda_exits_2_with_one_line(cli, argv, needle):
    if _cuda():
        pytest.skip("a CUDA device is present")
    result = cli(*argv)
    assert result.code == 2 and needle in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_cli_refuses_a_cpu_backend_on_cuda_and_unknown_devices(cli):
    result = cli("reconstruct", "--rig", "asi-stereo", "--frames", "1", "--device", "cuda", "--backend", "cython")
    assert result.code == 2 and "--backend cython runs on the CPU only" in result.err
    result = cli("reconstruct", "--rig", "asi-stereo", "--frames", "1", "--device", "tpu")
    assert result.code == 2 and "--device 'tpu'" in result.err


def test_run_bench_refuses_torch_cuda_without_cuda_before_rendering_anything():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from camdeck.fastcore.bench import run_bench
    from camdeck.fastcore.devices import DeviceUnavailable

    with pytest.raises(DeviceUnavailable, match=r"^bench --backends torch-cuda: CUDA is not available.*; fix: "):
        run_bench((8,), ["torch-cuda"], image_size=(64, 36), budget_s=0.0)
