"""``camdeck config``: where camdeck's files live, and what the config says.

``camdeck config path`` prints the config file chosen and the rule that chose it, every
candidate in search order (console/config_paths.py), and the data folder chosen and why.
``camdeck config show`` prints the validated settings with every secret masked (fileio.redact:
secret keys, URL passwords, password= query parameters). Only typer at module level
(camdeck --help stays fast).
"""
from __future__ import annotations

from pathlib import Path

import typer

from camdeck.console.cli import common

app = typer.Typer(help="Where camdeck reads its config and writes its data.", no_args_is_help=True)

_STATUS = {None: "", True: "exists", False: "missing"}


@app.command("path")
def path() -> None:
    """Show which config file is used and why, every place searched, and the data folder.

    --json: {"config": {"path", "rule", "reason", "candidates": [{"rule", "where", "path",
    "exists", "chosen"}]}, "data_dir": {"path", "rule", "reason"}}. Rules: flag, env, cwd,
    user, site, built-in (config); flag, env, config, default (data folder).
    """
    loaded = common.settings()
    choice, data = loaded.config_choice, loaded.data_choice
    report = {
        "config": {"path": _absolute(choice.path), "rule": choice.rule, "reason": choice.reason,
                   "candidates": [dict(c.as_dict(), path=None if c.path is None else _absolute(c.path))
                                  for c in choice.candidates]},
        "data_dir": {"path": _absolute(data.path), "rule": data.rule, "reason": data.reason},
    }
    if common.json_mode():
        common.emit_json(report)
        return
    print(f"config file: {report['config']['path']}")
    print(f"  chosen by: {choice.rule} ({choice.reason})")
    print("  searched, in order:")
    for candidate in choice.candidates:
        shown = _absolute(candidate.path) if candidate.path is not None else (
            "not set" if candidate.rule == "env" else "not given")
        mark = "  <- chosen" if candidate.chosen else ""
        status = _STATUS[candidate.exists]
        print(f"    {candidate.rule:<9} {shown}{'  ' + status if status else ''}{mark}")
    print(f"data dir: {report['data_dir']['path']}")
    print(f"  chosen by: {data.rule} ({data.reason})")


@app.command("show")
def show() -> None:
    """Show the settings as camdeck read them (defaults filled in), secrets masked as ***.

    --json: {"source", "data_dir", "console", "sim", "cameras": {NAME: {...}}, "rigs",
    "deployments", "mqtt", "redis", "storage", "slack", "monitor"}.
    """
    import json

    report = settings_report(common.settings())
    if common.json_mode():
        common.emit_json(report)
        return
    from camdeck.fileio.redact import scrub

    print(scrub(json.dumps(report, indent=2, default=str)))


def settings_report(loaded) -> dict:
    """The settings as plain JSON-safe data, every secret masked (Secret values, secret keys, URL
    passwords and secret query parameters: fileio.redact, the one place that masks them)."""
    from dataclasses import fields, is_dataclass

    from camdeck.console.config import redacted
    from camdeck.fileio.redact import redact_mapping

    def plain(value):
        if is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)
                    if f.name not in ("config_choice", "data_choice")}
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return redacted(value)

    return redact_mapping(plain(loaded))


def _absolute(path: Path) -> str:
    return str(Path(path).absolute())
