"""Upstream's contract (contract.py) against the StreamSDK double (test/fixtures/fake_ditto), which follows
upstream's formulas: run with python3 -m unittest discover -s tests (from plugins/ditto/worker)."""
import os
import pickle
import sys
import tempfile
import unittest

import numpy as np

from ditto_worker.contract import is_missing_face, overlap_problem, seed_everything, usable_overlaps

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
FAKE = os.path.join(ROOT, "test", "fixtures", "fake_ditto")
PORTRAIT = os.path.join(ROOT, "src", "server", "demo", "media", "portrait.jpg")


def fake_sdk(tmp):
    if FAKE not in sys.path:
        sys.path.insert(0, FAKE)
    import stream_pipeline_online  # the double
    cfg = os.path.join(tmp, "cfg.pkl")
    with open(cfg, "wb") as f:
        pickle.dump({"default_kwargs": {"overlap_v2": 70, "sampling_timesteps": 10}}, f)
    os.environ["FAKE_DITTO_LOAD_S"] = "0"
    return stream_pipeline_online.StreamSDK(cfg, tmp)


def portrait(tmp, name):
    p = os.path.join(tmp, name)
    with open(PORTRAIT, "rb") as src, open(p, "wb") as dst:
        dst.write(src.read())
    return p


class ContractTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.sdk = fake_sdk(self.tmp)

    def test_overlap_arithmetic_is_upstreams(self):
        self.assertEqual([ov for ov in range(40, 80) if ov not in usable_overlaps()], [55, 56])
        self.assertIsNone(overlap_problem(70))
        self.assertIn("ceil(55*640/16000*25) = 56", overlap_problem(55))
        self.assertIn("below 40", overlap_problem(10))
        # the double fails exactly like upstream's assert when nobody checks
        with self.assertRaises(AssertionError):
            self.sdk.setup(portrait(self.tmp, "face.jpg"), os.path.join(self.tmp, "o.mp4"), online_mode=True, overlap_v2=55)
        self.sdk.stop_event.set() if hasattr(self.sdk, "stop_event") else None

    def _probes(self, seed):
        seed_everything(self.sdk, seed)
        self.sdk.setup(portrait(self.tmp, "face.jpg"), os.path.join(self.tmp, "o.mp4"), online_mode=True, overlap_v2=70)
        probes = (float(self.sdk.audio2motion.lmdm.noise_list[0].ravel()[0]), self.sdk.blink_start, float(np.random.random()))
        self.sdk.close()
        return probes

    def test_seed_decides_every_random_source(self):
        a, b, c = self._probes(7), self._probes(7), self._probes(8)
        self.assertEqual(a, b, "same seed, same noise even though LMDM caches it per sampling_timesteps")
        self.assertNotEqual(a, c)

    def test_missing_face_only(self):
        for name, face in (("noface.jpg", True), ("badcrop.jpg", False)):
            try:
                self.sdk.setup(portrait(self.tmp, name), os.path.join(self.tmp, "o.mp4"), online_mode=True, overlap_v2=70)
            except Exception as e:  # noqa: BLE001
                self.assertIsInstance(e, TypeError)
                self.assertEqual(is_missing_face(e), face, name)
            else:
                self.fail(f"{name}: setup() did not raise")


if __name__ == "__main__":
    unittest.main()


class ImageReadingTest(unittest.TestCase):
    """The double reads portraits by content as upstream's loader does: PNG, JPEG and WebP (lossy and lossless)."""

    def test_webp_png_jpeg(self):
        import shutil
        import subprocess
        if FAKE not in sys.path:
            sys.path.insert(0, FAKE)
        import stream_pipeline_online as fake
        if not shutil.which("gst-launch-1.0"):
            self.skipTest("no gst-launch-1.0")
        tmp = tempfile.mkdtemp()
        for name, enc in (("lossy.webp", "webpenc"), ("lossless.webp", "webpenc lossless=true"),
                          ("p.png", "pngenc"), ("j.jpg", "jpegenc")):
            out = os.path.join(tmp, name)
            r = subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=1", "!",
                                "video/x-raw,width=322,height=242", "!", "videoconvert", "!", *enc.split(), "!",
                                "filesink", f"location={out}"], capture_output=True, text=True)
            if r.returncode != 0:
                self.skipTest(f"cannot encode {name}: {r.stderr}")
            self.assertEqual(fake._image_size(out), (322, 242), name)
        bogus = os.path.join(tmp, "text.jpg")
        with open(bogus, "w") as f:
            f.write("not an image")
        with self.assertRaisesRegex(ValueError, "Unsupported source type"):
            fake._image_size(bogus)
