"""Optional libraries (the pip extras): import one, or fail with one line naming the extra.

camdeck's core install leaves out the heavy or fleet-only libraries; they come with extras
(pyproject.toml): ``camdeck[torch]`` (torch, kornia) and ``camdeck[fleet]`` (boto3, slack_sdk,
openpyxl). Every import of one of them goes through :func:`require_extra`, so a command whose
extra is missing stops with ``<what> needs torch, which is not installed; fix: pip install
'camdeck[torch]'`` (exit 2 in the CLI, the same line in the TUI) instead of a traceback.

It lives in fastcore, the rightmost package, because every package may import fastcore and
fastcore itself needs torch.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from camdeck.fastcore.errors import FastcoreError

# top-level module -> the extra that installs it
EXTRA_OF = {
    "torch": "torch",
    "kornia": "torch",
    "boto3": "fleet",
    "botocore": "fleet",
    "slack_sdk": "fleet",
    "openpyxl": "fleet",
}


class MissingExtra(FastcoreError, ImportError):
    """An optional library a command needs is not installed (or cannot be imported).

    An ImportError too, so code that already falls back on ImportError keeps doing so.
    ``bad_input``: the CLI maps it to exit 2 (the install, not the job, is what to fix).
    """

    bad_input = True

    def __init__(self, what: str, module: str, extra: str, reason: str = "") -> None:
        if reason:
            text = (f"{what} needs {module}, which is installed but cannot be imported ({reason}); "
                    f"fix: pip install --force-reinstall '{module}' or pip install 'camdeck[{extra}]'")
        else:
            text = f"{what} needs {module}, which is not installed; fix: pip install 'camdeck[{extra}]'"
        super().__init__(text, name=module)
        self.what, self.module, self.extra = what, module, extra


def _top(module: str) -> str:
    return module.split(".")[0]


def require_extra(module: str, what: str) -> ModuleType:
    """Import ``module`` (e.g. "torch", "kornia.geometry.depth", "slack_sdk.webhook") or fail clearly.

    Args:
        module: the dotted module to import; its top level must be in EXTRA_OF.
        what: the feature that needs it, as the user knows it ("pointcloud depth", "--out FILE.xlsx").

    Returns:
        The imported module.

    Raises:
        MissingExtra: the library is absent (``which is not installed``) or fails to import for a
            reason of its own (a broken install: the reason is in the message).
        KeyError: ``module`` is not one of the optional libraries (a programming error).
    """
    extra = EXTRA_OF[_top(module)]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = getattr(err, "name", None)
        if isinstance(err, ModuleNotFoundError) and missing and _top(missing) == _top(module):
            raise MissingExtra(what, _top(module), extra) from None
        reason = " ".join((str(err) or type(err).__name__).split())
        raise MissingExtra(what, _top(module), extra, reason) from None


def has_extra(module: str) -> bool:
    """True when the top-level ``module`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(_top(module)) is not None
    except (ImportError, ValueError):
        return False


def missing_note(module: str, what: str) -> str:
    """The one line :class:`MissingExtra` would say, for skipping an optional step with a note."""
    return str(MissingExtra(what, _top(module), EXTRA_OF[_top(module)]))
