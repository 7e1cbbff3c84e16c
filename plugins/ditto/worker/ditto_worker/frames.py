"""The shared-memory frame ring and frame resizing.

Layout (the client creates it, see ditto-backend-ditto.c): one memfd of n_slots * slot_size bytes;
slot s starts at s * slot_size and holds one frame as tightly packed RGB rows (stride width*3) at
the session's output size. The worker fills a free slot and sends FRAME(slot); the client copies the
frame out and sends RELEASE(slot). A slot is never written while the client owns it.
"""
from __future__ import annotations

import mmap
import os
import threading

import numpy as np

try:  # upstream's image already has OpenCV; the tests run without it
    import cv2  # type: ignore
except Exception:  # pragma: no cover - depends on the image
    cv2 = None


class SlotRing:
    def __init__(self, fd: int, n_slots: int, slot_size: int, width: int, height: int):
        if width * height * 3 > slot_size:
            raise ValueError(f"slot of {slot_size} bytes cannot hold {width}x{height} RGB")
        size = os.fstat(fd).st_size
        if size < n_slots * slot_size:
            raise ValueError(f"frame memory of {size} bytes, need {n_slots * slot_size}")
        self._map = mmap.mmap(fd, n_slots * slot_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        os.close(fd)
        self.n_slots, self.slot_size = n_slots, slot_size
        self.width, self.height = width, height
        self._free = list(range(n_slots))
        self._cond = threading.Condition()
        self._closed = False

    def view(self, slot: int) -> np.ndarray:
        """The slot as an HxWx3 uint8 array over the shared memory."""
        buf = np.frombuffer(self._map, dtype=np.uint8, count=self.width * self.height * 3,
                            offset=slot * self.slot_size)
        return buf.reshape(self.height, self.width, 3)

    def acquire(self, timeout: float, cancelled=lambda: False) -> int | None:
        """A free slot, waiting for the client to release one; None on timeout, cancel or close."""
        with self._cond:
            waited = 0.0
            while not self._free and not self._closed and not cancelled():
                if waited >= timeout:
                    return None
                self._cond.wait(0.05)
                waited += 0.05
            if self._closed or cancelled() or not self._free:
                return None
            return self._free.pop(0)

    def release(self, slot: int) -> None:
        with self._cond:
            if 0 <= slot < self.n_slots and slot not in self._free:
                self._free.append(slot)
                self._cond.notify_all()

    def free_all(self) -> None:
        with self._cond:
            self._free = list(range(self.n_slots))
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        try:
            self._map.close()
        except BufferError:
            pass  # a view is still alive; the mapping goes with the process


def resize_into(src: np.ndarray, dst: np.ndarray) -> None:
    """Resizes an HxWx3 uint8 frame into dst (area averaging when shrinking, like ditto-container)."""
    if src.shape == dst.shape:
        np.copyto(dst, src)
        return
    h, w = dst.shape[:2]
    if cv2 is not None:
        interp = cv2.INTER_AREA if w <= src.shape[1] and h <= src.shape[0] else cv2.INTER_LINEAR
        cv2.resize(src, (w, h), dst=dst, interpolation=interp)
        return
    dst[...] = _resize_numpy(src, w, h)


def _resize_numpy(src: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bilinear resampling at pixel centres with box pre-averaging for large reductions (numpy only)."""
    sh, sw = src.shape[:2]
    img = src.astype(np.float32)
    fy, fx = sh // h, sw // w
    if fy >= 2 or fx >= 2:
        fy, fx = max(fy, 1), max(fx, 1)
        ch, cw = (sh // fy) * fy, (sw // fx) * fx
        img = img[:ch, :cw].reshape(ch // fy, fy, cw // fx, fx, 3).mean(axis=(1, 3))
        sh, sw = img.shape[:2]
    ys = np.clip((np.arange(h) + 0.5) * sh / h - 0.5, 0, sh - 1)
    xs = np.clip((np.arange(w) + 0.5) * sw / w - 0.5, 0, sw - 1)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, sh - 1)
    x1 = np.minimum(x0 + 1, sw - 1)
    wy = (ys - y0)[:, None, None]
    wx = (xs - x0)[None, :, None]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bot = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return np.clip(top * (1 - wy) + bot * wy + 0.5, 0, 255).astype(np.uint8)
