"""What this worker runs on: GPU, compute capability, driver, CUDA and TensorRT versions.

Read through the same libraries upstream uses (cuda-python, tensorrt), after upstream was imported; every
field is None where it cannot be read (e.g. the test double, no GPU), never an exception.
"""
from __future__ import annotations

import os
import sys


def _version(v: int) -> str:
    """CUDA's 12010 -> "12.1"."""
    return f"{v // 1000}.{(v % 1000) // 10}"


def describe() -> dict:
    info: dict = {"gpu": None, "compute_capability": None, "driver_cuda": None, "cuda_runtime": None,
                  "tensorrt": None, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    trt = sys.modules.get("tensorrt")
    if trt is None:
        try:
            import tensorrt as trt  # type: ignore
        except Exception:
            trt = None
    if trt is not None:
        info["tensorrt"] = getattr(trt, "__version__", None)
    try:
        from cuda import cudart  # type: ignore  # cuda-python, as upstream's tensorrt_utils.py
        err, prop = cudart.cudaGetDeviceProperties(0)
        if int(err) == 0:
            name = prop.name
            info["gpu"] = (name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)).rstrip("\0")
            info["compute_capability"] = f"{prop.major}.{prop.minor}"
        err, v = cudart.cudaDriverGetVersion()
        if int(err) == 0:
            info["driver_cuda"] = _version(v)
        err, v = cudart.cudaRuntimeGetVersion()
        if int(err) == 0:
            info["cuda_runtime"] = _version(v)
    except Exception:
        pass
    return info
