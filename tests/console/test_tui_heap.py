"""tune_allocator: a freed frame-sized buffer goes back to the system (issue 12, TUI memory).

Checked in fresh interpreters, one tuned as ``camdeck tui`` tunes itself and one left as
glibc starts, each freeing one 24 MB buffer (a scene render) and then allocating, touching and freeing an
8 MB buffer (a frame) twenty times, reading its own RSS after each free.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHURN = """
import json, sys
from camdeck.console.tui.heap import tune_allocator
tuned = tune_allocator() if sys.argv[1] == "tuned" else None
import numpy as np

def rss_kb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

render = np.ones(24 * 2**20, np.uint8)   # a render-sized buffer, freed, as in a console's first seconds
del render
base = rss_kb()
after_free = []
for _ in range(20):
    frame = np.ones(8 * 2**20, np.uint8)       # touched: resident
    keep = bytearray(4096)                      # a small allocation after it, as a frame loop makes
    del frame
    after_free.append(rss_kb() - base)
print(json.dumps(dict(tuned=tuned, grown_kb=after_free)))
"""


def _churn(mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt; /proc/self/status")
def test_a_freed_frame_buffer_is_given_back_once_the_allocator_is_tuned():
    tuned = _churn("tuned")
    if tuned["tuned"] is False:
        pytest.skip("not glibc: tune_allocator leaves the allocator alone")
    # Each freed 8 MB buffer left the process: RSS after every free stays near where it began.
    assert max(tuned["grown_kb"]) < 4 * 1024, tuned["grown_kb"]
    # The default it replaces keeps it after the first free (glibc raises its mmap threshold):
    # what makes this check able to fail.
    default = _churn("default")
    assert max(default["grown_kb"][1:]) >= 7 * 1024, default["grown_kb"]
