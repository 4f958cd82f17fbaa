"""What every fuzz case must show: exit 0, 1 or 2; at most one line on stderr; no traceback; no
planted secret in any output; done within a timeout. Shared by the fuzz tests in this folder."""
from __future__ import annotations

import contextlib
import io
import signal
from dataclasses import dataclass
from typing import Iterable, Sequence


class CaseTimeout(BaseException):
    """A case ran past its time (a hang). BaseException: code that catches Exception must not swallow it."""


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise CaseTimeout in the main thread after ``seconds`` (SIGALRM), and again on the way out.

    The CLI's boundary turns every BaseException into one line, CaseTimeout included, so the
    case could end as an ordinary exit 1: the second raise keeps a hang a failure.
    """
    expired = []

    def expire(signum, frame):
        expired.append(True)
        raise CaseTimeout(f"case ran past {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if expired:
        raise CaseTimeout(f"case ran past {seconds:g} s")


def run_cli(argv: Sequence[str], timeout_s: float = 20.0) -> Outcome:
    """Run ``camdeck ARGV`` in-process with stdout/stderr captured and a per-case timeout."""
    from camdeck.console.cli.app import run

    out, err = io.StringIO(), io.StringIO()
    with time_limit(timeout_s), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run([str(a) for a in argv])
    return Outcome(code, out.getvalue(), err.getvalue())


def check_clean(result: Outcome, *, allowed: Iterable[int] = (0, 1, 2), secrets: Iterable[str] = (),
                what: str = "") -> None:
    """Assert the fuzz contract on one case (``what`` names the case in the failure)."""
    label = f"{what}: " if what else ""
    assert result.code in tuple(allowed), f"{label}exit {result.code}; stderr={result.err[-2000:]!r}"
    assert "Traceback" not in result.err and "Traceback" not in result.out, f"{label}{result.err[-3000:]}"
    errors = [line for line in result.err.splitlines() if line.startswith("camdeck: error:")]
    if result.code == 2:
        assert len(errors) == 1, f"{label}expected one error line, got {result.err!r}"
        assert "fix:" in errors[0] or "--help" in errors[0], f"{label}no fix in {errors[0]!r}"
    for secret in secrets:
        assert secret not in result.out and secret not in result.err, f"{label}secret {secret!r} echoed"
