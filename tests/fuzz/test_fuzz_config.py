"""Fuzz the config loader: Hypothesis mutants of the shipped config, each loaded through the real CLI.

A mutant drops keys, changes types, puts numbers out of range (nan, inf, 1e308, 2**70), huge or
hostile strings (ANSI escapes, rich markup, '..' names), nests lists thousands deep, truncates
the file or breaks its UTF-8, and plants secrets (strings, and numbers or lists where a secret
string belongs). ``camdeck --config MUTANT cameras list`` must exit 0 or 2 with at most one
error line that carries a fix, never a traceback, and never print a planted secret; a mutant that
loads is also shown whole (``config show``), and no planted secret may appear there either.
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from camdeck.console.config_paths import BUILTIN_CONFIG

from .outcome import check_clean, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib

SECRET = "PLANTED-s3cr3t-9f4e"
SECRET_NUMBER = 31415926
# where a secret may stand; the value planted there (a string, a number or a list) must never be shown
SECRET_PLACES = (("mqtt", "password"), ("slack", "token"), ("slack", "webhook_url"),
                 ("cameras", "ptz-1", "password"), ("redis", "url"))
BASE: dict[str, Any] = tomllib.loads(BUILTIN_CONFIG.read_text())


class Deep:
    """A value nested ``levels`` lists deep (written straight as TOML: no recursion to build it)."""

    def __init__(self, levels: int) -> None:
        self.levels = levels


# ---------------------------------------------------------------- a TOML writer for any mutant

def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, Deep):
        return "[" * value.levels + "]" * value.levels
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_string(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def to_toml(doc: dict[str, Any]) -> str:
    """``doc`` as TOML: top-level values first, then one [section] per table of inline tables."""
    lines = [f"{_string(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{_string(key)}]")
            lines.extend(f"{_string(str(k))} = {_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- mutations

def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(prefix + (key,))
            out.extend(_paths(value, prefix + (key,)))
    return out


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _parent(doc: dict, path: tuple) -> dict:
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node


HOSTILE_TEXT = ("\x1b[31mred\x1b[0m", "[b]bold[/b]", "..", "../../etc", "a" * 5000, "\u202eevil", "\x00",
                "é漢字🎥", "", " ", "$(reboot)", "0.0.0.0", "redis://:redis@pw789@host/0")
NUMBERS = (0, -1, -5, 7, 2**31, 2**63 - 1, 10**30, 0.0, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf,
           -math.inf, 16384, 65536, 1e-9)
VECTORS = ([1e308, 0, 0], [16384, 16384], [1.0], [0, 0, 64, 64], [math.nan, 0.0, 0.0])

values = st.deferred(lambda: st.one_of(
    st.sampled_from(NUMBERS), st.sampled_from(HOSTILE_TEXT), st.sampled_from(VECTORS), st.booleans(),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(NUMBERS), st.text(max_size=8)), max_size=5),
    st.dictionaries(st.text(max_size=8), st.sampled_from(NUMBERS), max_size=3),
    st.sampled_from((Deep(3), Deep(70), Deep(5000)))))


@st.composite
def mutants(draw) -> tuple[bytes, tuple[str, ...]]:
    """(the file's bytes, the secrets that must not be printed)."""
    doc = _copy(BASE)
    secrets: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        op = draw(st.sampled_from(("drop", "retype", "retype", "add", "rename", "secret")))
        if op == "secret" or not paths:
            place = draw(st.sampled_from(SECRET_PLACES))
            planted = draw(st.sampled_from((SECRET, SECRET_NUMBER, [SECRET], {"v": SECRET},
                                            f"redis://:{SECRET}@127.0.0.1:6379/0",
                                            f"redis://127.0.0.1/0?password={SECRET}")))
            node = doc
            for key in place[:-1]:
                node = node.setdefault(key, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict):
                node[place[-1]] = planted
                secrets.append(str(SECRET_NUMBER) if planted == SECRET_NUMBER else SECRET)
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        if op == "drop":
            parent.pop(path[-1], None)
        elif op == "retype":
            parent[path[-1]] = draw(values)
        elif op == "add":
            target = parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent
            key = draw(st.sampled_from(("zzz", "controls", "password", "host", "label", "position_m",
                                        "resolution", "deployment", "AfMode", "ColourGains")))
            target[key] = draw(values)
        elif op == "rename" and isinstance(parent[path[-1]], dict):
            parent[draw(st.sampled_from(HOSTILE_TEXT[:7]))] = parent.pop(path[-1])
    data = to_toml(doc).encode("utf-8")
    damage = draw(st.sampled_from((None, None, None, "truncate", "bad-utf8")))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "bad-utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff\xfe" + data[at:]
    return data, tuple(secrets)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Nothing from the developer's environment: data and config folders under tmp_path."""
    for var in ("CAMDECK_CONFIG", "REDIS_URL", "CAMDECK_LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CAMDECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


@given(case=mutants())
def test_config_mutants_exit_0_or_2_with_one_line_and_no_secret(isolated, case):
    from camdeck.fileio import redact

    data, secrets = case
    path = Path(isolated) / "config.toml"
    path.write_bytes(data)
    redact.forget_all()           # every case proves its own redaction, not a previous case's
    result = run_cli(["--config", str(path), "cameras", "list"], timeout_s=20.0)
    check_clean(result, allowed=(0, 2), secrets=secrets, what=f"mutant ({len(data)} bytes)")
    if result.code == 0:        # a config that loads: showing it whole must mask every planted secret
        shown = run_cli(["--config", str(path), "--json", "config", "show"], timeout_s=20.0)
        check_clean(shown, allowed=(0,), secrets=secrets, what="config show")
    assert os.path.getsize(path) == len(data)      # loading never writes the config
