"""The console's one owner of open cameras.

Real hardware allows one user per camera: libcamera one Picamera2 instance per camera (the
picamera2 driver refuses a second), the ASI SDK one open per camera ID (a second open/close
would close it under the first). So the TUI opens each camera once, here, and every tab gets
it from the pool:

- the Cameras tab's workers call driver methods inside ``with pool.use(name) as cam:`` (under
  the camera's lock, so the preview, the probe and the controls worker never capture at once);
- a tab that needs cameras for a while (recording, reconstruction, calibration) borrows them:
  ``with pool.borrow(names, by="recording") as cams:``. The Cameras tab cannot use a lent
  camera (``use`` raises CameraInUse naming the holder, and its preview says so); a second
  borrower is refused the same way. The borrower gets the open cameras stopped, as a fresh
  open would give them, wrapped in ``LentCamera``: ``close()`` only stops it.

When the loan ends the pool stops each camera, puts back the controls the borrower changed
(a preset applied for a recording is the session's, not the console's), and tells its
listeners, so the Cameras tab resumes its preview. A camera that reported CameraDisconnected
(to a borrower or inside ``use``) is closed, and opened afresh on its next use.

At exit ``close_all`` closes every camera, but a lent one only once its borrower has given it
back (the tabs ask their jobs to stop first: a recording finishes its files and says it was
stopped, instead of losing its cameras under it), or after a bounded wait.

Thread-safe: borrows run in worker threads. Textual-free: listeners are plain callables
(the Cameras tab's posts a message, which is thread-safe).
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

from camdeck.drivers.errors import CameraDisconnected, DriverError

log = logging.getLogger(__name__)

Listener = Callable[[tuple[str, ...], "str | None"], None]


class CameraInUse(DriverError):
    """The camera is lent to another part of the console; the message names the holder."""


class CameraPool:
    """Opened cameras by name, each opened at most once and lent to one borrower at a time.

    Args:
        specs: the configured CameraSpecs by name.
        ctx: the DriverContext every camera is opened with (``ctx`` attribute, for sessions).
        opener: ``(spec, ctx) -> Camera``; default ``drivers.registry.open_camera``.
    """

    def __init__(self, specs: Mapping[str, Any], ctx: Any, opener: Callable[[Any, Any], Any] | None = None) -> None:
        if opener is None:
            from camdeck.drivers.registry import open_camera as opener
        self.specs, self.ctx = specs, ctx
        self._opener = opener
        self._cameras: dict[str, Any] = {}
        self._locks = {name: threading.Lock() for name in specs}   # one driver call at a time per camera
        self._state = threading.Lock()                             # guards _holders and _listeners
        self._holders: dict[str, str] = {}
        self._given_back = threading.Condition(self._state)      # notified when a loan ends
        self._listeners: list[Listener] = []
        self._closed = False

    # ---------------------------------------------------------------- queries and listeners
    def holder(self, name: str) -> str | None:
        """Who borrowed ``name`` ("recording", ...), or None when the console has it."""
        with self._state:
            return self._holders.get(name)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(names, holder)`` when cameras are lent (holder) and given back (None).

        It runs on the borrower's thread: it must only hand the news on (``post_message``).
        """
        with self._state:
            self._listeners.append(listener)

    # ---------------------------------------------------------------- the Cameras tab
    @contextmanager
    def use(self, name: str, *, open_missing: bool = True) -> Iterator[Any]:
        """The open camera ``name`` under its lock (opened on first use).

        Args:
            open_missing: False yields None instead of opening a camera that is not open.
        Raises:
            KeyError: ``name`` is not configured.
            CameraInUse: the camera is lent out (the message names the holder).
            DriverError: opening failed (CameraNotFound, DriverUnavailable, ...). A
                CameraDisconnected raised inside the block closes the camera first.
        """
        with self._locks[name]:
            holder = self.holder(name)
            if holder is not None:
                raise _in_use(name, holder)
            cam = self._cameras.get(name)
            if cam is None and open_missing:
                cam = self._open(name)
            try:
                yield cam
            except CameraDisconnected:
                self._drop(name)
                raise

    def reopen(self, name: str, spec: Any) -> None:
        """Close camera ``name`` and open it from ``spec`` at its next use (a new resolution,
        chosen in the camera form between takes).

        Raises:
            CameraInUse: the camera is lent out (a take is running): nothing changes.
        """
        with self._locks[name]:
            holder = self.holder(name)
            if holder is not None:
                raise _in_use(name, holder)
            self.specs = {**self.specs, name: spec}     # the pool's copy: the config stays as loaded
            self._drop(name)

    # ---------------------------------------------------------------- borrowers
    @contextmanager
    def borrow(self, names: Sequence[str], *, by: str) -> Iterator[list["LentCamera"]]:
        """Lend the cameras ``names`` (all or none) to ``by`` for the ``with`` block.

        Yields one LentCamera per name, in order, stopped. The Cameras tab stops using them
        (its in-flight capture finishes first) until the block ends.

        Raises:
            CameraInUse: a camera is already lent (the message names the holder).
            UnknownCamera: a name is not configured.
            DriverError: a camera cannot be opened (nothing stays lent).
        """
        from camdeck.drivers.registry import find_spec

        names = tuple(dict.fromkeys(names))
        for name in names:
            find_spec(self.specs, name)   # UnknownCamera (with the configured names) before anything is lent
        with self._state:
            for name in names:
                if name in self._holders:
                    raise _in_use(name, self._holders[name])
            self._holders.update(dict.fromkeys(names, by))
            listeners = list(self._listeners)
        lent: list[LentCamera] = []
        try:
            _tell(listeners, names, by)
            for name in names:
                lent.append(LentCamera(self._take(name), by))
            yield lent
        finally:
            for cam in lent:
                cam._returned = True
                self._give_back(cam)
            with self._state:
                for name in names:
                    self._holders.pop(name, None)
                listeners = list(self._listeners)
                self._given_back.notify_all()
            _tell(listeners, names, None)

    def _take(self, name: str) -> Any:
        """The open camera, stopped, for a borrower (waits for the Cameras tab's capture to end)."""
        with self._locks[name]:
            cam = self._cameras.get(name)
            if cam is not None:
                try:
                    cam.stop()   # a borrower starts it itself (a recording starts its cameras together)
                except CameraDisconnected:
                    self._drop(name)
                    cam = None
            if cam is None:
                cam = self._open(name)
            return cam

    def _give_back(self, lent: "LentCamera") -> None:
        name, cam = lent.name, lent._camera
        with self._locks[name]:
            if self._cameras.get(name) is not cam:
                return   # closed meanwhile (close_all)
            if lent.failed:
                self._drop(name)
                return
            try:
                cam.stop()
                if lent.changed_controls:
                    cam.set_controls(**lent.changed_controls)
            except CameraDisconnected:
                self._drop(name)
            except DriverError:
                pass   # a value the driver no longer takes: the Cameras tab reads the live controls anyway

    def _open(self, name: str) -> Any:
        """Open ``name`` (caller holds its lock); refused once the console is closing."""
        if self._closed:
            raise DriverError(f"camera {name!r}: the console is closing", "start camdeck tui again")
        cam = self._cameras[name] = self._opener(self.specs[name], self.ctx)
        return cam

    # ---------------------------------------------------------------- shutting down
    def _drop(self, name: str) -> None:
        """Close a camera that went away (caller holds its lock), so the next use reopens it."""
        cam = self._cameras.pop(name, None)
        if cam is not None:
            _quietly(cam.close)

    def close_all(self, timeout_s: float = 2.0, lent_timeout_s: float = 10.0) -> None:
        """Close every camera (at exit). Nothing opens after this (a late worker gets a DriverError).

        A lent camera is closed only after its borrower gave it back, or once ``lent_timeout_s``
        has passed (then it is closed under the borrower, which sees a camera fault): ask the
        borrowing jobs to stop before calling this. Waits up to ``timeout_s`` more per
        in-flight call of the Cameras tab.
        """
        self._closed = True
        deadline = time.monotonic() + max(0.0, lent_timeout_s)
        with self._state:
            while self._holders and (left := deadline - time.monotonic()) > 0:
                self._given_back.wait(left)
            still = dict(self._holders)
        if still:
            log.warning("closing cameras still lent after %.1f s: %s", lent_timeout_s,
                        ", ".join(f"{name} (by {holder})" for name, holder in still.items()))
        for name in list(self._cameras):
            lock = self._locks[name]
            got = lock.acquire(timeout=timeout_s)
            try:
                cam = self._cameras.pop(name, None)
                if cam is not None:
                    _quietly(cam.close)
            finally:
                if got:
                    lock.release()


