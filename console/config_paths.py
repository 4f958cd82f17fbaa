"""Where camdeck's files live: which config file is read, and which data folder is written.

The config file is the first of these that applies (``find_config``):

1. ``flag``: ``--config PATH``;
2. ``env``: ``$CAMDECK_CONFIG`` (set but empty is refused, never a silent fallback);
3. ``cwd``: ``./config.toml`` in the current folder;
4. ``user``: ``config.toml`` in platformdirs' ``user_config_dir("camdeck")``
   (``$XDG_CONFIG_HOME/camdeck``, by default ``~/.config/camdeck``);
5. ``site``: ``/etc/camdeck/config.toml``; ``$CAMDECK_SYSCONFDIR`` replaces ``/etc``
   (the autotools name, for packagers, containers and tests);
6. ``built-in``: the default all-simulated rig shipped with camdeck.

A file named by the flag or the environment is used even when it is missing (reading it then
fails with the fix); the other candidates are used only if they exist.

The data folder is the first of (``find_data_dir``): ``flag`` ``--data-dir DIR``, ``env``
``$CAMDECK_DATA_DIR``, ``config`` the config file's ``console.data_dir`` (``~`` expanded; a
relative path is taken from the current folder, as before), ``default`` platformdirs'
``user_data_dir("camdeck")`` (``$XDG_DATA_HOME/camdeck``, by default ``~/.local/share/camdeck``).
So the built-in rig never writes into the folder camdeck happens to start in.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camdeck.console.config_schema import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

APP_NAME = "camdeck"
BUILTIN_CONFIG = Path(__file__).with_name("default_config.toml")
CONFIG_ENV = "CAMDECK_CONFIG"
DATA_ENV = "CAMDECK_DATA_DIR"
SYSCONFDIR_ENV = "CAMDECK_SYSCONFDIR"

CONFIG_RULES = ("flag", "env", "cwd", "user", "site", "built-in")
DATA_RULES = ("flag", "env", "config", "default")


@dataclass(frozen=True)
class Candidate:
    """One place a config file may come from.

    ``path`` is None for a flag or variable that was not given; ``exists`` is None where
    existence decides nothing (a flag or variable is used as given).
    """

    rule: str
    where: str
    path: Path | None
    exists: bool | None
    chosen: bool

    def as_dict(self) -> dict:
        return {"rule": self.rule, "where": self.where, "path": None if self.path is None else str(self.path),
                "exists": self.exists, "chosen": self.chosen}


@dataclass(frozen=True)
class ConfigChoice:
    """The config file to read, the rule that chose it, and every candidate in search order."""

    path: Path
    rule: str
    candidates: tuple[Candidate, ...]

    @property
    def builtin(self) -> bool:
        return self.rule == "built-in"

    @property
    def reason(self) -> str:
        return next(c.where for c in self.candidates if c.chosen)


@dataclass(frozen=True)
class DataChoice:
    """The data folder (scans, history, simulator state, spool) and the rule that chose it."""

    path: Path
    rule: str
    reason: str


def user_config_file() -> Path:
    """``config.toml`` in the user's config folder (honours ``$XDG_CONFIG_HOME`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def site_config_file() -> Path:
    """``/etc/camdeck/config.toml``, or ``$CAMDECK_SYSCONFDIR/camdeck/config.toml`` when it is set."""
    root = os.environ.get(SYSCONFDIR_ENV) or "/etc"
    return Path(root) / APP_NAME / "config.toml"


