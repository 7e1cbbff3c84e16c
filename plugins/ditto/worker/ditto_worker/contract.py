"""Upstream's online contract, checked with upstream's own arithmetic (antgroup/ditto-talkinghead @ e9191cf).

- overlap_v2: setup() seeds the feature buffer with wav2feat(zeros(overlap_v2*640)), whose length is
  ceil(n_samples / 16000 * 25) (wav2feat.py, float arithmetic), and asserts it equals overlap_v2; float
  rounding makes that overlap_v2+1 for 55 and 56, so those crash setup although they lie in 40..79. In online
  mode overlap_v2 < 40 silently drops the first frames (the first emitted frame sits at 80 - fuse_length).
  We always pass overlap_v2 explicitly: the pickle's value is not trusted.
- seed: upstream draws from numpy's global generator (DDIM noise per setup, the initial x per window) and from
  Python's `random` (the blink schedule in motion_stitch.py). LMDM caches its per-step noise per
  sampling_timesteps for the life of the process, so a seed only decides it once that cache is dropped.
- no face: InsightFace finding none makes Source2Info._crop return None and its caller's tuple-unpack raise
  TypeError; BlazeFace finding none makes Landmark478.get return None and the next line raise AttributeError.
  Only those, raised in those files, mean "no face"; any other TypeError is a bug and says so.
"""
from __future__ import annotations

import math
import os
import random
import traceback

import numpy as np

DEFAULT_OVERLAP_V2 = 70        # what upstream's online pkl is reported to hold; set explicitly
SEQ_FRAMES = 80
MIN_ONLINE_OVERLAP_V2 = SEQ_FRAMES // 2
SAMPLES_PER_FRAME = 640
SAMPLE_RATE = 16000
FPS = 25

_FACE_FILES = ("source2info.py", "mediapipe_landmark478.py")


def seed_feature_count(overlap_v2: int) -> int:
    """len(wav2feat(zeros(overlap_v2*640))) exactly as upstream computes it (float, then ceil)."""
    return math.ceil(overlap_v2 * SAMPLES_PER_FRAME / SAMPLE_RATE * FPS)


def overlap_problem(overlap_v2: int) -> str | None:
    """Why upstream's online mode cannot run with this overlap_v2, or None when it can."""
    if overlap_v2 < MIN_ONLINE_OVERLAP_V2:
        return (f"overlap_v2={overlap_v2} is not usable in online mode: below {MIN_ONLINE_OVERLAP_V2} upstream silently "
                f"drops the first {SEQ_FRAMES - 2 * overlap_v2} frames and the video runs behind the audio "
                f"(usable: {MIN_ONLINE_OVERLAP_V2}..{SEQ_FRAMES - 1} except 55 and 56)")
    if overlap_v2 >= SEQ_FRAMES:
        return (f"overlap_v2={overlap_v2} is not usable: a window of {SEQ_FRAMES} frames must bring at least one new "
                f"frame (usable: {MIN_ONLINE_OVERLAP_V2}..{SEQ_FRAMES - 1} except 55 and 56)")
    n = seed_feature_count(overlap_v2)
    if n != overlap_v2:
        return (f"overlap_v2={overlap_v2} crashes upstream's setup: it seeds ceil({overlap_v2}*640/16000*25) = {n} "
                f"features of silence and asserts {overlap_v2} (float rounding); use e.g. {_nearest_usable(overlap_v2)}")
    return None


def usable_overlaps() -> list[int]:
    return [ov for ov in range(MIN_ONLINE_OVERLAP_V2, SEQ_FRAMES) if seed_feature_count(ov) == ov]


def _nearest_usable(overlap_v2: int) -> int:
    return min(usable_overlaps(), key=lambda ov: (abs(ov - overlap_v2), ov))


def seed_everything(sdk, seed: int) -> None:
    """Seeds every random source upstream uses, right before setup() draws from them."""
    np.random.seed(seed)
    random.seed(seed)
    # LMDM._setup_np returns early when sampling_timesteps is unchanged: drop the cache so setup() redraws
    # the per-step noise from the generator we just seeded.
    lmdm = getattr(getattr(sdk, "audio2motion", None), "lmdm", None)
    if lmdm is not None and hasattr(lmdm, "sampling_timesteps"):
        lmdm.sampling_timesteps = None


def is_missing_face(exc: BaseException) -> bool:
    """True only for upstream's two ways of failing on a portrait without a detectable face."""
    if not isinstance(exc, (TypeError, AttributeError)) or "NoneType" not in str(exc):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and os.path.basename(frames[-1].filename) in _FACE_FILES
