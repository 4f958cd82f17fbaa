"""Reading user-supplied files safely: regular files only, under a size cap, nesting capped.

A FIFO, a device (``/dev/zero``), a socket or a folder given where a file is expected would
hang a reader or exhaust memory; ``read_regular`` refuses them before opening (and opens with
O_NONBLOCK, so a file swapped for a FIFO between the check and the open cannot block either).
Errors are ``UnreadableFile`` (``bad_input``: the CLI exits 2) and name the option or key, the
file and the fix. fileio imports nothing of ours.
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CONFIG_CAP = 1 * MiB        # config.toml
MANIFEST_CAP = 16 * MiB     # manifest.json, landmarks, metadata
MAX_DEPTH = 64              # nesting of JSON/TOML tables and lists


class UnreadableFile(Exception):
    """A file that cannot be used as input. ``str()`` is the one line the CLI prints."""

    bad_input = True

    def __init__(self, what: str, path: str | os.PathLike, problem: str, fix: str) -> None:
        self.what, self.path, self.problem, self.fix = what, str(path), problem, fix
        label = f"{what} {path}" if what else str(path)
        super().__init__(f"{label}: {problem}; fix: {fix}")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular(path: str | os.PathLike, *, what: str = "", cap: int = MANIFEST_CAP) -> int:
    """The size of ``path`` if it is a readable regular file no larger than ``cap``, else UnreadableFile."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnreadableFile(what, path, "does not exist", "check the path") from None
    except OSError as err:
        raise UnreadableFile(what, path, f"cannot be read ({err.strerror})", "check the path and its permissions") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableFile(what, path, f"is {_kind(st.st_mode)}, not a regular file", "give a regular file")
    if st.st_size > cap:
        raise UnreadableFile(what, path, f"is {st.st_size / MiB:.1f} MiB, more than the {cap / MiB:g} MiB allowed",
                             "give the right file (is it truncated or the wrong one?)")
    return st.st_size


def read_regular(path: str | os.PathLike, *, what: str = "", cap: int = MANIFEST_CAP) -> bytes:
    """The bytes of ``path``: a regular file of at most ``cap`` bytes (see the module doc)."""
    check_regular(path, what=what, cap=cap)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise UnreadableFile(what, path, f"cannot be read ({err.strerror})", "check the path and its permissions") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):      # swapped between stat and open
            raise UnreadableFile(what, path, "is not a regular file", "give a regular file")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:                            # grew while we read it
                raise UnreadableFile(what, path, f"is more than the {cap / MiB:g} MiB allowed",
                                     "give the right file")
            chunks.append(chunk)
    except OSError as err:
        raise UnreadableFile(what, path, f"cannot be read ({err.strerror})", "check the file") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: str | os.PathLike, *, what: str = "", cap: int = MANIFEST_CAP) -> str:
    """``read_regular`` decoded as UTF-8 (an error names the file)."""
    data = read_regular(path, what=what, cap=cap)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableFile(what, path, f"is not UTF-8 text (byte {err.start})", "give a text file") from None


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests lists and dicts, counting at most to ``limit + 1`` (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(path: str | os.PathLike, *, what: str = "", cap: int = MANIFEST_CAP, max_depth: int = MAX_DEPTH,
              allow_nan: bool = False) -> Any:
    """Parse a JSON file read with ``read_text``; deep nesting, NaN and Infinity are refused."""
    text = read_text(path, what=what, cap=cap)
    # Count brackets before parsing: json's recursion would die long before the depth check.
    running = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            running += 1
            if running > max_depth:
                raise UnreadableFile(what, path, f"nests more than {max_depth} levels deep",
                                     "give the file camdeck wrote (it nests a few levels)")
        elif ch in "]}":
            running -= 1
    try:
        return json.loads(text, parse_constant=None if allow_nan else _no_constants)
    except ValueError as err:
        raise UnreadableFile(what, path, f"is not valid JSON ({err})", "give the file camdeck wrote") from None


def finite(value: Any) -> bool:
    """True for a real number that is neither NaN nor infinite (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_under(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when ``path`` resolves inside ``folder`` (symlinks followed)."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True
