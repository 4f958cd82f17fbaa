"""Install size of camdeck, core and full ([all]), per platform, resolved by pip without installing.

    python benchmarks/install_size.py [--json] [--platform aarch64|x86_64 ...] [--cache DIR]
                                      [--wheel dist/camdeck-*.whl] [--constraints deploy/pi-constraints.txt]

For each platform (manylinux aarch64 and x86_64, CPython 3.11) and each install (core: the
`dependencies` of pyproject.toml; full: plus the torch and fleet extras) pip resolves the
requirements as a fresh install would (``pip install --dry-run --ignore-installed --report
--only-binary=:all: --platform ... --python-version 3.11 --implementation cp --target TMP``),
then each resolved wheel's installed size is the sum of its members' uncompressed sizes, read
from the zip's central directory only: two or three HTTP Range requests to the wheel's URL
(``download_info.url`` in pip's report), a full download into --cache only when the server
ignores Range. A wheel's members are what pip writes to site-packages, give or take the
.pyc files Python compiles later (not counted) and RECORD/INSTALLER (a few kB).

camdeck itself: its wheel is built per platform, so its size is taken from a locally built
wheel (--wheel, default: the newest dist/ or a fresh `pip wheel` into --cache); the kernel's
size differs slightly between x86_64 and aarch64. Requirements published only as an sdist
(none today) are built into pure-Python wheels in --cache, so pip can resolve them for any
platform.

The x86_64 "full" figure resolves torch from PyPI, which on x86_64 pulls the CUDA runtime
packages (nvidia-*): that is the honest "pip install camdeck[all]" figure. "full (cpu torch)"
resolves torch from PyTorch's CPU index (--torch-index, default its public URL) or, when that
index is unreachable, from a torch+cpu wheel in --find-links (e.g. /opt/wheels), and says which.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = {
    # oldest manylinux that PyPI wheels use, up to Bookworm's glibc 2.36 (pip does not expand the tags itself)
    "aarch64": [f"manylinux_2_{m}_aarch64" for m in range(36, 16, -1)] + ["manylinux2014_aarch64"],
    "x86_64": [f"manylinux_2_{m}_x86_64" for m in range(36, 16, -1)]
              + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
}
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MB = 1e6


# ---------------------------------------------------------------- sizes from the central directory


class RangeFile:
    """A read-only, seekable view of a URL through HTTP Range requests (enough for zipfile)."""

    def __init__(self, url: str, size: int, timeout_s: float = 60.0) -> None:
        self.url, self.size, self.pos, self.timeout_s = url, size, 0, timeout_s
        self.requests = 0
        self._buf_at, self._buf = -1, b""

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = max(0, min(n, self.size - self.pos))
        if not n:
            return b""
        if not (self._buf_at <= self.pos and self.pos + n <= self._buf_at + len(self._buf)):
            start = self.pos
            end = min(self.size, start + max(n, 1 << 16)) - 1         # read ahead: zipfile reads in small steps
            self._buf, self._buf_at = _get_range(self.url, start, end, self.timeout_s), start
            self.requests += 1
        at = self.pos - self._buf_at
        self.pos += n
        return self._buf[at:at + n]


def _get_range(url: str, start: int, end: int, timeout_s: float) -> bytes:
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-{end}"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        if resp.status != 206:
            raise _NoRange(url)
        return resp.read()


class _NoRange(Exception):
    pass


def _content_length(url: str, timeout_s: float = 60.0) -> int | None:
    req = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        length = resp.headers.get("Content-Length")
        ranges = resp.headers.get("Accept-Ranges", "")
    return int(length) if length and "bytes" in ranges else None


def installed_bytes(url: str, cache: Path) -> tuple[int, int, str]:
    """(uncompressed bytes of the wheel's members, wheel file bytes, how it was read)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        with zipfile.ZipFile(path) as zf:
            return sum(i.file_size for i in zf.infolist()), path.stat().st_size, "local file"
    try:
        length = _content_length(url)
        if length is not None:
            remote = RangeFile(url, length)
            with zipfile.ZipFile(remote) as zf:
                total = sum(i.file_size for i in zf.infolist())
            return total, length, f"range ({remote.requests} requests)"
    except (_NoRange, urllib.error.URLError, zipfile.BadZipFile, OSError):
        pass
    cache.mkdir(parents=True, exist_ok=True)
    local = cache / Path(parsed.path).name
    if not local.is_file():
        tmp = local.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=300) as resp, open(tmp, "wb") as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
        tmp.replace(local)
    with zipfile.ZipFile(local) as zf:
        return sum(i.file_size for i in zf.infolist()), local.stat().st_size, "downloaded"


