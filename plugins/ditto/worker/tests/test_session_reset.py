"""A reset whose old upstream threads do not stop fails the session (E_WORKER) and marks the worker for
recycling instead of running setup() beside them: Session over the StreamSDK double, whose "hangat" portrait
wedges the decode thread the way a stuck GPU call would."""
import os
import pickle
import struct
import sys
import tempfile
import time
import unittest

import numpy as np

from ditto_worker import protocol as P
from ditto_worker import session as S
from ditto_worker.frames import SlotRing

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
FAKE = os.path.join(ROOT, "test", "fixtures", "fake_ditto")
PORTRAIT = os.path.join(ROOT, "src", "server", "demo", "media", "portrait.jpg")


class ResetTest(unittest.TestCase):
    def test_reset_with_wedged_threads_recycles(self):
        if FAKE not in sys.path:
            sys.path.insert(0, FAKE)
        import stream_pipeline_online
        tmp = tempfile.mkdtemp()
        cfg = os.path.join(tmp, "cfg.pkl")
        with open(cfg, "wb") as f:
            pickle.dump({"default_kwargs": {}}, f)
        os.environ["FAKE_DITTO_LOAD_S"] = "0"
        sdk = stream_pipeline_online.StreamSDK(cfg, tmp)
        portrait = os.path.join(tmp, "hangat3.jpg")
        with open(PORTRAIT, "rb") as a, open(portrait, "wb") as b:
            b.write(a.read())
        fd = os.memfd_create("frames")
        slot = 64 * 64 * 3
        os.ftruncate(fd, 4 * slot)
        sent = []
        settings = {"source_path": portrait, "width": "64", "height": "64", "slots": "4", "slot_size": str(slot)}
        s = S.Session(sdk, settings, SlotRing(fd, 4, slot, 64, 64), sent.append, {}, lambda _m: None)
        S.THREAD_STOP_S = 1.0
        s.start()
        audio = np.zeros(10 * 640, dtype=np.float32)
        for i in range(8):  # enough chunks for upstream to emit frames 0..9 (it wedges at frame 3)
            s.chunk(i * 5, 5, False, audio)
        time.sleep(1.0)
        s.reset(1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not s.failed:
            time.sleep(0.05)
        errors = [m for m in sent if struct.unpack_from("<I", m)[0] == P.ERROR]
        self.assertTrue(errors, "the reset failed the session")
        code = struct.unpack_from("<I", errors[0], 4)[0]
        self.assertEqual(code, P.E_WORKER)
        self.assertIn(b"did not stop", errors[0])
        self.assertTrue(s.poisoned and s.sdk_failed, "the worker process is to be replaced")
        self.assertFalse(s.shutdown(), "shutdown reports the process as unclean")


if __name__ == "__main__":
    unittest.main()
