"""From the element's chunks to the audio windows upstream's online mode expects, and the latency
that follows from upstream's windowing.

Upstream (inference.py, online): the stream is `past*640` zeros followed by the audio; window i is
stream[i*hop : i*hop + split_len] zero-padded at the end, with hop = current*640 and
split_len = (past+current+future)*640 + 80. The 80 samples are HuBERT's receptive-field excess.

The element hands chunk i as (past+current+future)*640 samples starting at real sample
(first_frame - past)*640 = stream position i*hop: exactly window i minus its last 80 samples, which
belong to the next chunk. So window i goes to the SDK when chunk i+1 (or the end of the stream)
arrives; that costs `current` frames of latency, which extra_latency_frames() reports.
"""
from __future__ import annotations

import numpy as np

SPF = 640
HUBERT_EXCESS = 80
SEQ_FRAMES = 80


class ChunkError(Exception):
    pass


class OnlineFeeder:
    """Collects element chunks and yields upstream's online windows, in order, each exactly once."""

    def __init__(self, past: int, current: int, future: int):
        if min(past, current, future) < 1 or not 5 <= past + current + future <= 20:
            raise ChunkError(f"chunk config {past},{current},{future}: each >= 1, sum 5..20")
        self.past, self.current, self.future = past, current, future
        self.hop = current * SPF
        self.chunk_len = (past + current + future) * SPF
        self.split_len = self.chunk_len + HUBERT_EXCESS
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0, dtype=np.float32)   # stream samples [base, base + len)
        self._base = 0
        self.next_window = 0          # index of the next window to hand out
        self.next_chunk_frame = 0     # first_frame the next chunk must have
        self.total_frames: int | None = None   # known once the last chunk arrived

    @property
    def ended(self) -> bool:
        return self.total_frames is not None

    def add_chunk(self, first_frame: int, n_current: int, samples: np.ndarray, is_last: bool) -> list[np.ndarray]:
        """Takes one element chunk; returns the windows that became complete (at the end: all)."""
        if self.ended:
            raise ChunkError("chunk after the last chunk")
        if first_frame != self.next_chunk_frame:
            raise ChunkError(f"chunk at frame {first_frame}, expected {self.next_chunk_frame}")
        if len(samples) != self.chunk_len:
            raise ChunkError(f"chunk of {len(samples)} samples, expected {self.chunk_len}")
        if n_current > self.current or (n_current < self.current and not is_last):
            raise ChunkError(f"chunk with {n_current} current frames (config {self.current})")
        # stream position of the chunk's first sample = first_frame*640 (the past*640 zeros shift it)
        start = first_frame * SPF
        end = start + self.chunk_len
        have_end = self._base + len(self._buf)
        if end > have_end:
            if start > have_end:
                raise ChunkError("gap in the stream")
            self._buf = np.concatenate([self._buf, samples[have_end - start:]])
        self.next_chunk_frame = first_frame + n_current
        if is_last:
            self.total_frames = first_frame + n_current
        out = []
        while True:
            w = self._window(self.next_window)
            if w is None:
                break
            out.append(w)
            self.next_window += 1
        self._trim()
        return out

    def windows_needed(self) -> int | None:
        if self.total_frames is None:
            return None
        return -(-self.total_frames // self.current)

    def _window(self, i: int) -> np.ndarray | None:
        if self.ended and i >= self.windows_needed():
            return None
        start = i * self.hop
        end = start + self.split_len
        have_end = self._base + len(self._buf)
        if end > have_end and not self.ended:
            return None
        lo = start - self._base
        if lo < 0:
            raise ChunkError("window before the buffered stream")
        w = self._buf[lo:lo + self.split_len]
        if len(w) < self.split_len:
            w = np.concatenate([w, np.zeros(self.split_len - len(w), dtype=np.float32)])
        return np.array(w, dtype=np.float32, copy=True)

    def _trim(self) -> None:
        keep_from = self.next_window * self.hop
        drop = keep_from - self._base
        if drop > 0:
            self._buf = self._buf[drop:]
            self._base = keep_from


def release_chunks(current: int, overlap_v2: int, n_chunks: int = 64) -> list[int]:
    """For each frame k, the index of the element chunk whose arrival lets upstream emit it.

    Mirrors StreamSDK._audio2motion_worker (online): run_chunk(window i) yields `current` features;
    the worker waits for >= valid_clip_len new features, then runs every complete 80-frame window over
    the feature buffer (seeded with overlap_v2 features of silence); the first window only sets d0; each
    later one emits valid_clip_len frames. Window i is fed when element chunk i+1 arrives (see above).
    """
    valid = SEQ_FRAMES - overlap_v2
    fuse = min(overlap_v2, valid)
    feats = overlap_v2            # features in the buffer (absolute count)
    pending = 0                   # item_buffer
    local = 0
    started = False
    emit_pos = None               # absolute frame of res_kp_seq_valid_start
    release: list[int] = []
    for window in range(n_chunks):
        pending += current
        if pending < valid:
            continue
        feats += pending
        pending = 0
        while feats - local >= SEQ_FRAMES:
            if not started:
                started = True
                # res_kp_seq_valid_start = 80 - fuse: absolute frame (80 - fuse) - overlap_v2
                emit_pos = SEQ_FRAMES - fuse - overlap_v2
                local += valid
                continue
            for f in range(emit_pos, emit_pos + valid):
                if f >= 0:
                    while len(release) < f:
                        release.append(-1)
                    if len(release) == f:
                        release.append(window + 1)
            emit_pos += valid
            local += valid
    return release


def extra_latency_frames(current: int, overlap_v2: int) -> int:
    """Frames beyond the element's own chunk lookahead before frame k can come out (worst case).

    The element assumes frame k is ready once the chunk holding it was fed; here it is ready once
    chunk release[k] was fed: (release[k]*current - k) frames of extra audio, maximised over k.
    """
    rel = release_chunks(current, overlap_v2)
    worst = 0
    for k, chunk in enumerate(rel):
        if chunk < 0:
            continue
        worst = max(worst, chunk * current - k)
    return worst


class ReleaseTable:
    """release_chunks() for a stream of any length: grown (doubling) as frames go past its end."""

    def __init__(self, current: int, overlap_v2: int):
        self.current, self.overlap_v2 = current, overlap_v2
        self._n_chunks = 64
        self._table = release_chunks(current, overlap_v2, self._n_chunks)

    def chunk_of(self, frame: int) -> int:
        """The element chunk whose arrival lets upstream emit this frame (-1: never, as for the d0 window)."""
        while frame >= len(self._table) - SEQ_FRAMES:
            self._n_chunks *= 2
            self._table = release_chunks(self.current, self.overlap_v2, self._n_chunks)
        return self._table[frame]
