"""Print pip constraints that pin every core dependency of pyproject.toml to its lower bound.

`make test-lowest` installs camdeck with these constraints, so the bounds in pyproject.toml are
the releases CI actually tests; read from pyproject.toml every time, they never drift. Each
core dependency must have a `>=` bound that is a real release (e.g. opencv-python-headless>=4.8.0.76,
since `==4.8` would not match 4.8.0.76); environment markers are kept (pip evaluates them).

Usage: python .ci/lowest_constraints.py [pyproject.toml] > lowest.txt
Exit 2 (with the dependency named) when one has no lower bound.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_REQ = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>[^;]*?)\s*(?:;\s*(?P<marker>.+))?$")


def lowest_pins(pyproject: Path) -> list[str]:
    """One `name==lower` line per core dependency (marker kept), in pyproject order."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for dep in deps:
        match = _REQ.match(dep)
        if match is None:
            raise ValueError(f"{dep!r}: not a requirement this script understands")
        lows = [part.strip()[2:].strip() for part in match["spec"].split(",") if part.strip().startswith(">=")]
        if len(lows) != 1:
            raise ValueError(f"{dep!r}: needs exactly one '>=' lower bound")
        marker = f"; {match['marker'].strip()}" if match["marker"] else ""
        pins.append(f"{match['name']}=={lows[0]}{marker}")
    return pins


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        pins = lowest_pins(path)
    except (ValueError, KeyError) as err:
        print(f"lowest_constraints: {path}: {err}", file=sys.stderr)
        return 2
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
