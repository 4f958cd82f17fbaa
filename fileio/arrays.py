"""Reading the .npz and .npy files a user hands camdeck: one reader, every array checked before use.

``load_npz(path, spec)`` reads a regular file under a size cap (``bounded.read_regular``: FIFOs and
devices refused), opens it as a zip and, for each key of ``spec``, reads the member's .npy header
*before* its data: an object dtype (pickle) is never loaded, and a declared size above
``max_bytes`` is refused without inflating it, so a small compressed file cannot exhaust memory.
Then each array is checked against its ``ArraySpec``: dtype kind, shape (a named dimension such
as ``"N"`` must be the same length in every key that names it), element count, finiteness and
range. ``load_npy`` does the same for a single-array .npy file, reading it straight from disk.

Every problem is an ``UnreadableFile`` (bad input: the CLI exits 2) whose one line names the
file, the key and the fix. numpy is imported inside the functions (fileio stays light).
"""
from __future__ import annotations

import io
import math
import os
import stat
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from camdeck.fileio.bounded import MiB, UnreadableFile, check_regular, read_regular

NPZ_CAP = 64 * MiB          # calibration and features files are a few MB at most
_FIX = "give the file camdeck wrote"


@dataclass(frozen=True)
class ArraySpec:
    """What one array must look like.

    Attributes:
        shape: None (any), or one entry per axis: an int (that length), a str (a named length
            shared by every key using the name) or None (any length).
        kinds: numpy dtype kinds accepted ("f" float, "i"/"u" integers, "b" bool, "U" text).
        sizes: element counts accepted (e.g. (4, 5, 8, 12, 14) for OpenCV distortion), or None.
        max_ndim: most axes when ``shape`` is None.
        finite: refuse NaN and infinity (numeric kinds only).
        low, high: every value within [low, high] (None: unbounded).
        required: a missing key is an error (else it is left out of the result).
    """

    shape: tuple[int | str | None, ...] | None = None
    kinds: str = "fiu"
    sizes: tuple[int, ...] | None = None
    max_ndim: int = 4
    finite: bool = True
    low: float | None = None
    high: float | None = None
    required: bool = True


def load_npz(path: str | os.PathLike, spec: Mapping[str, ArraySpec], *, what: str = "", fix: str = _FIX,
             cap: int = NPZ_CAP, max_bytes: int | None = None) -> dict[str, Any]:
    """The arrays of ``spec`` from the .npz at ``path``, each checked (see the module doc).

    Args:
        path: the file.
        spec: key -> ArraySpec; keys not in it are not read.
        what: how the user named the file (an option or config key), for the message.
        fix: what to do about a bad file (shown after "fix:").
        cap: largest file accepted, bytes.
        max_bytes: largest array accepted once loaded, bytes (default 4 x cap).
    Returns:
        key -> numpy array (a 0-d array for a scalar).
    Raises:
        UnreadableFile: not a regular file, over the cap, not an .npz, a key missing or malformed.
    """
    import zipfile
    import zlib

    data = read_regular(path, what=what, cap=cap)
    limit = max_bytes if max_bytes is not None else 4 * cap
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise UnreadableFile(what, path, "not a readable .npz file (not a zip archive; truncated?)", fix) from None
    out: dict[str, Any] = {}
    dims: dict[str, int] = {}
    with archive:
        members = {name[:-4]: name for name in archive.namelist() if name.endswith(".npy")}
        for key, want in spec.items():
            if key not in members:
                if want.required:
                    raise UnreadableFile(what, path, f"missing {key} (a key every such file holds)", fix)
                continue
            try:
                with archive.open(members[key]) as fh:
                    array = _read_checked(fh, key, want, limit)
            except _Refused as err:
                raise UnreadableFile(what, path, f"key {key}: {err}", fix) from None
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError, NotImplementedError,
                    RuntimeError, OverflowError, SyntaxError) as err:
                raise UnreadableFile(what, path, f"key {key} cannot be read ({_short(err)}; truncated?)",
                                     fix) from None
            _check_values(array, key, want, dims, what, path, fix)
            out[key] = array
    return out