class LentCamera:
    """A pooled camera as a borrower sees it (the Camera protocol, plus the driver's extras).

    ``close()`` only stops the camera: the pool keeps it open. Controls the borrower sets are
    put back when the loan ends. A CameraDisconnected marks the camera for reopening. After
    the loan every call raises DriverError.
    """

    def __init__(self, camera: Any, holder: str) -> None:
        self._camera = camera
        self.holder = holder
        self.name: str = camera.name
        self.failed = False
        self.changed_controls: dict[str, Any] = {}   # control -> its value before the loan
        self._returned = False

    def _live(self) -> Any:
        if self._returned:
            raise DriverError(f"camera {self.name!r} was given back to the console's pool",
                              "borrow it again (pool.borrow)")
        return self._camera

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._live(), method)(*args, **kwargs)
        except CameraDisconnected:
            self.failed = True
            raise

    @property
    def identity(self) -> int:
        """Which open camera object this loan is of: it changes when the pool reopens the camera."""
        return id(self._camera)

    @property
    def dropped_frames(self) -> int:
        return self._live().dropped_frames

    def info(self) -> Any:
        return self._call("info")

    def controls(self) -> Any:
        return self._call("controls")

    def set_controls(self, **values: Any) -> None:
        before = {k: r.value for k, r in self._call("controls").items() if k in values}
        self._call("set_controls", **values)
        for k, v in before.items():
            self.changed_controls.setdefault(k, v)

    def start(self) -> None:
        self._call("start")

    def capture(self, timeout_s: float | None = None) -> Any:
        return self._call("capture", timeout_s)

    def stop(self) -> None:
        self._call("stop")

    def close(self) -> None:
        """Stop the camera; the pool closes it when the console exits."""
        if not self._returned:
            _quietly(self._camera.stop)

    def __enter__(self) -> "LentCamera":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, attr: str) -> Any:
        # The driver's extras (picamera2, truth, render_truth, now_ns, inject_fault, ...).
        if attr.startswith("__") or attr == "_camera":
            raise AttributeError(attr)
        return getattr(self._live(), attr)

    def __repr__(self) -> str:
        return f"<LentCamera {self.name!r} lent to {self.holder!r}>"


def lent_opener(cams: Sequence[LentCamera]) -> Callable[[Any, Any], LentCamera]:
    """An ``open_camera(spec, ctx)`` for a job that opens its own cameras (RecordingSession,
    open_stereo_source): it hands out the borrowed cameras by name instead of opening them."""
    by_name = {cam.name: cam for cam in cams}

    def open_camera(spec: Any, ctx: Any = None) -> LentCamera:
        try:
            return by_name[spec.name]
        except KeyError:
            raise DriverError(f"camera {spec.name!r} was not borrowed from the console's pool",
                              "borrow every camera the job opens") from None

    return open_camera


def _in_use(name: str, holder: str) -> CameraInUse:
    return CameraInUse(f"camera {name!r} is in use by {holder}",
                       f"wait for {holder} to finish, or stop it, then try again")


def _tell(listeners: list[Listener], names: tuple[str, ...], holder: str | None) -> None:
    for listener in listeners:
        listener(names, holder)


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:  # closing a broken camera must not hide the error that broke it
        pass
