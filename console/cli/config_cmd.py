"""``camdeck config``: where camdeck's files live.

``camdeck config path`` prints the config file chosen and the rule that chose it, every
candidate in search order (console/config_paths.py), and the data folder chosen and why.
Only typer at module level (camdeck --help stays fast).
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


def _absolute(path: Path) -> str:
    return str(Path(path).absolute())
