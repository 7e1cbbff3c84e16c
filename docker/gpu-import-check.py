"""The GPU image's last build step: upstream's online pipeline and everything it pulls in must import here.

- `import stream_pipeline_online` (which imports torch, cv2, librosa, scipy, skimage, imageio, filetype, tqdm,
  the Cython blend ... at module level) and every upstream module that import loaded;
- the modules upstream only imports when it loads a model: core.utils.tensorrt_utils (tensorrt, cuda-python,
  torch; the .engine path) and core.utils.load_model;
- the blend extension is the one compiled at build time (docker/gpu-build-blend.py), never pyximport's: this
  runs with CC=/bin/false and an unwritable HOME, so a runtime compile would fail here instead of in a worker;
- numpy is upstream's 2.0.x and loads config pickles written by numpy 2 (numpy._core) and by numpy 1
  (numpy.core), so a checkpoint config pickled either way unpickles (the real one is checked by
  `ditto-gst doctor --model`, once the weights are mounted).

No GPU is needed: at build time the CUDA driver library is absent, so the CUDA stub library stands in for
libcuda.so.1 (calls into it fail, which no import makes).

    python3 docker/gpu-import-check.py /opt/ditto-talkinghead
"""
import importlib
import os
import pickle
import sys


def check_pickles(np) -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    cfg = {"default_kwargs": {"overlap_v2": 70, "emo": arr}}
    as_numpy2 = pickle.dumps(cfg, protocol=2)
    # the same pickle as numpy 1.x writes it: its reconstructor lives in numpy.core, not numpy._core
    as_numpy1 = as_numpy2.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    for label, blob in (("numpy 2", as_numpy2), ("numpy 1", as_numpy1)):
        got = pickle.loads(blob)["default_kwargs"]["emo"]
        assert (got == arr).all() and got.dtype == np.float32, f"a {label} config pickle does not round-trip"


def main(upstream: str) -> int:
    sys.path.insert(0, upstream)
    import numpy as np

    if not np.__version__.startswith("2.0."):
        print(f"numpy {np.__version__}: upstream's environment is numpy 2.0.x", file=sys.stderr)
        return 1
    check_pickles(np)

    import stream_pipeline_online  # noqa: F401  (the whole online pipeline, as a worker imports it)
    for name in ("core.utils.load_model", "core.utils.tensorrt_utils"):
        importlib.import_module(name)
    blend = sys.modules["core.utils.blend.blend"]
    if not str(getattr(blend, "__file__", "")).endswith(".so"):
        print(f"the blend extension came from {getattr(blend, '__file__', '?')}, not the build-time .so", file=sys.stderr)
        return 1

    root = os.path.realpath(upstream) + os.sep
    ours = sorted(n for n, m in sys.modules.items()
                  if getattr(m, "__file__", None) and os.path.realpath(m.__file__).startswith(root))
    third = sorted({n.split(".")[0] for n, m in sys.modules.items() if n.split(".")[0] in {
        "torch", "tensorrt", "cuda", "cv2", "librosa", "scipy", "skimage", "imageio", "filetype", "tqdm",
        "pyximport", "numba", "soundfile"}})
    import cv2
    import tensorrt
    import torch
    print(f"import check: {len(ours)} upstream modules ({', '.join(ours)})")
    print(f"import check: with {', '.join(third)}; numpy {np.__version__}, opencv {cv2.__version__}, "
          f"torch {torch.__version__}, TensorRT {tensorrt.__version__}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
