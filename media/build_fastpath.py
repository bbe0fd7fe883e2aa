"""Compile media/_rtpfast.c into an extension module next to it (run by `make`).

    python -m media.build_fastpath

Needs a C compiler and the Python headers (Debian: gcc, python3-dev); prints what is
missing instead of failing the build, and the worker then uses its Python packet path.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_rtpfast.c"


def target() -> Path:
    return HERE / f"_rtpfast{sysconfig.get_config_var('EXT_SUFFIX')}"


def build() -> int:
    out = target()
    if out.exists() and out.stat().st_mtime >= SOURCE.stat().st_mtime:
        return 0
    compiler = shutil.which(sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "cc") \
        or shutil.which("cc") or shutil.which("gcc")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not (Path(include) / "Python.h").exists():
        print(f"media/_rtpfast.c not built (no C compiler or no {include}/Python.h): "
              "the media worker uses its slower Python packet path", file=sys.stderr)
        return 0
    # -ffp-contract=off: no fused multiply-add, so the estimator's arithmetic is Python's
    cmd = [compiler, "-O2", "-ffp-contract=off", "-Wall", "-Werror", "-shared", "-fPIC", f"-I{include}", str(SOURCE),
           "-o", str(out), "-lm"]
    print(" ".join(cmd))
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(build())
