"""One worker process: loads one StreamSDK (the engines, seconds) and serves one session at a time.

    python3 -m ditto_worker.worker --socket PATH [--upstream DIR] (--model-dir DIR | --cfg-pkl F --data-root D)
        standalone: listens on PATH; connections are served one after another.
    python3 -m ditto_worker.worker --control-fd N ...
        pool child: the pool hands client connections over the control socket (see pool.py).

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

from . import protocol as P
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


def serve_session(sdk, conn: Connection, worker_id: str, setup_kwargs: dict, expect_checkout: bool) -> bool:
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
                    session = Session(sdk, settings, ring, conn.send, setup_kwargs, log)
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
                    help="extra StreamSDK.setup() kwargs as JSON, e.g. '{\"max_size\": 1024, \"emo\": 4}'")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        setup_kwargs = json.loads(args.setup_json)
        if not isinstance(setup_kwargs, dict):
            raise ValueError("--setup-json must be a JSON object")
        sdk = load_sdk(args)
    except (UpstreamError, ValueError) as e:
        log(f"cannot start: {e}")
        return EXIT_LOAD_FAILED
    except Exception as e:
        log(f"cannot load the model: {type(e).__name__}: {e}")
        return EXIT_LOAD_FAILED

    if args.socket:
        return run_standalone(sdk, args.socket, args.worker_id, setup_kwargs)
    return run_pool_child(sdk, args.control_fd, args.worker_id, setup_kwargs)


def run_standalone(sdk, path: str, worker_id: str, setup_kwargs: dict) -> int:
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(8)
    log(f"listening on {path}")
    while True:
        client, _ = srv.accept()
        if not serve_session(sdk, Connection(client), worker_id, setup_kwargs, expect_checkout=True):
            log("recycling after a failed session")
            os._exit(EXIT_RECYCLE)


def run_pool_child(sdk, control_fd: int, worker_id: str, setup_kwargs: dict) -> int:
    ctl = socket.socket(fileno=control_fd)
    P.send(ctl, P.pack_text(P.CTL_LOADED, json.dumps({"pid": os.getpid()})))
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
        healthy = serve_session(sdk, Connection(client), worker_id, setup_kwargs, expect_checkout=False)
        if not healthy:
            log("recycling after a failed session")
            os._exit(EXIT_RECYCLE)  # upstream's non-daemon threads may be stuck: do not join them
        P.send(ctl, P.pack(P.CTL_IDLE))


if __name__ == "__main__":
    sys.exit(main())