# ---------------------------------------------------------------- resolution


@dataclass
class Resolved:
    platform: str
    install: str
    wheels: list[dict] = field(default_factory=list)
    note: str = ""
    error: str = ""

    @property
    def installed_bytes(self) -> int:
        return sum(w["installed_bytes"] for w in self.wheels)

    @property
    def download_bytes(self) -> int:
        return sum(w["wheel_bytes"] for w in self.wheels)


def requirements(pyproject: Path, extras: tuple[str, ...]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return reqs


def _pip_dry_run(reqs: list[str], platform: str, report: Path, find_links: list[Path], constraints: Path | None,
                 index: list[str]) -> subprocess.CompletedProcess:
    target = tempfile.mkdtemp(prefix="camdeck-size-target-")
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--disable-pip-version-check", "--report", str(report), "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp", "--target", target]
    for tag in PLATFORMS[platform]:
        cmd += ["--platform", tag]
    for links in find_links:
        cmd += ["--find-links", str(links)]
    if constraints:
        cmd += ["-c", str(constraints)]
    cmd += index
    # what a user gets from PyPI: this machine's pip config (local wheel folders, caps) stays out
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return subprocess.run(cmd + reqs, capture_output=True, text=True, timeout=900, env=env)


def resolve(reqs: list[str], platform: str, cache: Path, *, constraints: Path | None = None,
            index: list[str] | None = None, find_links: list[Path] | None = None) -> tuple[list[dict], str]:
    """pip's report entries for ``reqs`` on ``platform`` ([] and the reason when it cannot resolve)."""
    sdists = cache / "sdist-wheels"
    links = [sdists] + list(find_links or [])
    report = cache / f"report-{platform}.json"
    for _ in range(5):          # each round turns one sdist-only requirement into a pure wheel
        proc = _pip_dry_run(reqs, platform, report, links, constraints, list(index or []))
        if proc.returncode == 0:
            return json.loads(report.read_text())["install"], ""
        missing = re.search(r"No matching distribution found for ([A-Za-z0-9._-]+)", proc.stderr)
        if not missing or not _build_pure_wheel(missing.group(1), reqs, sdists):
            return [], " ".join(proc.stderr.strip().splitlines()[-2:])
    return [], "too many sdist-only requirements"


def _build_pure_wheel(name: str, reqs: list[str], out: Path) -> bool:
    spec = next((r.split(";")[0].strip() for r in reqs if re.split(r"[<>=!~ \[;]", r, 1)[0].lower() == name.lower()),
                name)
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-binary", ":all:",
                           "-w", str(out), spec], capture_output=True, text=True, timeout=600)
    return proc.returncode == 0 and any(p.name.endswith("-none-any.whl") for p in out.glob("*.whl"))


def measure(resolved: Resolved, entries: list[dict], cache: Path) -> None:
    for entry in entries:
        meta, url = entry["metadata"], entry["download_info"]["url"]
        inst, wheel, how = installed_bytes(url, cache / "wheels")
        resolved.wheels.append({"name": meta["name"], "version": meta["version"], "installed_bytes": inst,
                                "wheel_bytes": wheel, "read": how, "file": url.rsplit("/", 1)[-1]})
    resolved.wheels.sort(key=lambda w: -w["installed_bytes"])


def _local_cpu_torch(links: list[Path], platform: str) -> str | None:
    """The version (e.g. 2.13.0+cpu) of a cp311 torch+cpu wheel for ``platform`` in ``links``."""
    for folder in links:
        for wheel in sorted(folder.glob(f"torch-*+cpu-cp311-cp311-*{platform}.whl")):
            return wheel.name.split("-")[1]
    return None


def _reachable(url: str, timeout_s: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout_s):
            return True
    except (urllib.error.URLError, OSError):
        return False


def camdeck_wheel(explicit: Path | None, cache: Path) -> Path:
    if explicit:
        return explicit
    built = sorted((REPO / "dist").glob("camdeck-*.whl"), key=lambda p: p.stat().st_mtime)
    if built:
        return built[-1]
    out = cache / "camdeck-wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(out), str(REPO)], check=True, timeout=900)
    return sorted(out.glob("camdeck-*.whl"))[-1]


