"""The fixed top level and the one-way import direction of docs/design.md.

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


# ------------------------------------------------------------------ the simulator is just another driver

#: Domain code that must not know the simulator: it reaches cameras through the registry, and
#: what differs between drivers (telemetry, clocks, network endpoints) through the camera's own
#: interface (drivers.base: TelemetryFeed, Camera.clock; registry.camera_endpoint). The
#: simulator itself (drivers/sim/), the console (its `camdeck sim` commands, the config schema)
#: and the tests may use it.
SIM_FREE = ["monitoring", "drivers", "calibration", "fastcore", "fileio"]
SIM_PACKAGE = "camdeck.drivers.sim"


def _names_the_driver(node: ast.AST) -> bool:
    """``driver``, ``spec.driver``, ``cam.info().driver``: an expression that is a driver name."""
    return (isinstance(node, ast.Name) and node.id == "driver") or (
        isinstance(node, ast.Attribute) and node.attr == "driver")


def _is_sim(node: ast.AST) -> bool:
    """The constant "sim", or a literal collection holding it (``driver in ("sim", ...)``)."""
    if isinstance(node, ast.Constant):
        return node.value == "sim"
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_sim(e) for e in node.elts)
    return False


def simulator_special_cases(source: str, filename: str = "<source>") -> list[str]:
    """Imports of the simulator and comparisons of a driver name to "sim" in ``source``: 'line: what'."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            modules = [node.args[0].value]
        sim = [m for m in modules if m == SIM_PACKAGE or m.startswith(SIM_PACKAGE + ".")]
        if sim:
            found.append(f"{node.lineno}: imports {sim[0]}")
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_names_the_driver(o) for o in operands) and any(_is_sim(o) for o in operands):
                found.append(f"{node.lineno}: compares a driver name to \"sim\"")
    return sorted(found, key=lambda f: int(f.split(":")[0]))


def test_the_special_case_finder_finds_each_form():
    bad = '''
import camdeck.drivers.sim
from camdeck.drivers.sim.ptz import SimPtzCamera
from camdeck.drivers import sim
mod = importlib.import_module("camdeck.drivers.sim.clock")
if spec.driver == "sim": pass
if "sim" != camera.info().driver: pass
if driver in ("sim", "onvif"): pass
'''
    assert [f.split(":")[0] for f in simulator_special_cases(bad)] == ["2", "3", "4", "5", "6", "7", "8"]
    fine = '''
from camdeck.drivers.registry import open_camera
from camdeck.drivers import registry
if spec.driver == "onvif" or name == "sim": pass
DRIVER_MODULES = {"sim": "camdeck.drivers.sim"}
'''
    assert simulator_special_cases(fine) == []


def test_domain_code_never_special_cases_the_simulator():
    bad = []
    for package in SIM_FREE:
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO)
            if rel.parts[:2] == ("drivers", "sim"):
                continue          # the simulator itself
            bad += [f"{rel}:{f}" for f in simulator_special_cases(path.read_text(), str(path))]
    assert not bad, bad
    assert (REPO / "drivers" / "recording").is_dir() and (REPO / "monitoring").is_dir()   # what is checked exists


def test_fileio_imports_none_of_ours():
    for path in (REPO / "fileio").rglob("*.py"):
        others = _imports(path) - {"fileio"}          # its own modules (arrays uses bounded) are fine
        assert not others, f"{path.relative_to(REPO)} imports {others}"
