"""Compiles upstream's Cython blend (core/utils/blend) in place at image build time.

Upstream compiles it on first import through pyximport with -march=native (blend.pyxbld): that needs gcc,
Python headers and a writable home at run time, races when several workers start at once, and would tune
the code to the build machine's CPU. Here it is built once with portable flags (upstream's minus
-march=native), next to blend.pyx, where Python's own finder loads it before pyximport's hook is asked.

    python3 docker/gpu-build-blend.py /opt/ditto-talkinghead
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension
from setuptools.dist import Distribution


def main(upstream: str) -> int:
    blend = os.path.join(upstream, "core", "utils", "blend")
    ext = Extension(
        name="core.utils.blend.blend",
        sources=[os.path.join(blend, "blend.pyx"), os.path.join(blend, "blend_impl.c")],
        include_dirs=[np.get_include(), blend],
        extra_compile_args=["-O3", "-std=c99", "-ffast-math"],  # no -march=native: any x86-64 runs it
    )
    dist = Distribution({"ext_modules": cythonize([ext], language_level=3, quiet=True), "script_args": ["build_ext", "--inplace"]})
    cwd = os.getcwd()
    os.chdir(upstream)  # --inplace puts core/utils/blend/blend.*.so under the current directory
    try:
        dist.parse_command_line()
        dist.run_commands()
    finally:
        os.chdir(cwd)
    built = [f for f in os.listdir(blend) if f.startswith("blend.") and f.endswith(".so")]
    if not built:
        print(f"no compiled blend extension in {blend}", file=sys.stderr)
        return 1
    print(f"built {os.path.join(blend, built[0])}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
