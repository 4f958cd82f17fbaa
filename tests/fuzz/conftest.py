"""Fuzz tests (Hypothesis): a short, derandomized run in CI; `make fuzz` runs the long one.

CAMDECK_FUZZ=long selects the long profile (many more cases per target, still derandomized so a
failure can be replayed). Each generated case runs under a per-case timeout (outcome.run_cli).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, derandomize=True, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=int(os.environ.get("CAMDECK_FUZZ_EXAMPLES", "0")) or 40, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("CAMDECK_FUZZ_EXAMPLES", "0")) or 1000, **_COMMON)
settings.load_profile("long" if os.environ.get("CAMDECK_FUZZ") == "long" else "ci")