def default_data_dir() -> Path:
    """The platform's user data folder for camdeck (honours ``$XDG_DATA_HOME`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def find_config(cli_path: str | os.PathLike | None) -> ConfigChoice:
    """The config file to use and why (module docstring: the search order).

    Args:
        cli_path: the value of ``--config`` (None when not given).

    Raises:
        ValueError: ``cli_path`` is an empty string, or ``$CAMDECK_CONFIG`` is set but empty
            (neither falls back silently to another file); the CLI rejects an empty flag earlier.
    """
    if cli_path is not None and not str(cli_path):
        raise ValueError("--config is empty; fix: pass the path of a config file, or leave --config out")
    env = os.environ.get(CONFIG_ENV)
    if env == "" and cli_path is None:
        raise ValueError(f"${CONFIG_ENV} is set but empty; fix: give it a path, or unset it")
    fixed = [("flag", "--config", Path(cli_path) if cli_path is not None else None),
             ("env", f"${CONFIG_ENV}", Path(env) if env else None)]
    searched = [("cwd", "./config.toml in the current folder", Path("config.toml")),
                ("user", "the user config folder", user_config_file()),
                ("site", "the site config folder", site_config_file())]
    candidates: list[Candidate] = []
    chosen: tuple[str, Path] | None = None
    for rule, where, path in fixed:
        pick = chosen is None and path is not None
        candidates.append(Candidate(rule, where, path, None, pick))
        if pick:
            chosen = (rule, path)
    for rule, where, path in searched:
        exists = path.is_file()
        pick = chosen is None and exists
        candidates.append(Candidate(rule, where, path, exists, pick))
        if pick:
            chosen = (rule, path)
    builtin_pick = chosen is None
    candidates.append(Candidate("built-in", "the built-in simulated rig", BUILTIN_CONFIG, True, builtin_pick))
    rule, path = chosen if chosen is not None else ("built-in", BUILTIN_CONFIG)
    return ConfigChoice(path=path, rule=rule, candidates=tuple(candidates))


def find_data_dir(cli_dir: str | os.PathLike | None, config_dir: str | None, config_label: str = "config") -> DataChoice:
    """The data folder to use and why: ``--data-dir``, ``$CAMDECK_DATA_DIR``, the config's
    ``console.data_dir``, else the platform's user data folder.

    Args:
        cli_dir: the value of ``--data-dir`` (None when not given).
        config_dir: ``console.data_dir`` as the config file says it (None when absent).
        config_label: the config file, for the reason text.

    Raises:
        ValueError: ``cli_dir`` is an empty string.
    """
    if cli_dir is not None and not str(cli_dir):
        raise ValueError("--data-dir is empty; fix: pass a folder, or leave --data-dir out")
    if cli_dir is not None:
        return DataChoice(Path(cli_dir), "flag", "--data-dir")
    env = os.environ.get(DATA_ENV)
    if env:
        return DataChoice(Path(env), "env", f"${DATA_ENV}")
    if config_dir:
        return DataChoice(Path(config_dir).expanduser(), "config", f"console.data_dir in {config_label}")
    return DataChoice(default_data_dir(), "default", "no data_dir configured: the user data folder")


def toml_nesting(text: str, limit: int) -> int:
    """How deeply ``text`` (TOML) nests arrays and inline tables, counted up to ``limit + 1``
    without parsing (tomllib recurses once per level: 5,000 levels would exhaust the stack).
    Brackets inside strings and comments do not count."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if ch in "\"'":
            triple = text.startswith(ch * 3, i)
            quote = ch * 3 if triple else ch
            j = i + len(quote)
            while j < n:
                if ch == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j) or (not triple and text[j] == "\n"):
                    break
                j += 1
            i = j + len(quote)
            continue
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest


def read_config(file: Path, label: str) -> dict[str, Any]:
    """The parsed TOML of ``file``: a regular file of at most 1 MiB (a FIFO, a device or a folder
    is refused before it is opened, so nothing hangs or fills memory), nested at most
    fileio.bounded.MAX_DEPTH levels (checked before tomllib recurses).

    Raises:
        ConfigError: naming the file, the problem and the fix.
    """
    from camdeck.fileio.bounded import CONFIG_CAP, MAX_DEPTH, UnreadableFile, depth, read_regular

    try:
        raw = read_regular(file, cap=CONFIG_CAP)
    except UnreadableFile as err:
        fix = ("pass the path of config.toml itself" if "folder" in err.problem else
               "pass an existing file with --config, or unset CAMDECK_CONFIG" if "does not exist" in err.problem
               else err.fix)
        problem = "file not found" if "does not exist" in err.problem else err.problem
        raise ConfigError(label, "", problem, fix) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(label, "", f"is not UTF-8 text (byte {err.start})", "save config.toml as UTF-8") from None
    if toml_nesting(text, MAX_DEPTH) > MAX_DEPTH:
        raise ConfigError(label, "", f"nests arrays or tables more than {MAX_DEPTH} levels deep",
                          "a camdeck config nests two or three levels: give the right file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(label, "", f"is not valid TOML ({err})", "correct the syntax at that line") from None
    except RecursionError:       # dotted keys or headers nested past the stack, not caught above
        raise ConfigError(label, "", "nests too deeply", "give the right file") from None
    if depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise ConfigError(label, "", f"nests keys more than {MAX_DEPTH} levels deep",
                          "a camdeck config nests two or three levels: give the right file")
    return data


def check_data_dir(choice: DataChoice) -> None:
    """The data folder is a folder (or can become one): not a file, and not under a file.

    Raises:
        ConfigError: naming the option, variable or key that chose it.
    """
    where = {"flag": "--data-dir", "env": "$CAMDECK_DATA_DIR", "config": "console.data_dir"}.get(choice.rule,
                                                                                               "data folder")
    path = Path(choice.path)
    for place in (path, *path.parents):
        if place.exists():
            if place.is_dir():
                return
            what = "is a file, not a folder" if place == path else f"lies under {place}, which is a file"
            raise ConfigError(where, "", f"{path} {what}",
                              f"give a folder for camdeck's data, e.g. {default_data_dir()}")
