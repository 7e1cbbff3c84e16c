"""Unit tests of the worker's arithmetic: python3 -m unittest discover -s tests (from plugins/ditto/worker)."""
import unittest

import numpy as np

from ditto_worker.frames import _resize_numpy
from ditto_worker.windows import ChunkError, OnlineFeeder, extra_latency_frames, release_chunks


def element_chunks(audio, p, c, f):
    """What the element's chunker hands out: (past+current+future)*640 samples per chunk."""
    total = -(-len(audio) // 640)
    padded = np.concatenate([np.zeros(p * 640, np.float32), audio, np.zeros((c + f + 1) * 640, np.float32)])
    out, first = [], 0
    while first < total:
        n = min(c, total - first)
        out.append((first, n, padded[first * 640:(first + p + c + f) * 640], first + n >= total))
        first += n
    return out


def upstream_windows(audio, p, c, f):
    """inference.py's online loop, minus the windows that only hold frames past the end."""
    stream = np.concatenate([np.zeros(p * 640, np.float32), audio])
    split, hop = (p + c + f) * 640 + 80, c * 640
    n = -(-(-(-len(audio) // 640)) // c)
    return [np.pad(stream[i * hop:i * hop + split], (0, max(0, split - len(stream[i * hop:i * hop + split]))))
            for i in range(n)]


class FeederTest(unittest.TestCase):
    def run_feeder(self, n, cfg):
        audio = np.random.default_rng(n).uniform(-1, 1, n).astype(np.float32)
        feeder = OnlineFeeder(*cfg)
        got, when = [], []
        for i, (first, cur, samples, last) in enumerate(element_chunks(audio, *cfg)):
            ws = feeder.add_chunk(first, cur, samples, last)
            got += ws
            when += [i] * len(ws)
        return audio, got, when

    def test_windows_are_upstreams(self):
        for n, cfg in ((52900, (3, 5, 2)), (640 * 10, (3, 5, 2)), (12345, (2, 4, 1)), (100, (1, 3, 1)), (640 * 40, (5, 10, 5))):
            audio, got, when = self.run_feeder(n, cfg)
            want = upstream_windows(audio, *cfg)
            self.assertEqual(len(got), len(want), (n, cfg))
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
            # window i needs 80 samples of chunk i+1, except at the end
            self.assertEqual(when[:-1], list(range(1, len(when))), (n, cfg))

    def test_rejects_out_of_order_chunks(self):
        f = OnlineFeeder(3, 5, 2)
        with self.assertRaises(ChunkError):
            f.add_chunk(5, 5, np.zeros(6400, np.float32), False)
        with self.assertRaises(ChunkError):
            f.add_chunk(0, 5, np.zeros(6000, np.float32), False)
        f.add_chunk(0, 2, np.zeros(6400, np.float32), True)
        with self.assertRaises(ChunkError):
            f.add_chunk(2, 5, np.zeros(6400, np.float32), False)


class LatencyTest(unittest.TestCase):
    def test_online_pkl(self):
        # overlap 70: frames 0-9 need 20 real features = windows 0..3, fed on chunk 4
        rel = release_chunks(5, 70)
        self.assertEqual(rel[:10], [4] * 10)
        self.assertEqual(rel[10:20], [6] * 10)
        self.assertEqual(extra_latency_frames(5, 70), 20)

    def test_overlap_75_and_other_chunks(self):
        self.assertEqual(release_chunks(5, 75)[:5], [2] * 5)
        self.assertEqual(extra_latency_frames(5, 75), 10)
        self.assertEqual(extra_latency_frames(4, 76), 8)
        # valid_clip_len not a multiple of current: the worst frame decides
        self.assertEqual(extra_latency_frames(3, 70), max(c * 3 - k for k, c in enumerate(release_chunks(3, 70))))


class ResizeTest(unittest.TestCase):
    def test_constant_and_gradient(self):
        src = np.full((100, 60, 3), 77, np.uint8)
        self.assertTrue((_resize_numpy(src, 30, 50) == 77).all())
        grad = np.tile(np.arange(0, 240, 2, dtype=np.uint8)[None, :, None], (8, 1, 3))  # 8x120
        out = _resize_numpy(grad, 60, 4)
        self.assertEqual(out.shape, (4, 60, 3))
        self.assertTrue(np.all(np.diff(out[0, :, 0].astype(int)) > 0))


if __name__ == "__main__":
    unittest.main()
