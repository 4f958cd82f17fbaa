"""Every option's help reaches the reader whole: rich markup must not swallow `[section]` names."""
from __future__ import annotations

import re

import click
import typer.main
from typer.testing import CliRunner

from camdeck.console.cli.app import app

SECTION = re.compile(r"\\?\[([a-z_.]+)\]")


def _commands(group: click.Command, path: tuple[str, ...] = ()):
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, path + (name,))


def test_bracketed_config_sections_survive_help_rendering():
    root = typer.main.get_command(app)
    runner = CliRunner()
    checked = 0
    for path, command in _commands(root):
        wanted = {m for p in command.params for m in SECTION.findall(getattr(p, "help", None) or "")}
        if not wanted:
            continue
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}, prog_name="camdeck")
        assert result.exit_code == 0, result.output
        for section in wanted:
            assert f"[{section}]" in result.output, (path, section)
        checked += 1
    assert checked, "no option help names a [section]: the test checks nothing"
