"""fastcore.extras: every optional library is imported through require_extra, which names the extra."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from camdeck.fastcore.extras import EXTRA_OF, MissingExtra, has_extra, require_extra

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("console", "drivers", "fastcore", "calibration", "monitoring", "themes")


def test_an_absent_library_names_the_extra_and_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "slack_sdk", None)
    with pytest.raises(ImportError) as caught:        # old `except ImportError` fallbacks still work
        require_extra("slack_sdk.webhook", "Slack alerts")
    err = caught.value
    assert isinstance(err, MissingExtra) and err.bad_input
    assert str(err) == "Slack alerts needs slack_sdk, which is not installed; fix: pip install 'camdeck[fleet]'"
    assert not has_extra("slack_sdk")


def test_a_broken_install_says_so_instead_of_not_installed(monkeypatch, tmp_path):
    fake = tmp_path / "openpyxl"
    fake.mkdir()
    (fake / "__init__.py").write_text("from camdeck_no_such_dependency import thing\n")
    monkeypatch.delitem(sys.modules, "openpyxl", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtra) as caught:
        require_extra("openpyxl", "the Excel report")
    text = str(caught.value)
    assert "installed but cannot be imported" in text and "camdeck_no_such_dependency" in text
    assert "camdeck[fleet]" in text


def test_a_present_library_is_returned():
    assert require_extra("openpyxl", "the Excel report").__name__ == "openpyxl"


def test_no_product_module_imports_an_optional_library_directly():
    """Only fastcore/extras.py imports them, so no command can hit a bare ModuleNotFoundError."""
    pattern = re.compile(r"^\s*(?:import|from)\s+(" + "|".join(EXTRA_OF) + r")\b", re.M)
    offenders = []
    for root in PRODUCT:
        for path in (REPO / root).rglob("*.py"):
            for match in pattern.finditer(path.read_text()):
                offenders.append(f"{path.relative_to(REPO)}: {match.group(0).strip()}")
    assert not offenders, offenders
