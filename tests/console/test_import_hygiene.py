"""`camdeck --help` stays fast: the CLI's import list holds no heavy library (docs/design.md)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("textual", "torch", "cv2", "av", "kornia", "zeep", "onvif", "boto3", "botocore", "slack_sdk", "paho",
         "redis", "openpyxl", "scipy")

PROBE = """
import json, sys
sys.argv = ["camdeck"] + {argv!r}
import camdeck.console.cli.app as app
try:
    app.run(sys.argv[1:])
finally:
    mods = sorted({{m.split('.')[0] for m in sys.modules}})
    sys.__stderr__.write("MODULES=" + json.dumps(mods) + "\\n")
"""


def _modules_after(argv: list[str]) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    line = next(l for l in proc.stderr.splitlines() if l.startswith("MODULES="))
    return set(json.loads(line[len("MODULES="):]))


def test_importing_the_cli_loads_no_heavy_library():
    proc = subprocess.run([sys.executable, "-c", "import sys, json, camdeck.console.cli.app; "
                           "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    loaded = set(json.loads(proc.stdout))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_of_every_group_loads_no_heavy_library():
    for argv in (["--help"], ["cameras", "--help"], ["cameras", "list"]):
        loaded = _modules_after(argv)
        assert not loaded & set(HEAVY), (argv, sorted(loaded & set(HEAVY)))
