"""A worker's proof that the model works here, before it counts as loaded.

setup() on a bundled portrait (the same call a session makes), then windows of silence fed one at a
time, each waited for, so every figure is compute only: setup time, the first frame's delay after the
first window went in, the per-window compute (feed to first frame of the frames that window releases,
worst case after the first), the per-frame render interval; then close() flushes the tail, as at the end
of a stream. Any exception, a wrong frame or no frame in time fails the worker with the reason.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time

import numpy as np

from .contract import DEFAULT_OVERLAP_V2, is_missing_face, overlap_problem, seed_everything
from .windows import ReleaseTable

CHUNKSIZE = (3, 5, 2)
FRAME_TIMEOUT_S = 120.0   # a first TensorRT call can take long (lazy kernels); a hang cannot
MIN_GROUPS = 3            # frame groups to see (the first one includes upstream's d0 window)


class SelfTestError(Exception):
    pass


class _Collector:
    """Stands in for sdk.writer: upstream's writer thread calls it with each finished frame."""

    def __init__(self):
        self.times: list[float] = []
        self.shape = None
        self.error: str | None = None
        self._cond = threading.Condition()

    def __call__(self, frame, fmt="rgb"):
        if fmt != "rgb" or getattr(frame, "ndim", 0) != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            self.error = f"the model wrote a {getattr(frame, 'shape', '?')} {getattr(frame, 'dtype', '?')} frame " \
                         f"as {fmt!r}, expected HxWx3 uint8 rgb"
        self.shape = frame.shape
        with self._cond:
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def close(self):
        pass

    def wait(self, n: int, timeout: float, failed) -> bool:
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.times) < n:
                if failed() or time.monotonic() >= end:
                    return False
                self._cond.wait(0.05)
        return True


def run(sdk, portrait: str, setup_kwargs: dict | None = None, log=print) -> dict:
    if not portrait or not os.path.isfile(portrait):
        raise SelfTestError(f"no portrait for the start-up self-test at {portrait!r} "
                            "(--warmup-portrait or $DITTO_WARMUP_PORTRAIT)")
    kwargs = dict(setup_kwargs or {})
    overlap = int(kwargs.get("overlap_v2", DEFAULT_OVERLAP_V2))
    problem = overlap_problem(overlap)
    if problem:
        raise SelfTestError(problem)
    kwargs.update(online_mode=True, overlap_v2=overlap, sampling_timesteps=int(kwargs.get("sampling_timesteps", 10)))
    tmp = tempfile.mkdtemp(prefix="ditto-selftest-")
    try:
        seed_everything(sdk, 0)
        t0 = time.monotonic()
        try:
            sdk.setup(portrait, os.path.join(tmp, "selftest.mp4"), **kwargs)
        except Exception as e:
            if is_missing_face(e):
                raise SelfTestError(f"the model finds no face in the self-test portrait {portrait}") from e
            raise
        setup_ms = (time.monotonic() - t0) * 1000
        old, sink = getattr(sdk, "writer", None), _Collector()
        sdk.writer = sink
        if old is not None and hasattr(old, "close"):
            old.close()

        failed = lambda: getattr(sdk, "worker_exception", None) is not None or sink.error is not None  # noqa: E731
        release = ReleaseTable(CHUNKSIZE[1], overlap)
        window = np.zeros(sum(CHUNKSIZE) * 640 + 80, dtype=np.float32)
        latencies, intervals, expected, chunk = [], [], 0, 0
        while len(latencies) < MIN_GROUPS and chunk < 64:
            chunk += 1  # element chunk `chunk` arriving feeds window chunk-1
            group = 0
            while release.chunk_of(expected + group) == chunk:
                group += 1
            t_feed = time.monotonic()
            sdk.run_chunk(window, CHUNKSIZE)
            if not group:
                continue
            first = expected
            expected += group
            if not sink.wait(expected, FRAME_TIMEOUT_S, failed):
                break
            latencies.append((sink.times[first] - t_feed) * 1000)
            if group > 1:
                intervals.append((sink.times[expected - 1] - sink.times[first]) * 1000 / (group - 1))
        exc = getattr(sdk, "worker_exception", None)
        if exc is not None:
            raise SelfTestError(f"the model failed rendering silence: {type(exc).__name__}: {exc}") from exc
        if sink.error:
            raise SelfTestError(sink.error)
        if len(latencies) < MIN_GROUPS:
            raise SelfTestError(f"the model produced {len(sink.times)} of {expected} frames within "
                                f"{FRAME_TIMEOUT_S:.0f} s of the self-test's windows of silence")
        t1 = time.monotonic()
        sdk.close()  # flushes the tail and re-raises a worker-thread exception, as at a stream's end
        close_ms = (time.monotonic() - t1) * 1000
        report = {
            "setup_ms": round(setup_ms, 1),
            "first_frame_ms": round(latencies[0], 1),
            "window_ms": round(max(latencies[1:]), 1),
            "frame_ms": round(sum(intervals) / len(intervals), 2) if intervals else None,
            "close_ms": round(close_ms, 1),
            "frames": len(sink.times),
            "frame_size": [int(sink.shape[1]), int(sink.shape[0])] if sink.shape else None,
            "overlap_v2": overlap,
            "sampling_timesteps": kwargs["sampling_timesteps"],
        }
        log(f"self-test passed: {report}")
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
