"""Assertions shared by test packages."""
from __future__ import annotations

import numpy as np


def assert_noisy_view(actual: np.ndarray, expected: np.ndarray, max_sigma_dn: float = 5.0) -> None:
    """``actual`` is the noise-free ``expected`` view plus unbiased sensor noise.

    A wrong pose or wrong K on these feature-rich views gives residuals of tens of DN;
    the simulated sensor adds about 2 DN rms at mid-grey.
    """
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    diff = actual.astype(np.float64) - expected.astype(np.float64)
    assert abs(diff.mean()) < 0.5, f"biased by {diff.mean():.2f} DN"
    assert 0.2 < diff.std() < max_sigma_dn, f"residual {diff.std():.2f} DN rms: not the same view plus noise"
