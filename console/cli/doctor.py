"""`camdeck doctor`: check SDKs, permissions, links and services for the configured rig, with fixes.

The checks live in monitoring/doctor.py; this command prints them. Exit 1 when a check
the configured rig requires fails (a missing SDK, a camera not found, an unreachable
ONVIF device); warnings (MQTT: fleet runs then poll positions; Redis) and skipped checks
(cameras behind a deployment's tunnel) do not change the exit code.
"""
from __future__ import annotations

import typer

from camdeck.console.cli import common

MARKS = {"ok": ("[green]ok[/]", "ok"), "missing": ("[red]MISSING[/]", "MISSING"),
         "warning": ("[yellow]warning[/]", "warning"), "skipped": ("[dim]skipped[/]", "skipped")}


def register(app: typer.Typer) -> None:
    """Add the `doctor` command to the root app."""
    app.command("doctor")(doctor)


def doctor() -> None:
    """Check the ASI SDK and its udev rule, USB3 links, picamera2 and its cameras, MQTT, Redis, ONVIF,
    and, when configured, Slack (auth.test), the S3 bucket and the Athena workgroup and output location."""
    from camdeck.monitoring.doctor import run_checks

    settings = common.settings()
    report = run_checks(settings)
    if common.json_mode():
        common.emit_json({"config": settings.source, **report.as_dict()})
    else:
        _print(settings.source, report)
    if not report.ok:
        raise typer.Exit(1)


def _print(source: str, report) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"camdeck doctor ({escape(source)})", show_lines=False)
    for col in ("check", "status", "finding", "fix"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        mark = MARKS.get(f.status, (f.status, f.status))[0]
        if f.required and f.status not in ("ok", "skipped"):
            mark += " [red](required)[/]"
        table.add_row(escape(f.check), mark, escape(f.detail), escape(f.fix))
    console = common.stdout_console()
    console.print(table)
    failed = [f.check for f in report.findings if f.failed]
    if failed:
        console.print(f"[red]{len(failed)} required check(s) failed:[/] {escape(', '.join(failed))}")
    else:
        console.print("[green]everything the configured rig requires is in place[/]")