# ---------------------------------------------------------------- report


def run(platforms: list[str], cache: Path, wheel: Path, constraints: Path | None, torch_index: str,
        torch_links: list[Path]) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        own = {"name": "camdeck", "version": wheel.name.split("-")[1], "file": wheel.name, "read": "local build",
               "installed_bytes": sum(i.file_size for i in zf.infolist()), "wheel_bytes": wheel.stat().st_size}
    runs: list[Resolved] = []
    core, full = requirements(REPO / "pyproject.toml", ()), requirements(REPO / "pyproject.toml", ("torch", "fleet"))
    for platform in platforms:
        for install, reqs in (("core", core), ("full", full)):
            res = Resolved(platform, install)
            print(f"resolving {install} for {platform} ...", file=sys.stderr, flush=True)
            entries, res.error = resolve(reqs, platform, cache)
            measure(res, entries, cache)
            res.note = "torch from PyPI" if install == "full" else ""
            runs.append(res)
        res = Resolved(platform, "full (cpu torch)")
        local = _local_cpu_torch(torch_links, platform)
        if _reachable(torch_index):
            entries, res.error = resolve(full, platform, cache, index=["--extra-index-url", torch_index])
            res.note = f"torch from {torch_index}"
        elif local:   # pinned, or pip would prefer a newer (CUDA) torch from PyPI
            entries, res.error = resolve(full + [f"torch=={local}"], platform, cache, find_links=torch_links)
            res.note = f"{torch_index} unreachable; torch {local} from {', '.join(map(str, torch_links))}"
        else:         # pip would spend minutes retrying an index it cannot reach
            entries, res.error = [], f"{torch_index} unreachable and no torch+cpu wheel for {platform} in --find-links"
        measure(res, entries, cache)
        runs.append(res)
        if constraints:
            res = Resolved(platform, "core (pi constraints)", note=f"-c {constraints.relative_to(REPO)}")
            entries, res.error = resolve(core, platform, cache, constraints=constraints)
            measure(res, entries, cache)
            runs.append(res)
    for res in runs:
        if not res.error:
            res.wheels.append(dict(own, note=f"built here ({wheel.name}); the {res.platform} kernel differs slightly"))
    return {"python": "cp311", "camdeck_wheel": wheel.name, "results": [
        {"platform": r.platform, "install": r.install, "note": r.note, "error": r.error,
         "installed_mb": round(r.installed_bytes / MB, 1), "download_mb": round(r.download_bytes / MB, 1),
         "wheels": r.wheels} for r in runs]}


def print_table(report: dict, top: int) -> None:
    print(f"{'platform':<8} {'install':<22} {'installed MB':>12} {'download MB':>12}  heaviest")
    for r in report["results"]:
        if r["error"]:
            print(f"{r['platform']:<8} {r['install']:<22} {'-':>12} {'-':>12}  not resolved: {r['error']}")
            continue
        heavy = ", ".join(f"{w['name']} {w['installed_bytes'] / MB:.0f}" for w in r["wheels"][:top])
        print(f"{r['platform']:<8} {r['install']:<22} {r['installed_mb']:>12.1f} {r['download_mb']:>12.1f}  {heavy}")
        if r["note"]:
            print(f"{'':<8} {'':<22} {'':>12} {'':>12}  ({r['note']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--platform", action="append", choices=sorted(PLATFORMS), help="default: both")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "camdeck-install-size")
    ap.add_argument("--wheel", type=Path, help="the camdeck wheel (default: newest dist/*.whl or a fresh build)")
    ap.add_argument("--constraints", type=Path, default=REPO / "deploy" / "pi-constraints.txt",
                    help="also resolve the core install under these constraints")
    ap.add_argument("--torch-index", default=TORCH_CPU_INDEX)
    ap.add_argument("--find-links", type=Path, action="append", default=[],
                    help="where a torch+cpu wheel lies, used when --torch-index is unreachable")
    ap.add_argument("--top", type=int, default=4, help="heaviest wheels named per row")
    args = ap.parse_args(argv)
    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    constraints = args.constraints.resolve() if args.constraints and args.constraints.is_file() else None
    report = run(args.platform or ["aarch64", "x86_64"], cache, camdeck_wheel(args.wheel, cache), constraints,
                 args.torch_index, [p.resolve() for p in args.find_links])
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
