"""Nothing left behind: temporaries of dead writers, and folders a failed command created.

``fileio.atomic`` names each temporary ``.NAME.tmp-PID-XXXXXXXX.part`` and removes it itself on
any failure it lives through; a kill -9 (or a power cut) is the one failure it cannot see.
``remove_stale_temporaries(folder)`` is what a command calls on start-up, before it writes into a
folder: it removes the temporaries whose writer is gone, either because no process has that PID
any more, or because the process that has it now started after the file was last written (the
PID was reused). A temporary of a live writer (another camdeck writing into the same folder)
is left alone.

``removed_if_failed(folder)`` wraps a command that creates its output folder: when the command
fails, the folders it created (the output folder and any missing parents) are removed again if
they are still empty, so a failed command leaves no new empty folder behind.
"""
from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import re
from pathlib import Path
from typing import Iterator

log = logging.getLogger("camdeck.fileio")

#: The temporaries fileio.atomic makes: ``.NAME.tmp-PID-RANDOM.part``.
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>[0-9]{1,10})-[A-Za-z0-9_]+\.part$")
#: A file written this long before its PID's process started was not written by that process
#: (/proc's boot time is in whole seconds, so the two clocks agree to about a second).
_CLOCK_SLACK_S = 2.0


def remove_stale_temporaries(folder: str | os.PathLike, names: str = "*") -> list[Path]:
    """Remove the atomic-write temporaries in ``folder`` whose writer is gone (see the module doc).

    Args:
        folder: where to look (not recursive); a missing folder has nothing to remove.
        names: a glob the target file's name must match (``"grid_*"``), to touch only one
            command's files.
    Returns:
        The paths removed (each is also logged at info level).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = TEMPORARY.match(entry.name)
        if match is None or not fnmatch.fnmatchcase(match["name"], names):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            modified = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if writer_alive(int(match["pid"]), modified):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue                     # its writer, or another cleaner, got there first
        except OSError as err:
            log.warning("cannot remove the leftover temporary %s (%s)", entry.path, err.strerror)
            continue
        log.info("removed %s, left by process %s, which is gone", entry.path, match["pid"])
        removed.append(Path(entry.path))
    return removed


def writer_alive(pid: int, modified_s: float) -> bool:
    """Whether process ``pid`` may still be writing a file last modified at ``modified_s`` (epoch s)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                             # someone else's process: alive
    except OSError:
        return True                      # cannot tell: leave the file alone
    started = process_start_s(pid)
    return started is None or modified_s >= started - _CLOCK_SLACK_S


def process_start_ticks(pid: int) -> int | None:
    """The kernel start time of ``pid`` (clock ticks since boot, Linux /proc), or None where /proc
    is absent or the process is gone. The one reader of it (console.jobs uses it too)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
        # the command name (field 2) may hold spaces and parentheses: count from the last ')'
        return int(text.rsplit(")", 1)[1].split()[19])     # field 22: starttime
    except (OSError, IndexError, ValueError):
        return None


def process_start_s(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds, Linux /proc), or None where that cannot be read."""
    ticks = process_start_ticks(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def removed_if_failed(folder: str | os.PathLike) -> Iterator[Path]:
    """Remove the folders created inside the block when it fails and they are still empty.

    The block creates ``folder`` (with its missing parents) however it likes; this only notes
    which of them did not exist on entry. On success nothing is touched; on any exception
    (Ctrl-C included) the empty ones are removed, deepest first, and the exception goes on.
    """
    folder = Path(folder)
    missing: list[Path] = []
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        yield folder
    except BaseException:
        for path in missing:             # deepest first
            try:
                path.rmdir()             # only an empty folder goes
            except OSError:
                break
        raise
