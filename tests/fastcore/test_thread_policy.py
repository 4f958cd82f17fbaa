"""The kernel's OpenMP threads sleep when idle (OMP_WAIT_POLICY=passive) unless the operator
chose otherwise: checked in a real child interpreter, as libgomp itself reports it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from camdeck import fastcore

pytestmark = pytest.mark.skipif(not fastcore.cython_available(), reason="the Cython kernel is not built")


def libgomp_settings(**env) -> str:
    """libgomp's own report (OMP_DISPLAY_ENV=verbose, on stderr) after importing the kernel."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    child_env.update(OMP_DISPLAY_ENV="verbose", **env)
    result = subprocess.run([sys.executable, "-c", "import camdeck.fastcore._carve"], env=child_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_idle_threads_never_spin_by_default():
    report = libgomp_settings()
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in report
    assert "GOMP_SPINCOUNT = '0'" in report        # libgomp's unset default spins 300000 times


def test_an_operators_wait_policy_wins():
    report = libgomp_settings(OMP_WAIT_POLICY="active")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in report
    assert "GOMP_SPINCOUNT = '0'" not in report
