"""``camdeck presets list|show NAME|save NAME|delete NAME``: the recorder's saved presets.

A preset holds each camera's own controls (drivers/recording/presets.py), in
``DATA_DIR/presets/NAME.json``. ``save`` reads the current controls of the cameras named by
``--from-cameras A,B`` (default: the configured recorder rig's cameras) and writes the file
atomically; it refuses to replace an existing preset without ``--overwrite``. Every command
takes ``--json`` (one object on stdout). Exit codes: 0 done; 1 a camera could not be opened
or the file could not be written; 2 an unknown or unsafe name (with the fix), a broken file,
an unknown camera. Only typer at module level (``camdeck --help`` stays fast).
"""
from __future__ import annotations

from typing import Any, Optional

import typer

from camdeck.console.cli import common

app = typer.Typer(help="List, show, save and delete recorder presets (each camera's own controls).",
                  no_args_is_help=True)


def _store():
    from camdeck.drivers.recording.presets import PresetStore

    return PresetStore(common.settings().data_dir)


def _recorder_cameras(settings) -> list[str]:
    for rig in settings.rigs.values():
        if rig.type == "recorder":
            return list(rig.cameras)
    raise common.BadInput("--from-cameras is missing and config.toml has no recorder rig; "
                          "fix: pass --from-cameras A,B")


def _value_text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_value_text(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _summary(store, name: str) -> dict[str, Any]:
    """One row of ``list``: a file that does not load is listed with its error, not fatal."""
    from camdeck.drivers.recording.presets import PresetError

    row: dict[str, Any] = {"name": name, "path": str(store.folder / f"{name}.json")}
    try:
        preset = store.load(name)
    except PresetError as err:
        return {**row, "created": None, "cameras": [], "error": str(err)}
    return {**row, "created": preset.created or None, "cameras": sorted(preset.cameras),
            "default": bool(preset.default), "migrated_from": preset.migrated_from,
            "migration_note": preset.migration_note or None, "error": None}


@app.command("list")
def list_presets() -> None:
    """List the saved presets: name, cameras, when saved (--json: {"folder", "presets": [...]})."""
    store = _store()
    rows = [_summary(store, name) for name in store.names()]
    if common.json_mode():
        common.emit_json({"folder": str(store.folder), "presets": rows})
        return
    if not rows:
        common.stdout_console().print(f"no presets in {store.folder}; save one with `camdeck presets save NAME`",
                                      markup=False, highlight=False)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"presets ({store.folder})")
    for col in ("name", "cameras", "saved", "note"):
        table.add_column(col)
    for row in rows:
        cams = " + ".join(filter(None, [", ".join(row["cameras"]),
                                        ("any other camera" if row["cameras"] else "any camera") if row.get("default")
                                        else ""]))
        note = row["error"] or row.get("migration_note") or ("old format, read as schema 2"
                                                             if row.get("migrated_from") else "")
        table.add_row(Text(row["name"]), Text(cams), Text(row["created"] or ""), Text(note))
    common.stdout_console().print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="Preset name (see `camdeck presets list`).")) -> None:
    """Show each camera's controls in a preset (--json: the preset as schema 2, with its path)."""
    preset = _store().load(name)
    if common.json_mode():
        common.emit_json({**preset.to_json(), "path": preset.path, "migrated_from": preset.migrated_from,
                          "migration_note": preset.migration_note or None})
        return
    from rich.table import Table
    from rich.text import Text

    out = common.stdout_console()
    out.print(f"preset {preset.name} ({preset.path}), saved {preset.created or 'at an unknown time'}",
              markup=False, highlight=False)
    if preset.migration_note:
        out.print(f"note: {preset.migration_note}", markup=False, highlight=False)
    tables = [(f"{cam} ({entry.model or 'model unknown'})", entry.controls) for cam, entry in preset.cameras.items()]
    if preset.default:
        tables.append(("any other camera" if preset.cameras else "any camera", preset.default))
    for title, controls in tables:
        table = Table(title=Text(title))
        table.add_column("control")
        table.add_column("value")
        for key, value in sorted(controls.items()):
            table.add_row(Text(key), Text(_value_text(value)))
        out.print(table)


@app.command("save")
def save(
    name: str = typer.Argument(..., help="Preset name: letters, digits, '-', '_', '.' (at most 64)."),
    from_cameras: Optional[str] = typer.Option(None, "--from-cameras", metavar="A,B",
                                               help="Cameras whose current controls to save (default: the "
                                                    "recorder rig's cameras)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing preset of that name."),
) -> None:
    """Save each camera's own current controls as preset NAME (written atomically)."""
    from contextlib import ExitStack

    from camdeck.drivers.errors import DriverError
    from camdeck.drivers.recording.presets import PresetStore, check_preset_name
    from camdeck.drivers.registry import find_spec, open_camera
    from camdeck.fileio.atomic import write_fix

    settings = common.settings()
    store = PresetStore(settings.data_dir)
    check_preset_name(name)
    if from_cameras is not None:
        names = [n.strip() for n in from_cameras.split(",")]
        if not names or any(not n for n in names) or len(set(names)) != len(names):
            raise common.BadInput(f"--from-cameras {from_cameras[:60]!r}: give distinct camera names, comma-separated; "
                                  "fix: --from-cameras lightroom,darkroom")
    else:
        names = _recorder_cameras(settings)
    specs = [find_spec(settings.cameras, n) for n in names]
    if store.exists(name) and not overwrite:
        raise common.BadInput(f"preset {name!r} exists ({store.path(name)}); fix: pass --overwrite to replace it, "
                              "or choose another name")
    with ExitStack() as stack:
        cams = [stack.enter_context(open_camera(spec, settings.driver_context())) for spec in specs]
        try:
            preset = store.save_from_cameras(name, cams, overwrite=overwrite)
        except OSError as err:
            raise DriverError(f"preset {name!r}: cannot write {store.path(name)} ({err.strerror or err})",
                              write_fix(err, store.folder)) from None
    if common.json_mode():
        common.emit_json({**preset.to_json(), "path": preset.path})
        return
    counts = ", ".join(f"{cam} {len(entry.controls)} controls" for cam, entry in preset.cameras.items())
    common.stdout_console().print(f"saved preset {name} ({counts}) to {preset.path}", markup=False, highlight=False)


@app.command("delete")
def delete(name: str = typer.Argument(..., help="Preset name (see `camdeck presets list`).")) -> None:
    """Delete preset NAME (--json: {"deleted", "path"})."""
    path = _store().delete(name)
    if common.json_mode():
        common.emit_json({"deleted": name, "path": str(path)})
        return
    common.stdout_console().print(f"deleted preset {name} ({path})", markup=False, highlight=False)
