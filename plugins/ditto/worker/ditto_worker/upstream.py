"""Locating and loading upstream's StreamSDK (antgroup/ditto-talkinghead, online mode).

Our code never downloads upstream or weights: the GPU image clones upstream at a pinned commit, and
the weights come from a mounted volume. The checkout is found from --upstream, else $DITTO_UPSTREAM_DIR.
"""
from __future__ import annotations

import importlib
import os
import sys

DEFAULT_CFG = os.path.join("ditto_cfg", "v0.4_hubert_cfg_trt_online.pkl")
DEFAULT_DATA = "ditto_trt_Ampere_Plus"


class UpstreamError(Exception):
    pass


def load_stream_sdk_class(upstream_dir: str | None):
    upstream_dir = upstream_dir or os.environ.get("DITTO_UPSTREAM_DIR")
    if not upstream_dir:
        raise UpstreamError("no upstream checkout: pass --upstream DIR or set DITTO_UPSTREAM_DIR "
                            "(a clone of antgroup/ditto-talkinghead)")
    path = os.path.join(upstream_dir, "stream_pipeline_online.py")
    if not os.path.isfile(path):
        raise UpstreamError(f"{upstream_dir} is not a ditto-talkinghead checkout (no stream_pipeline_online.py)")
    if upstream_dir not in sys.path:
        sys.path.insert(0, upstream_dir)
    try:
        module = importlib.import_module("stream_pipeline_online")
    except Exception as e:  # missing TensorRT, CUDA, cv2 ... say so plainly
        raise UpstreamError(f"cannot import stream_pipeline_online from {upstream_dir}: "
                            f"{type(e).__name__}: {e}") from e
    return module.StreamSDK


def resolve_model_paths(model_dir: str | None, cfg_pkl: str | None, data_root: str | None) -> tuple[str, str]:
    """--cfg-pkl/--data-root win; else the layout of HF digital-avatar/ditto-talkinghead under model_dir."""
    if cfg_pkl is None and model_dir:
        cfg_pkl = os.path.join(model_dir, DEFAULT_CFG)
    if data_root is None and model_dir:
        data_root = os.path.join(model_dir, DEFAULT_DATA)
    if not cfg_pkl or not data_root:
        raise UpstreamError("no model: pass --model-dir (the checkpoints directory) or --cfg-pkl and --data-root")
    if not os.path.isfile(cfg_pkl):
        raise UpstreamError(f"config {cfg_pkl} not found")
    if not os.path.isdir(data_root):
        raise UpstreamError(f"engine directory {data_root} not found")
    return cfg_pkl, data_root
