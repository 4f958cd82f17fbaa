"""Where a carve runs: "cpu", "cuda" (or "cuda:N") or "auto", checked before any work starts.

Only the torch backend runs on a GPU; "cpu" never imports torch, so the core install (no
torch extra) keeps working. A CUDA device that is not there is one line naming why (a torch
build without CUDA, or no GPU) and the fix, raised as DeviceUnavailable (exit 2 in the CLI).
"""
from __future__ import annotations

import os
import re
import sys

from camdeck.fastcore.errors import BackendUnavailable, CarveInputError
from camdeck.fastcore.extras import has_extra, require_extra

DEVICES = ("cpu", "cuda", "auto")


class DeviceUnavailable(BackendUnavailable):
    """A CUDA device was asked for and this machine or this torch build has none."""


def check_device_name(device) -> str:
    """"cpu", "cuda", "cuda:N" or "auto" (None means "cpu"), else CarveInputError naming the value."""
    if device is None:
        return "cpu"
    name = str(device)
    if name in DEVICES or re.fullmatch(r"cuda:\d+", name):
        return name
    raise CarveInputError(f"device: {device!r}; fix: pass 'cpu', 'cuda' (or 'cuda:N') or 'auto'")


# What a CUDA GPU's kernel driver leaves on Linux: the desktop/server driver, Jetson's (nvhost,
# nvgpu) and WSL2's GPU bridge. Without any of them torch cannot see a GPU, so "auto" need not
# import torch (seconds on a Pi) to learn it.
_GPU_DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/nvidia0", "/dev/nvidiactl", "/dev/nvhost-ctrl", "/dev/nvgpu",
                     "/dev/dxg")


def no_gpu_driver() -> bool:
    """True when this is Linux and no CUDA kernel driver is present (so CUDA cannot be available)."""
    return sys.platform.startswith("linux") and not any(os.path.exists(p) for p in _GPU_DRIVER_PATHS)


CPU_FIX = "use --device cpu (or auto), or install a CUDA build of torch on a GPU machine"


def resolve_device(device, what: str = "the carve", fix: str = CPU_FIX) -> str:
    """The concrete device for ``device``: "cpu", "cuda" or "cuda:N".

    "auto" is CUDA when torch is installed and sees a GPU, else the CPU (never an error); on a
    Linux machine with no GPU driver at all it is the CPU without importing torch.

    Args:
        device: "cpu", "cuda", "cuda:N", "auto" or None (the CPU).
        what: the feature asking, for the messages ("--device cuda", "bench --backends torch-cuda").
        fix: what to do when CUDA is absent (default: use the CPU).

    Raises:
        CarveInputError: an unknown device name.
        MissingExtra: a CUDA device without torch installed (names ``camdeck[torch]``).
        DeviceUnavailable: a CUDA device that is not there (the reason and the fix in one line).
    """
    name = check_device_name(device)
    if name == "cpu":
        return "cpu"
    if name == "auto":
        if not has_extra("torch") or no_gpu_driver():
            return "cpu"
        torch = require_extra("torch", what)
        return "cuda" if torch.cuda.is_available() else "cpu"
    torch = require_extra("torch", what)
    if not torch.cuda.is_available():
        why = (f"this torch build ({torch.__version__}) has no CUDA" if torch.version.cuda is None
               else f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU")
        raise DeviceUnavailable(f"{what}: CUDA is not available here: {why}; fix: {fix}")
    if ":" in name and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise DeviceUnavailable(f"{what}: {name} does not exist ({torch.cuda.device_count()} CUDA device(s)); "
                                "fix: use cuda:0 .. cuda:%d" % (torch.cuda.device_count() - 1))
    return name
