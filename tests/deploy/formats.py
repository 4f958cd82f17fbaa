"""Readers for the deployment formats, just enough to run deploy/ files without their tools.

Dockerfiles and .dockerignore (as BuildKit reads them), systemd unit files, and the
``$(VAR)`` expansion Kubernetes applies to a container's command and args.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    """One FROM ... [AS name] block: its base image and (KEYWORD, argument text) instructions."""

    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [text for kw, text in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def read_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile: comments dropped, backslash continuations joined."""
    stages: list[Stage] = []
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if logical and line.startswith("#"):
            continue                                  # a comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, text = logical.partition(" ")
        keyword, text = keyword.upper(), text.strip()
        logical = ""
        if keyword == "FROM":
            parts = text.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base=parts[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"{path}: {keyword} before the first FROM"
        else:
            stages[-1].instructions.append((keyword, text))
    return stages


def exec_form(text: str) -> list[str]:
    """ENTRYPOINT/CMD in exec form (a JSON list); the shell form is refused (no signals to PID 1)."""
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {text}"
    return value


def env_pairs(text: str) -> dict[str, str]:
    """ENV NAME=value [NAME=value ...] -> dict."""
    return dict(item.split("=", 1) for item in shlex.split(text))


def copy_args(text: str) -> tuple[dict[str, str], list[str], str]:
    """COPY [--flag=value ...] SRC... DEST -> (flags, sources, dest)."""
    words = shlex.split(text)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


# ---------------------------------------------------------------- .dockerignore

def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def read_dockerignore(path: Path) -> list[tuple[bool, re.Pattern]]:
    """(is_exception, regex) per rule, in order; a later matching rule wins, as in BuildKit."""
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((exception, _pattern_regex(pattern)))
    return rules


def is_ignored(relpath: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether BuildKit leaves ``relpath`` out: a rule matching it or one of its parent folders."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for exception, regex in rules:
        if any(regex.match(p) for p in prefixes):
            ignored = not exception
    return ignored


def build_context(root: Path, rules: list[tuple[bool, re.Pattern]]) -> list[str]:
    """Every file under ``root`` that a `docker build root` sends, as relative POSIX paths."""
    files = []
    for folder, dirs, names in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        # a folder is pruned only when nothing inside it can be re-included by a later '!' rule
        if not any(exc for exc, _ in rules):
            dirs[:] = [d for d in dirs if not is_ignored(prefix + d, rules)]
        files += [prefix + n for n in names if not is_ignored(prefix + n, rules)]
    return sorted(files)


# ---------------------------------------------------------------- systemd

def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Section -> [(key, value)] in order (keys may repeat); continuation lines joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current, pending = None, ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        assert current is not None, f"{path}: {line!r} outside a section"
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def unit_value(unit: dict, section: str, key: str) -> str | None:
    """The effective value of a key (the last assignment), or None."""
    values = [v for k, v in unit.get(section, []) if k == key]
    return values[-1] if values else None


def exec_argv(value: str) -> list[str]:
    """ExecStart= -> argv: the special prefixes (-, @, :, +, !) dropped, words split as systemd does."""
    assert "$" not in value and "%" not in value, f"variables or specifiers in {value!r}: expand them in the test"
    return shlex.split(value.lstrip("-@:+!"))


# ---------------------------------------------------------------- Kubernetes

def expand_k8s(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command/args: defined variables replaced, $$ escapes, others kept."""
    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, text)
