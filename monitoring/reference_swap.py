"""Replacing a camera's reference scan atomically: build beside it, swap it in only when complete.

A reference collection never writes into the reference that fleet runs read. It builds in a
staging folder beside it (``reference.partial/``, resumable) and, once its manifest says
``complete``, swaps it in with two renames::

    reference/          -> reference-<created of the old one>/   (archived, kept)
    reference.partial/  -> reference/

So a collection that fails at any point (before its first frame, mid-scan, under kill -9)
leaves ``reference/`` as it was, and fleet runs keep using it. The one moment without a
``reference/`` is between the two renames; a crash exactly there leaves a complete staging
folder and no reference, which :func:`recover_reference` (called by collections and fleet
runs before they read the reference) finishes by doing the second rename.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from camdeck.fileio.atomic import fsync_dir
from camdeck.fileio.bounded import UnreadableFile, load_json

MANIFEST = "manifest.json"
STAGING_SUFFIX = ".partial"


def staging_folder(folder: Path) -> Path:
    """Where a new reference for ``folder`` is built: ``<folder>.partial`` beside it."""
    folder = Path(folder)
    return folder.with_name(folder.name + STAGING_SUFFIX)


def read_json_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` as a dict, or None when it is missing or unreadable."""
    try:
        data = load_json(Path(folder) / MANIFEST)        # regular file, bounded size and depth
    except UnreadableFile:
        return None
    return data if isinstance(data, dict) else None


def holds_no_files(folder: Path) -> bool:
    """True when ``folder`` contains only (empty) folders: what an interrupted start leaves."""
    return all(not p.is_file() and not p.is_symlink() for p in Path(folder).rglob("*"))


def recover_reference(folder: Path) -> bool:
    """Finish a swap interrupted between its two renames; returns True when it did.

    When ``folder`` has no manifest (missing, or only empty folders left by an older camdeck's
    failed re-collection) and the staging folder holds a complete manifest, the staging folder
    becomes the reference.
    """
    folder = Path(folder)
    staging = staging_folder(folder)
    if (folder / MANIFEST).is_file():
        return False
    staged = read_json_manifest(staging)
    if not (staged and staged.get("complete") is True):
        return False
    if folder.exists():
        if not holds_no_files(folder):
            return False
        shutil.rmtree(folder)
    try:
        os.rename(staging, folder)
    except OSError:          # the collection itself finished the swap meanwhile
        return False
    fsync_dir(folder.parent)
    return True


def archive_name(folder: Path, manifest: dict[str, Any] | None, fallback_stamp: str) -> Path:
    """A free ``<folder>-<created>`` name for the reference being replaced."""
    created = str((manifest or {}).get("created") or fallback_stamp)
    stamp = created.replace(":", "").replace("-", "")
    target = folder.with_name(f"{folder.name}-{stamp}")
    n = 1
    while target.exists():
        target = folder.with_name(f"{folder.name}-{stamp}-{n}")
        n += 1
    return target


def swap_in_reference(staging: Path, folder: Path, fallback_stamp: str) -> Path | None:
    """Make the complete scan in ``staging`` the reference at ``folder``; returns the archive, if any.

    The old reference (a folder with a manifest) is renamed to ``<folder>-<its created>``; a
    folder holding no files (an interrupted start of an older camdeck) is removed instead.

    Raises:
        OSError: a rename failed; ``folder`` then still holds the old reference, or
            :func:`recover_reference` completes the swap on the next call.
    """
    staging, folder = Path(staging), Path(folder)
    archived = None
    if folder.exists():
        if (folder / MANIFEST).is_file():
            archived = archive_name(folder, read_json_manifest(folder), fallback_stamp)
            os.rename(folder, archived)
        elif holds_no_files(folder):
            shutil.rmtree(folder)
    try:
        os.rename(staging, folder)
    except FileNotFoundError:
        if not (folder / MANIFEST).is_file():
            raise
        # a fleet run's recover_reference did this second rename between ours (the same scan)
    fsync_dir(folder.parent)
    return archived
