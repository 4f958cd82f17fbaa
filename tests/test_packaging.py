"""The wheel a user installs: what it holds, its metadata, and a core install that works.

The wheel is built from a clean copy of the checkout (tracked and unignored files only, as a
fresh clone has them), so nothing left in build/ can slip into it. The install test puts that
core wheel (no extras) into a fresh venv beside fast.ai's ``fastcore`` from PyPI: the two
share no top-level name any more. Both fixtures are module-scoped: one build, one venv.
"""
from __future__ import annotations

import email.parser
import json
import os
import shutil
import struct
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = (".c", ".pyx", ".h", ".pxd", ".cpp", ".hpp")
# a wheel build and a fresh venv from the index run in these tests' setup: minutes on a busy machine
pytestmark = pytest.mark.timeout(1200)


def _checkout_files() -> list[str]:
    proc = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return [f for f in proc.stdout.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for rel in _checkout_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [built] = out.glob("camdeck-*.whl")
    return built


def elf_section_names(data: bytes) -> list[str]:
    """Section names of an ELF file (32/64-bit, either endianness), read from its section headers."""
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    is64, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
    else:
        (shoff,) = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)

    def header(i: int) -> tuple[int, int, int]:      # (name offset, file offset, size)
        base = shoff + i * shentsize
        (name,) = struct.unpack_from(order + "I", data, base)
        fmt, at = (order + "QQ", base + 0x18) if is64 else (order + "II", base + 0x10)
        return (name, *struct.unpack_from(fmt, data, at))

    _, strtab, _ = header(shstrndx)
    names = []
    for i in range(shnum):
        name_at = strtab + header(i)[0]
        names.append(data[name_at:data.index(b"\0", name_at)].decode("ascii", "replace"))
    return names


def test_the_wheel_claims_only_camdeck_and_ships_no_sources(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    dist_info = [t for t in tops if t.endswith(".dist-info")]
    assert tops == {"camdeck", *dist_info} and len(dist_info) == 1 and dist_info[0].startswith("camdeck-"), tops
    assert not [n for n in names if n.endswith(SOURCES)]
    for package in ("console", "drivers", "fastcore", "calibration", "monitoring", "themes"):
        assert f"camdeck/{package}/__init__.py" in names
    assert "camdeck/__init__.py" not in names           # camdeck is a namespace package
    assert "camdeck/console/default_config.toml" in names
    assert any(n.startswith("camdeck/themes/") and n.endswith(".tcss") for n in names)


def test_the_kernel_is_stripped_of_debug_info(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as zf:
        [so] = [n for n in zf.namelist() if n.startswith("camdeck/fastcore/_carve") and n.endswith(".so")]
        data = zf.read(so)
    sections = elf_section_names(data)
    assert ".text" in sections and ".dynsym" in sections    # the parser really read the headers
    assert not [s for s in sections if s.startswith((".debug", ".zdebug"))], sections
    if shutil.which("readelf"):                              # and it agrees with binutils
        (tmp_path / "k.so").write_bytes(data)
        listing = subprocess.run(["readelf", "-S", "-W", str(tmp_path / "k.so")], capture_output=True,
                                 text=True, check=True).stdout
        assert all(s in listing for s in sections if s)
        assert ".debug_info" not in listing


def test_metadata_has_the_license_expression_and_the_extras(wheel):
    with zipfile.ZipFile(wheel) as zf:
        dist_info = next(n.split("/")[0] for n in zf.namelist() if ".dist-info/" in n)
        names = zf.namelist()
        meta = email.parser.Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
    assert f"{dist_info}/licenses/LICENSE" in names
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in meta.get_all("License-File")
    assert {"torch", "fleet", "all"} <= set(meta.get_all("Provides-Extra"))
    requires = meta.get_all("Requires-Dist")
    core = [r for r in requires if "extra ==" not in r]
    assert not [r for r in core if r.split(">")[0].split("=")[0].strip() in ("torch", "kornia", "boto3",
                                                                              "slack_sdk", "openpyxl")]
    for dep, extra in (("torch", "torch"), ("kornia", "torch"), ("boto3", "fleet"), ("slack_sdk", "fleet"),
                       ("openpyxl", "fleet")):
        assert any(r.startswith(dep) and f'extra == "{extra}"' in r for r in requires), (dep, requires)


# ---------------------------------------------------------------- a core install, from PyPI


@pytest.fixture(scope="module")
def core_venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the core wheel (no extras) and fast.ai's fastcore, both from the index."""
    root = tmp_path_factory.mktemp("core-venv")
    venv.EnvBuilder(with_pip=True).create(root)
    python = root / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           str(wheel), "fastcore"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def _run(core_venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMDECK_", "PYTHON"))}
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_the_core_install_has_no_extra_and_runs_the_cli(core_venv, tmp_path):
    bin_dir = core_venv / "bin"
    listed = _run(core_venv, str(bin_dir / "python"), "-m", "pip", "list", "--format=json", cwd=tmp_path)
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert "camdeck" in installed and "fastcore" in installed
    assert not installed & {"torch", "kornia", "boto3", "slack-sdk", "openpyxl"}
    camdeck = str(bin_dir / "camdeck")
    helped = _run(core_venv, camdeck, "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "cameras" in helped.stdout, helped.stderr
    listed = _run(core_venv, camdeck, "cameras", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "asi-left" in {c["name"] for c in json.loads(listed.stdout)["cameras"]}
    snap = _run(core_venv, camdeck, "cameras", "snap", "asi-left", "--out", "x.png", cwd=tmp_path)
    assert snap.returncode == 0, snap.stderr
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fastai_fastcore_and_camdeck_fastcore_live_side_by_side(core_venv, tmp_path):
    proc = _run(core_venv, str(core_venv / "bin" / "python"), "-c",
                "import fastcore.basics, camdeck.fastcore as ours; "
                "print(fastcore.basics.__name__, ours.cython_available())", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["fastcore.basics", "True"]


def test_pointcloud_on_a_core_install_names_the_torch_extra(core_venv, tmp_path):
    proc = _run(core_venv, str(core_venv / "bin" / "camdeck"), "pointcloud", "--rig", "asi-stereo", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("camdeck: error: camdeck pointcloud (stereo depth) needs torch, which is not "
                                   "installed; fix: pip install 'camdeck[torch]'")
