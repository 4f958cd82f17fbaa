"""The spool of stills a sink could not store: one atomically written file per still, sent oldest first.

Both sinks keep a still here when it cannot be stored now (Redis away, the sink folder's disk
full or gone) and send what is here before the next still, so none is lost while the spool's
own disk has room. A file is ``<unix-ts>_<seq>.still``: a magic line, one JSON line with the
still's facts and its key, then the image bytes. A file that cannot be read back is renamed
``.bad`` (kept for a human, never retried).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from camdeck.drivers.stills.sinks import StillImage
from camdeck.fileio.atomic import write_bytes_atomic as _write_bytes_atomic

SPOOL_MAGIC = b"CAMDECK-STILL 1\n"


class StillSpool:
    """The spool folder of one sink (created when the first still is kept)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def keep(self, still: StillImage) -> Path:
        """Write ``still`` to the spool. Raises OSError when it cannot (a full or gone disk)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        header = {k: v for k, v in still.fields().items() if k != "image"}
        header["key"] = still.key
        # time first in the name keeps the replay in capture order
        path = self.folder / f"{still.timestamp:017.6f}_{still.seq:08d}.still"
        _write_bytes_atomic(path, SPOOL_MAGIC + json.dumps(header).encode() + b"\n" + still.data)
        return path

    def pending(self) -> int:
        """Stills waiting in the spool."""
        return sum(1 for _ in self.folder.glob("*.still")) if self.folder.is_dir() else 0

    def replay(self, store: Callable[[str, StillImage], object]) -> int:
        """``store(key, still)`` each spooled still, oldest first, deleting each once stored.

        Whatever ``store`` raises ends the replay there (the rest waits for the next one).
        Returns how many were stored.
        """
        sent = 0
        for path in sorted(self.folder.glob("*.still")) if self.folder.is_dir() else ():
            try:
                key, still = read_spooled(path)
            except (OSError, ValueError, KeyError, TypeError):
                path.rename(path.with_suffix(".bad"))
                continue
            store(key, still)
            path.unlink()
            sent += 1
        return sent


def read_spooled(path: Path) -> tuple[str, StillImage]:
    """One spool file -> (its key, the still). Raises ValueError/KeyError/TypeError if damaged."""
    blob = path.read_bytes()
    if not blob.startswith(SPOOL_MAGIC):
        raise ValueError(f"{path.name}: not a spooled still")
    head, sep, data = blob[len(SPOOL_MAGIC):].partition(b"\n")
    if not sep:
        raise ValueError(f"{path.name}: truncated")
    h = json.loads(head)
    if not isinstance(h, dict):
        raise ValueError(f"{path.name}: no header")
    still = StillImage(data=data, format=str(h["format"]), camera=str(h["camera"]), width=int(h["width"]),
                       height=int(h["height"]), timestamp=float(h["timestamp"]), seq=int(h["seq"]),
                       metadata=json.loads(h["metadata"]) if isinstance(h.get("metadata"), str) else {})
    return str(h["key"]), still
