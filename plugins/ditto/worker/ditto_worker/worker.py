"""One worker process: loads one StreamSDK (the engines, seconds) and serves one session at a time.

    python3 -m ditto_worker.worker --socket PATH [--upstream DIR] (--model-dir DIR | --cfg-pkl F --data-root D)
        standalone: listens on PATH; connections are served one after another.
    python3 -m ditto_worker.worker --control-fd N ...
        pool child: the pool hands client connections over the control socket (see pool.py).

Before it serves anything a worker proves the model works (selftest.py: setup() on a bundled portrait,
windows of silence rendered) and reports what it measured and what it runs on (device.py) to the pool.
A worker that cannot load or fails the self-test tells the pool why (CTL_FAILED) and exits with status 3.

A session whose SDK raised, or whose threads would not stop, ends the process after the session: a
fresh process (respawned by the pool) is cheaper than a model in an unknown state.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import socket
import sys
import threading
import time

import numpy as np

from . import device
from . import protocol as P
from . import selftest
from .frames import SlotRing
from .session import Session
from .upstream import UpstreamError, load_stream_sdk_class, resolve_model_paths

EXIT_LOAD_FAILED = 3
EXIT_RECYCLE = 4


def log(msg: str) -> None:
    sys.stderr.write(f"[ditto-worker {os.getpid()}] {msg.rstrip()}\n")
    sys.stderr.flush()


class Connection:
    """A client connection with a send lock (upstream's writer thread and ours both send)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            P.send(self.sock, data)


def serve_session(sdk, conn: Connection, worker_id: str, setup_kwargs: dict, expect_checkout: bool,
                  compute_us: int = 0) -> bool:
    """Serves one client until CLOSE or disconnect. Returns False when the process must be recycled."""
    sock = conn.sock
    session: Session | None = None
    try:
        if expect_checkout:
            msg = P.recv(sock)
            if msg is None:
                return True
            if msg[0] != P.CHECKOUT:
                conn.send(P.pack_error(P.E_FAILED, f"protocol error: expected CHECKOUT, got {msg[0]}"))
                return True
        conn.send(P.pack_text(P.ASSIGNED, f"worker={worker_id} pid={os.getpid()}"))
        while True:
            msg = P.recv(sock)
            if msg is None:
                break
            mtype, body, fds = msg
            if mtype == P.SETUP:
                if session is not None or len(fds) != 1:
                    for fd in fds:
                        os.close(fd)
                    conn.send(P.pack_error(P.E_FAILED, "protocol error: SETUP twice or without frame memory"))
                    break
                settings = P.parse_setup(body)
                try:
                    ring = SlotRing(fds[0], int(settings["slots"]), int(settings["slot_size"]),
                                    int(settings["width"]), int(settings["height"]))
                    session = Session(sdk, settings, ring, conn.send, setup_kwargs, log, compute_us)
                except (KeyError, ValueError) as e:
                    conn.send(P.pack_error(P.E_FAILED, f"bad setup: {e}"))
                    break
                session.start()
            elif mtype == P.CHUNK and session is not None:
                first, n_current, _n_real_future, is_last, n = P.CHUNK_BODY.unpack_from(body)
                samples = np.frombuffer(body, dtype="<f4", count=n, offset=P.CHUNK_BODY.size).astype(np.float32)
                session.chunk(first, n_current, bool(is_last), samples)
            elif mtype == P.RELEASE and session is not None:
                session.ring.release(P.u32(body))
            elif mtype == P.DRAIN and session is not None:
                session.drain()
            elif mtype == P.RESET and session is not None:
                session.reset(P.u32(body))
            elif mtype == P.CLOSE:
                break
            else:
                for fd in fds:
                    os.close(fd)
                conn.send(P.pack_error(P.E_FAILED, f"protocol error: unexpected message {mtype}"))
                break
    except (OSError, P.ProtocolError) as e:
        log(f"connection ended: {e}")
    finally:
        healthy = True
        if session is not None:
            healthy = session.shutdown() and not session.sdk_failed
        try:
            sock.close()
        except OSError:
            pass
    return healthy


def load_sdk(args):
    cfg_pkl, data_root = resolve_model_paths(args.model_dir, args.cfg_pkl, args.data_root)
    cls = load_stream_sdk_class(args.upstream)
    t0 = time.monotonic()
    sdk = cls(cfg_pkl, data_root)
    log(f"engines loaded in {time.monotonic() - t0:.1f} s ({cfg_pkl})")
    return sdk


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m ditto_worker.worker", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="listen on this unix socket path (standalone)")
    where.add_argument("--control-fd", type=int, help="pool control socket (set by the pool)")
    add_model_args(ap)
    ap.add_argument("--worker-id", default="0")
    return ap.parse_args(argv)


def add_model_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--upstream", help="ditto-talkinghead checkout (default $DITTO_UPSTREAM_DIR)")
    ap.add_argument("--model-dir", help="checkpoints dir (ditto_cfg/, ditto_trt_Ampere_Plus/)")
    ap.add_argument("--cfg-pkl", help="online config pkl (default MODEL_DIR/ditto_cfg/v0.4_hubert_cfg_trt_online.pkl)")
    ap.add_argument("--data-root", help="engine dir (default MODEL_DIR/ditto_trt_Ampere_Plus)")
    ap.add_argument("--setup-json", default="{}",
                    help="extra StreamSDK.setup() kwargs as JSON, e.g. '{\"max_size\": 1024, \"emo\": 4}'; "
                         "overlap_v2 defaults to 70 (never the pickle's), sampling_timesteps to 10")
    ap.add_argument("--warmup-portrait", default=os.environ.get("DITTO_WARMUP_PORTRAIT") or default_portrait(),
                    help="portrait of the start-up self-test (default $DITTO_WARMUP_PORTRAIT, else the demo's)")


def default_portrait() -> str | None:
    """The demo portrait of a ditto-gst checkout or image (src/server/demo/media/portrait.jpg)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.environ.get("DITTO_GST_APP"), os.path.join(here, "..", "..", "..", "..")):
        if root:
            p = os.path.normpath(os.path.join(root, "src", "server", "demo", "media", "portrait.jpg"))
            if os.path.isfile(p):
                return p
    return None


def start(args) -> tuple[object, dict, dict]:
    """Loads the model and runs the self-test: (sdk, setup kwargs, report). Raises with the reason."""
    setup_kwargs = json.loads(args.setup_json)
    if not isinstance(setup_kwargs, dict):
        raise ValueError("--setup-json must be a JSON object")
    t0 = time.monotonic()
    sdk = load_sdk(args)
    load_ms = (time.monotonic() - t0) * 1000
    report = {"load_ms": round(load_ms, 1), **selftest.run(sdk, args.warmup_portrait, setup_kwargs, log),
              **device.describe()}
    return sdk, setup_kwargs, report


def main(argv=None) -> int:
    args = parse_args(argv)
    ctl = socket.socket(fileno=args.control_fd) if args.control_fd is not None else None
    try:
        sdk, setup_kwargs, report = start(args)
    except Exception as e:
        if isinstance(e, (UpstreamError, selftest.SelfTestError, ValueError)):
            reason = str(e)
        else:
            reason = f"the model failed to load: {type(e).__name__}: {e}"
        log(f"cannot start: {reason}")
        if ctl is not None:
            try:
                P.send(ctl, P.pack_text(P.CTL_FAILED, json.dumps({"reason": reason})))
            except OSError:
                pass
        os._exit(EXIT_LOAD_FAILED)  # upstream's non-daemon threads may be running: do not join them

    # the element's compute budget: the first group (upstream's d0 window + the first emitting one) is dearer
    compute_us = int(max(report["window_ms"], report["first_frame_ms"]) * 1000)
    if args.socket:
        return run_standalone(sdk, args.socket, args.worker_id, setup_kwargs, compute_us)
    return run_pool_child(sdk, ctl, args.worker_id, setup_kwargs, report, compute_us)


def run_standalone(sdk, path: str, worker_id: str, setup_kwargs: dict, compute_us: int) -> int:
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(8)
    log(f"listening on {path}")
    while True:
        client, _ = srv.accept()
        if not serve_session(sdk, Connection(client), worker_id, setup_kwargs, True, compute_us):
            log("recycling after a failed session")
            os._exit(EXIT_RECYCLE)


def run_pool_child(sdk, ctl: socket.socket, worker_id: str, setup_kwargs: dict, report: dict,
                   compute_us: int) -> int:
    P.send(ctl, P.pack_text(P.CTL_LOADED, json.dumps({"pid": os.getpid(), "warmup": report})))
    while True:
        r, _, _ = select.select([ctl], [], [])
        msg = P.recv(ctl)
        if msg is None:
            log("pool went away")
            os._exit(0)
        mtype, body, fds = msg
        if mtype != P.CTL_SESSION or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            continue
        client = socket.socket(fileno=fds[0])
        client.setblocking(True)  # the pool polled it non-blocking; the flag is shared
        healthy = serve_session(sdk, Connection(client), worker_id, setup_kwargs, False, compute_us)
        if not healthy:
            log("recycling after a failed session")
            os._exit(EXIT_RECYCLE)  # upstream's non-daemon threads may be stuck: do not join them
        P.send(ctl, P.pack(P.CTL_IDLE))


if __name__ == "__main__":
    sys.exit(main())
