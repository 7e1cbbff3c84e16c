"""One stream on one StreamSDK: upstream's online contract, done right.

- setup() first, then replace sdk.writer (setup() overwrites it with an mp4 writer);
- windows exactly as upstream's online mode cuts them (windows.OnlineFeeder);
- overlap_v2 checked with upstream's own arithmetic and always passed explicitly (contract.py);
- every random source upstream uses seeded from the session's seed;
- a worker-thread exception (sdk.worker_exception / stop_event) reported as soon as it happens;
- "no face" only for upstream's two no-face failures (contract.is_missing_face), anything else as a failure;
- a reset whose old threads do not stop fails the session and recycles the process (never a setup beside them);
- the end of the stream flushes the buffered tail through close();
- the wall time from feeding a window to its first frame is measured; growth goes to the client (TIMING).

SDK calls run on the session's own thread, so the connection keeps serving RELEASE messages while
run_chunk() or close() block.
"""
from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
import traceback
from typing import Any, Callable

import numpy as np

from . import protocol as P
from .frames import SlotRing, resize_into
from .contract import DEFAULT_OVERLAP_V2, is_missing_face, overlap_problem, seed_everything
from .windows import ChunkError, OnlineFeeder, ReleaseTable, extra_latency_frames

SLOT_WAIT_S = 60.0             # the client releases a slot right after copying it
THREAD_STOP_S = 5.0
TIMING_GROWTH = 1.1            # report a measured compute time once it exceeds the last report by 10 %
TIMING_MIN_STEP_US = 5000
# the element budgets what we report: a measured figure plus room for the jitter any GPU/CPU share has
BUDGET_FACTOR = 1.25
BUDGET_MARGIN_US = 20000


def compute_budget(measured_us: int) -> int:
    return int(measured_us * BUDGET_FACTOR + BUDGET_MARGIN_US)


class SessionError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class FrameWriter:
    """Attached as sdk.writer after setup(): upstream's writer thread calls it once per frame, in order."""

    def __init__(self, session: "Session", epoch: int):
        self._session = session
        self._epoch = epoch
        self.frames = 0

    def __call__(self, frame_rgb: np.ndarray, fmt: str = "rgb") -> None:
        if fmt != "rgb":
            raise ValueError(f"frame format {fmt!r}: the ditto worker takes rgb")
        index = self.frames
        self.frames += 1
        self._session._deliver(self._epoch, index, frame_rgb)

    def close(self) -> None:  # upstream's close() calls writer.close()
        pass


