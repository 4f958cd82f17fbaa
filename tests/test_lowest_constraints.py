""".ci/lowest_constraints.py: the pins `make test-lowest` installs are pyproject.toml's lower bounds."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "lowest_constraints.py"


def _run(pyproject: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(pyproject)], capture_output=True, text=True, timeout=60)


def test_every_core_dependency_is_pinned_to_its_lower_bound():
    proc = _run(REPO / "pyproject.toml")
    assert proc.returncode == 0, proc.stderr
    pins = proc.stdout.splitlines()
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(pins) == len(deps)
    for dep, pin in zip(deps, pins):
        assert pin == dep.replace(">=", "==").replace(";", "; ").replace(";  ", "; "), (dep, pin)
    assert "textual==6.2.0" in pins and "typer==0.16.0" in pins


def test_a_dependency_without_a_lower_bound_is_refused(tmp_path):
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\nname = "x"\ndependencies = ["numpy>=1.24.0", "rich"]\n')
    proc = _run(bad)
    assert proc.returncode == 2 and "'rich'" in proc.stderr and "lower bound" in proc.stderr
