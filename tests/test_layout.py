"""The fixed top level and the one-way import direction of DESIGN.md.

console -> monitoring -> drivers -> calibration -> fastcore: a package imports only
packages to its right; themes is imported by console only; nothing imports console.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORDER = ["console", "monitoring", "drivers", "calibration", "fastcore"]
OURS = set(ORDER) | {"themes"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & OURS


def test_top_level_layout():
    for name in ORDER + ["themes", "tests", "pyproject.toml", "config.toml", "Makefile", "README.md"]:
        assert (REPO / name).exists(), name


def test_imports_run_one_way():
    bad = []
    for package in ORDER + ["themes"]:
        for path in (REPO / package).rglob("*.py"):
            for target in _imports(path) - {package}:
                if package == "themes" or target == "console":
                    ok = False
                elif target == "themes":
                    ok = package == "console"
                else:
                    ok = ORDER.index(target) > ORDER.index(package)
                if not ok:
                    bad.append(f"{path.relative_to(REPO)} imports {target}")
    assert not bad, bad