def load_npy(path: str | os.PathLike, spec: ArraySpec, *, what: str = "", fix: str = _FIX,
             cap: int = NPZ_CAP) -> Any:
    """The array in the .npy at ``path``, checked against ``spec`` (read from disk, not copied first).

    Raises:
        UnreadableFile: not a regular file, over the cap, not an .npy, or malformed.
    """
    check_regular(path, what=what, cap=cap)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise UnreadableFile(what, path, f"cannot be read ({err.strerror})", "check the path and its permissions") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):     # swapped between the check and the open
            raise UnreadableFile(what, path, "is not a regular file", "give a regular file")
        try:
            array = _read_checked(fh, "", spec, cap)
        except _Refused as err:
            raise UnreadableFile(what, path, str(err), fix) from None
        except (EOFError, ValueError, OSError, OverflowError, SyntaxError) as err:
            raise UnreadableFile(what, path, f"not a readable .npy file ({_short(err)}; truncated?)", fix) from None
    _check_values(array, "", spec, {}, what, path, fix)
    return array


class _Refused(ValueError):
    """A header that declares something the spec refuses (caught and named by the callers)."""


def _read_checked(fh, key: str, want: ArraySpec, max_bytes: int):
    """Read one .npy stream whose header passes ``want`` and ``max_bytes``; the data only then."""
    from numpy.lib import format as npy

    start = fh.tell()           # a real file or a zip member: both seek (a member by reading again)
    version = npy.read_magic(fh)
    if version == (1, 0):
        shape, _fortran, dtype = npy.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _fortran, dtype = npy.read_array_header_2_0(fh)
    else:
        raise _Refused(f"unsupported .npy version {version}")
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None:
        raise _Refused(f"dtype {dtype} holds objects or records, not plain numbers")
    if dtype.kind not in want.kinds:
        raise _Refused(f"dtype {dtype} is not {_kinds(want.kinds)}")
    count = math.prod(shape)
    if count * dtype.itemsize > max_bytes:
        raise _Refused(f"declares {count} elements of {dtype} ({count * dtype.itemsize / MiB:.0f} MiB), "
                       f"more than the {max_bytes / MiB:g} MiB allowed")
    fh.seek(start)
    return npy.read_array(fh, allow_pickle=False)


def _check_values(array, key: str, want: ArraySpec, dims: dict[str, int], what: str, path, fix: str) -> None:
    import numpy as np

    label = f"key {key}: " if key else ""

    def refuse(problem: str):
        return UnreadableFile(what, path, label + problem, fix)

    if want.shape is not None:
        if array.ndim != len(want.shape):
            raise refuse(f"shape {array.shape}, expected {_shape_text(want.shape)}")
        for axis, (got, expect) in enumerate(zip(array.shape, want.shape)):
            if isinstance(expect, int) and got != expect:
                raise refuse(f"shape {array.shape}, expected {_shape_text(want.shape)}")
            if isinstance(expect, str):
                if dims.setdefault(expect, got) != got:
                    raise refuse(f"shape {array.shape}: axis {axis} is {got} long where another key has "
                                 f"{expect} = {dims[expect]}")
    elif array.ndim > want.max_ndim:
        raise refuse(f"shape {array.shape} has more than {want.max_ndim} axes")
    if want.sizes is not None and array.size not in want.sizes:
        raise refuse(f"{array.size} values, expected {' or '.join(map(str, want.sizes))}")
    if array.dtype.kind not in "fiub" or array.size == 0:
        return
    if want.finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise refuse("holds NaN or infinity")
    if want.low is not None and (array < want.low).any():
        raise refuse(f"holds a value below {want.low:g}")
    if want.high is not None and (array > want.high).any():
        raise refuse(f"holds a value above {want.high:g}")


def _shape_text(shape: Sequence[int | str | None]) -> str:
    parts = ["?" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _kinds(kinds: str) -> str:
    names = {"f": "float", "i": "integer", "u": "integer", "b": "bool", "U": "text"}
    shown = list(dict.fromkeys(names.get(k, k) for k in kinds))
    return "a number" if shown[:2] == ["float", "integer"] else "an " + " or ".join(shown) \
        if shown[0][0] in "aeiou" else "a " + " or ".join(shown)


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."
