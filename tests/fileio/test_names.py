"""fileio.names: the one safe-name check for names that become paths."""
from __future__ import annotations

import pytest

from camdeck.fileio.names import UnsafeName, check_safe_name


@pytest.mark.parametrize("name", ["site-01", "LightRoom", "a.b_c", "9"])
def test_safe_names_pass(name):
    assert check_safe_name(name, "deployments.NAME") == name


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ".hidden", "", "a..b", "x" * 65, "\x1b[31mred", "[b]bold[/b]",
                                  "with space", 5, None])
def test_unsafe_names_are_refused_naming_the_field_and_the_fix(name):
    with pytest.raises(UnsafeName) as info:
        check_safe_name(name, "deployments.NAME")
    line = str(info.value)
    assert line.startswith("deployments.NAME: ") and "fix: use" in line and "\x1b" not in line