class Session:
    def __init__(self, sdk: Any, settings: dict[str, str], ring: SlotRing, send: Callable[[bytes], None],
                 setup_kwargs: dict[str, Any] | None = None, log: Callable[[str], None] = print,
                 compute_us: int = 0):
        self.sdk = sdk
        self.ring = ring
        self._send = send
        self._log = log
        self._extra_setup = dict(setup_kwargs or {})
        self._jobs: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self.epoch = 0
        self.failed = False           # an ERROR was sent: the session is over
        self.poisoned = False         # SDK threads would not stop: the process must go
        self.sdk_failed = False       # the SDK raised: recycle the process after this session
        self._running = False         # SDK threads started and not yet joined
        self._aborting = False        # we set stop_event ourselves (reset / shutdown)
        self._writer: FrameWriter | None = None
        self._total: int | None = None
        self._last_frame: np.ndarray | None = None
        self._delivered = 0
        self._tmpdir = tempfile.mkdtemp(prefix="ditto-worker-")

        self.source_path = settings.get("source_path", "")
        self.width = int(settings["width"])
        self.height = int(settings["height"])
        p, c, f = (int(v) for v in settings.get("chunk", "3,5,2").split(","))
        self.chunksize = (p, c, f)
        self.sampling_timesteps = int(settings.get("sampling_timesteps", "10"))
        self.overlap_v2_request = int(settings.get("overlap_v2", "0"))
        self.seed = int(settings.get("seed", "0"))
        self.face_box = settings.get("face_box", "")
        self.feeder = OnlineFeeder(p, c, f)
        self.compute_us = int(compute_us)   # reported in READY (the warm-up's figure), raised by TIMING
        self._fed_at: dict[int, float] = {}  # element chunk index -> when its windows went to run_chunk
        self._release: ReleaseTable | None = None
        self._timing_lock = threading.Lock()  # _fed_at: the session thread writes, upstream's writer reads

        self._thread = threading.Thread(target=self._run, name="ditto-session", daemon=True)
        self._monitor = threading.Thread(target=self._watch, name="ditto-monitor", daemon=True)
        self._stop = threading.Event()

    # ---------------------------------------------------------------- public (connection thread)

    def start(self) -> None:
        self._thread.start()
        self._monitor.start()
        self._jobs.put(("setup", None))

    def chunk(self, first_frame: int, n_current: int, is_last: bool, samples: np.ndarray) -> None:
        self._jobs.put(("chunk", (first_frame, n_current, is_last, samples)))

    def drain(self) -> None:
        self._jobs.put(("drain", None))

    def reset(self, epoch: int) -> None:
        # unblock a run_chunk()/close() of the old stream at once
        with self._lock:
            self.epoch = epoch
        self._abort_sdk_async()
        self._jobs.put(("reset", epoch))

    def shutdown(self) -> bool:
        """Ends the session; False when upstream's threads would not stop (the process must exit)."""
        self._stop.set()
        self._abort_sdk_async()
        self._jobs.put(("stop", None))
        self._thread.join(THREAD_STOP_S + 2)
        clean = not self._thread.is_alive() and not self.poisoned
        self.ring.close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)
        return clean

    # ---------------------------------------------------------------- session thread

    def _run(self) -> None:
        while True:
            kind, arg = self._jobs.get()
            if kind == "stop":
                self._stop_sdk()
                return
            if self.failed:
                continue
            try:
                if kind == "setup":
                    self._setup()
                elif kind == "chunk":
                    self._chunk(*arg)
                elif kind == "drain":
                    self._finish()
                elif kind == "reset":
                    self._stop_sdk()
                    if self.poisoned:
                        raise SessionError(P.E_WORKER, "the Ditto model's threads of the previous stream did not "
                                                       f"stop within {THREAD_STOP_S:.0f} s of the reset; the session "
                                                       "ends and the worker process is replaced")
                    if arg == self.epoch:
                        self.feeder.reset()
                        self._total = None
                        self._delivered = 0
                        self._last_frame = None
                        self._setup(announce=False)
            except SessionError as e:
                if e.code == P.E_WORKER:
                    self.sdk_failed = True
                self._fail(e.code, str(e))
            except ChunkError as e:
                self._fail(P.E_FAILED, f"protocol error: {e}")
            except Exception as e:  # anything upstream raises outside its worker threads
                self.sdk_failed = True
                self._log(traceback.format_exc())
                when = "during setup" if kind == "setup" else "mid-stream"
                self._fail(P.E_FAILED, f"the Ditto model failed {when}: {_describe(e)}")

    def _effective_overlap(self) -> int:
        """The element's overlap-v2, else the worker's --setup-json, else 70: never the pickle's."""
        if self.overlap_v2_request:
            return self.overlap_v2_request
        return int(self._extra_setup.get("overlap_v2", DEFAULT_OVERLAP_V2))

    def _setup(self, announce: bool = True) -> None:
        overlap = self._effective_overlap()
        problem = overlap_problem(overlap)
        if problem:
            raise SessionError(P.E_SETTINGS, problem + " (the element's overlap-v2 or the worker's --setup-json)")
        if not os.path.isfile(self.source_path):
            raise SessionError(P.E_FAILED, f"portrait {self.source_path!r} is not readable by the worker")
        if announce and self.face_box:
            self._send(P.pack_text(P.WARNING, "face-box is ignored by the ditto backend: "
                                              "the model detects the face itself"))
        kwargs = dict(self._extra_setup)
        kwargs.update(online_mode=True, overlap_v2=overlap, sampling_timesteps=self.sampling_timesteps)
        seed_everything(self.sdk, self.seed)
        output_path = os.path.join(self._tmpdir, "unused.mp4")
        self._release = ReleaseTable(self.chunksize[1], overlap)
        with self._timing_lock:
            self._fed_at.clear()
        try:
            self.sdk.setup(self.source_path, output_path, **kwargs)
        except Exception as e:
            if not is_missing_face(e):
                raise
            self._abort_sdk_threads()
            raise SessionError(P.E_NO_FACE,
                               f"no detectable face in the portrait {os.path.basename(self.source_path)} "
                               f"(the model's face detector found none: {_describe(e)})") from e
        self._aborting = False
        self._running = True
        # setup() just replaced sdk.writer with an mp4 writer: drop it, attach ours
        old = getattr(self.sdk, "writer", None)
        with self._lock:
            epoch = self.epoch
        self._writer = FrameWriter(self, epoch)
        self.sdk.writer = self._writer
        if old is not None and hasattr(old, "close"):
            try:
                old.close()
            except Exception:
                pass
        if announce:
            extra = extra_latency_frames(self.chunksize[1], overlap)
            budget = compute_budget(self.compute_us) if self.compute_us else 0
            self._send(P.pack(P.READY, P.READY_BODY.pack(extra, 0, 0, 0, 0, 0, budget)))

    def _chunk(self, first_frame: int, n_current: int, is_last: bool, samples: np.ndarray) -> None:
        with self._lock:
            epoch = self.epoch
        windows = self.feeder.add_chunk(first_frame, n_current, samples, is_last)
        if windows and not is_last:
            with self._timing_lock:
                self._fed_at[first_frame // self.chunksize[1]] = time.monotonic()
        for window in windows:
            self._check_sdk()
            self.sdk.run_chunk(window, self.chunksize)
            self._check_sdk()
        if self.feeder.ended:
            self._total = self.feeder.total_frames
        self._send(P.pack(P.CHUNK_DONE, P.CHUNK_DONE_BODY.pack(first_frame, epoch)))
        if is_last:
            self._finish()

    def _finish(self) -> None:
        """End of stream: close() flushes upstream's buffered tail; then DRAINED."""
        with self._lock:
            epoch = self.epoch
        if self._running:
            self._running = False
            if self._total is None:
                self._total = self.feeder.next_chunk_frame
                # the client drained without a last chunk: feed what is buffered
                if self.feeder.next_chunk_frame > 0 and not self.feeder.ended:
                    self.feeder.total_frames = self.feeder.next_chunk_frame
                    while True:
                        w = self.feeder._window(self.feeder.next_window)
                        if w is None:
                            break
                        self.feeder.next_window += 1
                        self.sdk.run_chunk(w, self.chunksize)
            try:
                self.sdk.close()
            except Exception as e:
                self.sdk_failed = True
                self._log(traceback.format_exc())
                raise SessionError(P.E_FAILED, f"the Ditto model failed mid-stream: {_describe(e)}") from e
        total = self._total or 0
        if self._delivered < total:
            # keep A/V lockstep: repeat the last frame rather than end short
            missing = total - self._delivered
            self._send(P.pack_text(P.WARNING, f"the model produced {self._delivered} of {total} frames; "
                                              f"repeating the last frame {missing} times"))
            while self._delivered < total and self._last_frame is not None:
                self._deliver(epoch, self._delivered, self._last_frame)
        self._send(P.pack(P.DRAINED, P.DRAINED_BODY.pack(self._delivered, epoch)))

    # ---------------------------------------------------------------- frames (upstream's writer thread)

    def _deliver(self, epoch: int, index: int, frame: np.ndarray) -> None:
        with self._lock:
            current = self.epoch
        if epoch != current or self.failed or self._stop.is_set():
            return
        if index != self._delivered:
            return  # beyond the end (upstream emits whole chunks) or a repeat already sent
        if self._total is not None and index >= self._total:
            return
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"writer got a {frame.shape} {frame.dtype} frame, expected HxWx3 uint8")
        slot = self.ring.acquire(SLOT_WAIT_S, cancelled=lambda: self._stop.is_set() or self.failed)
        if slot is None:
            if self._stop.is_set() or self.failed:
                return
            raise TimeoutError(f"no free frame slot for {SLOT_WAIT_S:.0f} s: the client stopped releasing frames")
        resize_into(frame, self.ring.view(slot))
        self._last_frame = frame
        self._delivered = index + 1
        self._send(P.pack(P.FRAME, P.FRAME_BODY.pack(index, slot, epoch)))
        self._measure(index)

    def _measure(self, index: int) -> None:
        """Feed-to-first-frame time of the window that released this frame; TIMING when it grew."""
        if self._release is None:
            return
        chunk = self._release.chunk_of(index)
        with self._timing_lock:
            fed = self._fed_at.pop(chunk, None)
            for old in [c for c in self._fed_at if c < chunk]:
                del self._fed_at[old]
        if fed is None:
            return
        us = int((time.monotonic() - fed) * 1e6)
        if us > self.compute_us * TIMING_GROWTH and us - self.compute_us >= TIMING_MIN_STEP_US:
            self._log(f"window compute {us / 1000:.1f} ms at frame {index} (was {self.compute_us / 1000:.1f} ms)")
            self.compute_us = us
            self._send(P.pack(P.TIMING, P.TIMING_BODY.pack(compute_budget(us))))

    # ---------------------------------------------------------------- errors

    def _check_sdk(self) -> None:
        exc = getattr(self.sdk, "worker_exception", None)
        if exc is not None:
            self.sdk_failed = True
            raise SessionError(P.E_FAILED, f"the Ditto model failed mid-stream: {_describe(exc)}")

    def _watch(self) -> None:
        """Reports an upstream worker-thread exception at once (upstream only re-raises it in close())."""
        while not self._stop.wait(0.02):
            if self.failed or not self._running or self._aborting:
                continue
            exc = getattr(self.sdk, "worker_exception", None)
            stop_event = getattr(self.sdk, "stop_event", None)
            if exc is not None or (stop_event is not None and stop_event.is_set()):
                self.sdk_failed = True
                what = _describe(exc) if exc is not None else "its worker threads stopped"
                self._fail(P.E_FAILED, f"the Ditto model failed mid-stream: {what}")

    def _fail(self, code: int, message: str) -> None:
        with self._lock:
            if self.failed:
                return
            self.failed = True
        self._log(f"session error ({code}): {message}")
        try:
            self._send(P.pack_error(code, message))
        except OSError:
            pass
        self._abort_sdk_async()

    # ---------------------------------------------------------------- stopping upstream's threads

    def _abort_sdk_async(self) -> None:
        self._aborting = True
        ev = getattr(self.sdk, "stop_event", None)
        if ev is not None and self._running:
            ev.set()

    def _abort_sdk_threads(self) -> None:
        self._aborting = True
        ev = getattr(self.sdk, "stop_event", None)
        if ev is not None:
            ev.set()
        deadline = time.monotonic() + THREAD_STOP_S
        for t in getattr(self.sdk, "thread_list", []) or []:
            if t is threading.current_thread():
                continue
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                self.poisoned = True

    def _stop_sdk(self) -> None:
        if self._running:
            self._running = False
            self._abort_sdk_threads()
