"""A camera's reference scan in S3: uploaded when it is collected, and once per scan.

The origin workflow puts the reference in S3 as soon as it is collected
(``{deployment}/{camera}/reference_scan/{images,features}/`` + ``manifest.json``, features in
camdeck's .npz and COLMAP's .txt). ``collect-references`` calls :func:`upload_reference` after a
complete scan; a fleet run calls it too, and it only uploads a reference it has not sent yet,
so a reference collected while S3 was not configured still goes up with the first run.

"Sent" is recorded in the reference folder's ``.uploaded`` marker: the destination and the
scan's ``created`` stamp, so a re-collected reference (a new stamp) or a new bucket uploads
again. What S3 refuses waits in the spool (monitoring.spool, through CloudStore.upload_scan)
exactly as a fleet run's uploads do, and the next ``monitor run`` sends it first; a spooled
reference counts as sent for the marker, since the spool will deliver it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from camdeck.fileio.atomic import write_text_atomic
from camdeck.fileio.bounded import UnreadableFile, load_json, read_text

log = logging.getLogger(__name__)

REFERENCE_MARKER = ".uploaded"


def reference_stamp(cloud: Any, folder: Path, deployment: str, camera: str) -> str:
    """What the marker holds for this reference at this destination: ``<s3 location> <created>``."""
    try:
        manifest = load_json(Path(folder) / "manifest.json")     # regular file, bounded size and depth
    except UnreadableFile:
        manifest = None
    created = str(manifest.get("created", "")) if isinstance(manifest, dict) else ""
    return f"{cloud.scan_location(deployment, camera, 'reference')} {created}"


def reference_sent(cloud: Any, folder: Path, deployment: str, camera: str) -> bool:
    """True when this reference scan already went (or is spooled) to this destination."""
    marker = Path(folder) / REFERENCE_MARKER
    try:
        return read_text(marker, cap=64 * 1024).strip() == reference_stamp(cloud, folder, deployment, camera)
    except UnreadableFile:
        return False


def upload_reference(cloud: Any, folder: str | Path, deployment: str, camera: str, *, force: bool = False):
    """Upload a reference scan to S3 unless it was sent already; spool what S3 refuses.

    Args:
        cloud: a ``monitoring.cloud.CloudStore``.
        folder: the complete reference scan (images/, features/, manifest.json).
        force: upload even when the marker says it was sent.
    Returns:
        The ``UploadResult`` (files sent, files spooled, the S3 location), or None when S3 is not
        configured or this reference was sent before.
    Raises:
        MonitoringInputError: the folder has no manifest.json.
        SpoolError: S3 refused and the spool cannot be written (disk full); the marker is not written.
    """
    folder = Path(folder)
    if not cloud.s3_enabled or (not force and reference_sent(cloud, folder, deployment, camera)):
        return None
    result = cloud.upload_scan(folder, deployment, camera, "reference")
    # sent or spooled: either way it goes out, so it is not sent again
    write_text_atomic(folder / REFERENCE_MARKER, reference_stamp(cloud, folder, deployment, camera))
    if result.spooled:
        log.warning("%s/%s: reference %d file(s) sent, %d spooled for the next run (%s)", deployment, camera,
                    result.uploaded, result.spooled, result.errors[0] if result.errors else "S3 unreachable")
    else:
        log.info("%s/%s: reference uploaded to %s (%d files)", deployment, camera, result.location, result.uploaded)
    return result


def upload_collected_reference(settings: Any, deployment: str, camera: str, folder: str | Path):
    """``collect-references``' upload: a CloudStore for ``[storage]`` and :func:`upload_reference`.

    Returns:
        The UploadResult, or None when ``storage.s3_bucket`` is empty.
    Raises:
        MissingExtra: S3 is configured but boto3 is not installed (exit 2 naming camdeck[fleet]).
        SpoolError: see :func:`upload_reference`.
    """
    from camdeck.fastcore.extras import require_extra
    from camdeck.monitoring.cloud import CloudStore

    if not settings.storage.s3_bucket:
        return None
    require_extra("boto3", "S3 storage ([storage])")
    return upload_reference(CloudStore(settings.storage, settings.data_dir), folder, deployment, camera, force=True)
