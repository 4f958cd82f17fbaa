"""Map the repository's folders into the one `camdeck` namespace and build the Cython kernel.

Metadata lives in pyproject.toml. The repository keeps its fixed top level (console/,
drivers/, fastcore/, calibration/, monitoring/, themes/, fileio/); installed, each is a subpackage
of `camdeck` (camdeck.console, camdeck.drivers, ...), so the wheel claims the one name
`camdeck` and nothing else. `camdeck` itself is an implicit namespace package: it has no
folder in the repository, so nothing in a checkout can shadow the installed one.

Flags: -O3 and -ffp-contract=off (the same rounding on every machine, so x86 and the
Pi's aarch64 carve the same grids); no -march: wider SIMD comes from runtime-dispatched
clones in fastcore/_carve_simd.h, and from the AVX-512 paths in fastcore/_carve_vbmi.h and
fastcore/_carve_gather.h, which run only where the CPU has them (its grids may differ from the others' only in voxels
within a few 1e-4 px of a pixel boundary, as between any two backends). The kernel is
stripped; CD_NOSTRIP=1 keeps its symbols (for perf). The uint8 kernel's threads are its own (pthreads,
fastcore/_carve_pool.h); OpenMP, used only when the compiler accepts it, threads the float32 /
attenuation path, which otherwise builds and runs single-threaded.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOTS = ("console", "drivers", "fastcore", "calibration", "monitoring", "themes", "fileio")


def _packages() -> tuple[list[str], dict[str, str]]:
    """(packages, package_dir): every folder with an __init__.py under ROOTS, as camdeck.*."""
    packages, package_dir = [], {}
    for root in ROOTS:
        package_dir[f"camdeck.{root}"] = root
        packages.append(f"camdeck.{root}")
        packages += [f"camdeck.{root}.{sub}" for sub in find_packages(root)]
    return packages, package_dir


_TEST_PROGRAM = """
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
  n += 1;
  return n > 0 ? 0 : 1; }
"""


def _openmp_flags(compiler) -> tuple[list[str], list[str]]:
    """(compile args, link args) for OpenMP if this compiler builds and links a test program."""
    if os.environ.get("CAMDECK_NO_OPENMP"):
        return [], []
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"]),
                      (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]  # Apple clang + libomp
    tmp = tempfile.mkdtemp(prefix="camdeck-omp-")
    try:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as fh:
            fh.write(_TEST_PROGRAM)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objs, "omp_test", output_dir=tmp, extra_postargs=lflags)
                return cflags, lflags
            except Exception:  # noqa: BLE001 - any failure means "no OpenMP here"
                continue
        return [], []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that picks optimisation and OpenMP flags for the compiler at hand."""

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            base = ["/O2", "/fp:precise"]
        else:
            # -g0 and -s: a wheel carries a stripped kernel, not its debug info
            base = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-Wno-unreachable-code", "-g0"]
        omp_c, omp_l = _openmp_flags(self.compiler)
        if not omp_c:
            print("camdeck: building fastcore without OpenMP (the float32 / attenuation path single-threaded)",
                  file=sys.stderr)
        threads = [] if self.compiler.compiler_type == "msvc" else ["-pthread"]   # _carve_pool.h (old glibc)
        for ext in self.extensions:
            ext.extra_compile_args = base + threads + omp_c + list(ext.extra_compile_args or [])
            strip = ["-s"] if sys.platform.startswith("linux") and not os.environ.get("CD_NOSTRIP") else []
            ext.extra_link_args = threads + omp_l + strip + list(ext.extra_link_args or [])
        super().build_extensions()


extensions = [
    Extension(
        "camdeck.fastcore._carve",
        ["fastcore/_carve.pyx"],
        include_dirs=[np.get_include(), "fastcore"],
        depends=["fastcore/_carve_simd.h", "fastcore/_carve_pool.h", "fastcore/_carve_vbmi.h",
                 "fastcore/_carve_gather.h"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

PACKAGES, PACKAGE_DIR = _packages()

setup(
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    ext_modules=cythonize(extensions, compiler_directives={"language_level": 3}),
    cmdclass={"build_ext": BuildExt},
)
