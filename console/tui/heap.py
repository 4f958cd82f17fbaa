"""Keep a long-running console's heap from holding on to freed frame buffers (glibc only).

The TUI allocates and frees frame-sized numpy arrays many times a second on several worker
threads (capture, render, the live reconstruction). glibc's allocator serves an allocation
above ``M_MMAP_THRESHOLD`` with its own mmap and gives it back on free, but it raises that
threshold each time such a block is freed (up to 32 MiB on 64-bit), after which multi-MB
arrays come from the per-thread arenas; freed, they stay there as fragments the process
keeps for good, and each worker thread can get an arena of its own. Over an hour of preview
this is a plateau of a few hundred MB and a slow upward drift.

``tune_allocator`` pins the threshold (which also stops the dynamic raise) and caps the
number of arenas, before the TUI starts its threads. Elsewhere (musl, macOS) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD_BYTES = 256 * 1024     # a 64x64 float32 block and up: its own mapping, returned on free
TRIM_THRESHOLD_BYTES = 1024 * 1024    # give freed heap top back once 1 MiB is free
ARENA_MAX = 2                         # the UI thread and the workers share two arenas


def _libc():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def tune_allocator() -> bool:
    """Pin glibc's mmap threshold, trim threshold and arena count for this process.

    Call it before starting threads. Returns True when every setting was applied, False
    where the C library has no ``mallopt`` (not glibc) or refused one; it never raises.
    """
    libc = _libc()
    if libc is None:
        log.debug("no glibc mallopt: allocator left as it is")
        return False
    applied = all(libc.mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        (M_ARENA_MAX, ARENA_MAX),
    ))
    log.debug("allocator tuned: mmap threshold %d B, %d arenas (%s)", MMAP_THRESHOLD_BYTES, ARENA_MAX,
              "applied" if applied else "partly refused")
    return applied

