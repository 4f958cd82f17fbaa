"""``camdeck bench``: every carve backend on the same stereo frames, side by side.

Each scene imitates the stereo rig looking at the lab: two 1920x1080 views 0.2 m apart,
2.5 m from spheres carved into a 1 m cube. "lab" is five spheres that fill about 0.8 m
(about 31 % of the voxels survive); "dense" is one large sphere with four around it
(about 58 %: the kernel's worst case, few bricks culled). Images are what the live job
carves: object pixels textured (uint8 > 0), background masked to 0. Each backend's median
and p90 wall time per frame are measured with its output buffer reused (out=), and its
speedup is over the numpy reference measured in the same run. With ``contended=True`` the
same measurement is repeated while a child process spins on one core (a Pi's carve shares
the CPU with capture and the TUI), and each row gets its contended p90 over the quiet median.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from camdeck.fastcore.extras import missing_note, require_extra

DEFAULT_SIZES = (64, 128, 256)
SCENE_CENTER = np.array([0.0, 2.5, 1.0])
GRID_EXTENT_M = 1.0
SCENES = {
    "lab": (((-0.20, 2.45, 1.12), 0.20), ((0.20, 2.60, 0.95), 0.18), ((0.12, 2.30, 1.32), 0.10),
            ((-0.10, 2.80, 0.76), 0.12), ((-0.30, 2.30, 0.72), 0.09)),
    # radii tuned so 55-60 % of the voxels survive at every grid size (checked in tests/fastcore)
    "dense": (((0.00, 2.50, 1.00), 0.35), ((-0.28, 2.38, 1.28), 0.17), ((0.28, 2.62, 0.72), 0.17),
              ((0.30, 2.32, 1.24), 0.14), ((-0.28, 2.68, 0.74), 0.15)),
}
DEFAULT_SCENES = ("lab", "dense")


@dataclass(frozen=True)
class BenchFrame:
    """One synthetic stereo frame: images (2, H, W) uint8, K (3, 3), R (2, 3, 3), t (2, 3)."""

    images: list
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    grid_center: np.ndarray
    grid_extent_m: float


def _look_at(position: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = target - position
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    return R, -np.einsum("ab,b->a", R, position)


def make_bench_frame(image_size: tuple[int, int] = (1920, 1080), hfov_deg: float = 60.0,
                     scene: str = "lab") -> BenchFrame:
    """Render one of the benchmark's stereo frames (silhouettes of spheres, textured, background 0).

    Args:
        image_size: (w, h) pixels.
        hfov_deg: horizontal field of view of both cameras.
        scene: a key of SCENES ("lab" or "dense").

    Raises:
        KeyError: an unknown scene.
    """
    spheres = SCENES[scene]
    w, h = image_size
    f = 0.5 * w / math.tan(math.radians(hfov_deg) / 2)
    K = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
    images, Rs, ts = [], [], []
    for dx in (-0.1, 0.1):
        C = SCENE_CENTER + np.array([dx, -2.5, 0.3])
        R, t = _look_at(C, SCENE_CENTER)
        pix = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), -1)
        # einsum, not @: BLAS would leave worker threads spinning on the cores being timed
        M = np.einsum("ab,bc->ac", R.T, np.linalg.inv(K))            # pixel -> world direction
        rays = np.einsum("hwc,dc->hwd", np.concatenate([pix, np.ones((h, w, 1))], -1), M)
        rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
        hit = np.zeros((h, w), bool)
        for centre, radius in spheres:
            oc = C - np.asarray(centre)
            b = np.einsum("hwd,d->hw", rays, oc)
            hit |= (b * b - (np.dot(oc, oc) - radius * radius) > 0) & (b < 0)
        texture = 150 + 80 * np.sin(pix[..., 0] / 7.0) * np.cos(pix[..., 1] / 11.0)
        images.append(np.where(hit, texture, 0).astype(np.uint8))
        Rs.append(R)
        ts.append(t)
    return BenchFrame(images, K, np.array(Rs), np.array(ts), SCENE_CENTER.copy(), GRID_EXTENT_M)


def _time_backend(run: Callable[[], object], budget_s: float, min_runs: int, max_runs: int) -> list[float]:
    run()  # warm-up: first-touch of buffers, lazy imports, clone dispatch
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return times


def run_bench(sizes=DEFAULT_SIZES, backends=None, image_size=(1920, 1080), budget_s: float = 1.0,
              progress: Callable[[dict], None] | None = None, scenes=DEFAULT_SCENES,
              contended: bool = False) -> dict:
    """Time every backend on each benchmark scene for each grid size.

    Args:
        sizes: grid sizes N (the grid is N^3 over a 1 m cube).
        backends: names to run (default: every available one; "torch-cuda" too when CUDA is there).
            The numpy reference always runs: speedups are measured against it.
        image_size: (w, h) of both views.
        budget_s: wall time to spend per (scene, size, backend) after at least 3 runs (10 when
            contended: a p90 needs a few samples).
        progress: called with each result row as it is measured.
        scenes: keys of SCENES to run, side by side.
        contended: also time every row while one child process spins on a core.

    Returns:
        {"image_size", "views", "cpu_count", "cython_built", "loadavg_start", "loadavg_end",
        "contended", "results": [{"scene", "grid", "backend", "median_ms", "p90_ms", "min_ms",
        "runs", "speedup_vs_numpy", "occupied_fraction"} plus, when contended, "contended_median_ms",
        "contended_p90_ms", "contended_runs", "contended_p90_over_quiet_median"}],
        "skipped": [{"backend", "reason"}]} (skipped: default backends this install lacks,
        e.g. torch on a core install, each with the one line that says how to get it).
        loadavg_*: os.getloadavg() before and after (a shared machine is never quiet).

    Raises:
        MissingExtra: a torch backend was asked for by name and torch is not installed.
        DeviceUnavailable: "torch-cuda" was asked for and there is no CUDA device.
        KeyError: an unknown scene.
    """
    from camdeck import fastcore
    skipped = []
    if backends:
        names = list(backends)
        if any(n.startswith("torch") for n in names):
            require_extra("torch", "bench --backends torch")
        if "torch-cuda" in names:     # checked before any frame is rendered: one line, not a CUDA traceback
            from camdeck.fastcore.devices import resolve_device
            resolve_device("cuda", "bench --backends torch-cuda",
                           "leave torch-cuda out (e.g. --backends cython,torch), or run on a machine with a CUDA GPU")
    else:
        names = _default_backends()
        if "torch" not in names:
            skipped.append({"backend": "torch", "reason": missing_note("torch", "the torch backend")})
    if "numpy" not in names:
        names.append("numpy")
    names.sort(key=lambda n: n != "numpy")  # the reference first: every row needs its time
    loadavg_start = _loadavg()
    min_runs = 10 if contended else 3
    results = []
    for scene in scenes:
        frame = make_bench_frame(image_size, scene=scene)
        for N in sizes:
            voxel = frame.grid_extent_m / N
            ref_ms = None
            for name in names:
                run, occupied = _runner(fastcore, name, frame, N, voxel)
                times = _time_backend(run, budget_s, min_runs, 200)
                median_ms = float(np.median(times) * 1e3)
                ref_ms = median_ms if name == "numpy" else ref_ms
                row = {"scene": scene, "grid": N, "backend": name, "median_ms": round(median_ms, 4),
                       "p90_ms": _p90_ms(times), "min_ms": round(float(min(times) * 1e3), 4),
                       "runs": len(times),
                       "speedup_vs_numpy": float(f"{ref_ms / median_ms:.4g}") if ref_ms else None,
                       "occupied_fraction": round(occupied(), 4)}
                if contended:
                    with busy_core():
                        busy = _time_backend(run, budget_s, min_runs, 200)
                    row.update({"contended_median_ms": round(float(np.median(busy) * 1e3), 4),
                                "contended_p90_ms": _p90_ms(busy), "contended_runs": len(busy)})
                    row["contended_p90_over_quiet_median"] = float(f"{row['contended_p90_ms'] / median_ms:.4g}")
                results.append(row)
                if progress:
                    progress(row)
    return {"image_size": list(image_size), "views": 2, "cpu_count": os.cpu_count(),
            "cython_built": fastcore.cython_available(), "loadavg_start": loadavg_start,
            "loadavg_end": _loadavg(), "contended": contended, "results": results, "skipped": skipped}


def _p90_ms(times: list[float]) -> float:
    return round(float(np.percentile(times, 90) * 1e3), 4)


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:         # not every platform has it; the figures stand without it
        return None


class busy_core:
    """Context manager: one child process spinning on a core, started and stopped around a timing.

    A real process, not a thread: it must compete with the kernel's threads through the
    OS scheduler, as capture and the TUI do on a Pi. It is left unpinned for the same reason.
    """

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write('r'); "
                                      "sys.stdout.flush()\nwhile True: pass"], stdout=subprocess.PIPE)
        self.proc.stdout.read(1)    # wait until it spins: the interpreter start is not contention
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        return False


def _default_backends() -> list[str]:
    from camdeck import fastcore
    names = fastcore.available_backends()
    if "torch" in names:
        torch = require_extra("torch", "the torch backend")
        if torch.cuda.is_available():
            names.append("torch-cuda")
    return names


def _runner(fastcore, name: str, frame: BenchFrame, N: int, voxel: float):
    """(run(), occupied_fraction()) for one backend; buffers are allocated once, here."""
    args = (frame.images, frame.K, frame.R, frame.t, N, voxel, frame.grid_center)
    if name == "torch-cuda":
        torch = require_extra("torch", "the torch-cuda backend")
        from camdeck.fastcore.torch_backend import carve_torch

        dev_images = [torch.from_numpy(img).cuda() for img in frame.images]
        out = torch.empty((N, N, N), dtype=torch.float32, device="cuda")

        def run():
            carve_torch(dev_images, *args[1:], device="cuda", out=out)
            torch.cuda.synchronize()
        return run, lambda: float((out > 0).float().mean().item())
    out = fastcore.empty_grid(N)       # as carve allocates: cache-line aligned
    backend = name

    def run():
        fastcore.carve(*args, backend=backend, out=out)
    return run, lambda: float(np.count_nonzero(out) / out.size)
