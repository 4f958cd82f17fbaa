"""The fixed top level and the one-way import direction of DESIGN.md.

console -> monitoring -> drivers -> calibration -> fastcore -> fileio: a package imports
only packages to its right (fileio, the rightmost, imports none of ours); themes is
imported by console only; nothing imports console.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORDER = ["console", "monitoring", "drivers", "calibration", "fastcore", "fileio"]
OURS = set(ORDER) | {"themes"}


def _package_of(module: str) -> str:
    """'camdeck.drivers.sim' -> 'drivers'; a bare top-level name is kept (and flagged by the caller)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "camdeck" and len(parts) > 1 else parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(_package_of(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "camdeck":  # from camdeck import fastcore
                names.update(alias.name for alias in node.names)
            else:
                names.add(_package_of(node.module))
    return names & OURS


def _bare_imports(path: Path) -> list[str]:
    """Imports of our packages outside the camdeck namespace (they break once installed)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
        bad += [m for m in modules if m.split(".")[0] in OURS]
    return bad


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


def test_every_import_goes_through_the_camdeck_namespace():
    bad = []
    for folder in ORDER + ["themes", "tests", "benchmarks"]:
        for path in (REPO / folder).rglob("*.py"):
            bad += [f"{path.relative_to(REPO)}: {m}" for m in _bare_imports(path)]
    assert not bad, bad
