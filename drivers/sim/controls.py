"""What the simulated cameras do with the controls of the shared tables (drivers/controls.py).

A simulated camera accepts every control its real model's table lists, so a config that works on
the simulator works on hardware and the other way round. Some controls change nothing in the
simulated image (autofocus, the ISP's denoise, ...): the camera stores them, reports them back in
``controls()``, and lists the ones set away from their defaults under the frame meta key
``not_simulated``, so nobody mistakes a stored value for a simulated effect.
"""
from __future__ import annotations

from typing import Any, Mapping

from camdeck.drivers.controls import ControlDef

# No simulated effect (stored and reported only):
# - ASI flip: the simulated sensor is read out unflipped (a flip would also change the Bayer phase);
# - Pi autofocus (AfMode, AfRange, AfSpeed, AfWindows): the lens stays at LensPosition;
# - AwbMode: the simulated AWB is grey-world whatever the illuminant named;
# - AeMeteringMode: simulated auto exposure meters the whole frame;
# - NoiseReductionMode: the simulated ISP does no denoising.
NOT_SIMULATED = frozenset({"flip", "AfMode", "AfRange", "AfSpeed", "AfWindows", "AwbMode", "AeMeteringMode",
                           "NoiseReductionMode"})


def not_simulated(table: Mapping[str, ControlDef], values: Mapping[str, Any]) -> tuple[str, ...]:
    """The controls in ``values`` set away from their defaults that have no simulated effect (sorted)."""
    return tuple(sorted(name for name in NOT_SIMULATED
                        if name in table and name in values and values[name] != table[name].default))
