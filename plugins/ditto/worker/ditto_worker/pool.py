"""The warm pool: N loaded workers behind one socket.

    python3 -m ditto_worker.pool --socket /run/ditto/pool.sock (--workers 2 [--gpu 0] | --devices 0:2,1:2) \
        [--upstream DIR] (--model-dir DIR | --cfg-pkl F --data-root D) [--setup-json JSON]

Loading Ditto's engines takes seconds, so workers are started ahead and each serves sessions one
after another. A worker counts as loaded only once it has proved itself: engines loaded, setup() on a
bundled portrait, a few windows of silence rendered (worker.py); its measurements are in the status.

Devices (--devices): a comma-separated list of DEVICE or DEVICE:N, DEVICE being what CUDA_VISIBLE_DEVICES
takes (a GPU index, a GPU-... UUID or a MIG-... instance UUID), N the workers on it (default 1); e.g.
"0:2,1:2" = two workers on each of two GPUs, "MIG-a,MIG-b,MIG-c" = one worker per MIG instance.

The pool socket (SOCK_SEQPACKET) is the element's: a connection starts with CHECKOUT(ticket) and the
pool passes the connection itself to an idle worker (SCM_RIGHTS), which answers ASSIGNED and serves
the session on it; from then on the pool is out of the path. With no idle worker: ERROR(UNAVAILABLE).

The control socket (SOCK_STREAM, default SOCKET.ctl; Node speaks it, see src/workers/pool-client.ts)
takes one JSON object per line and answers one per line:
- {"op": "status"} -> {"ok": true, "status": {idle, reserved, busy, loading, down, exhausted, reason,
  model_loaded, devices, list: [{id, state, device, last_error, warmup, ...}], ...}}
- {"op": "reserve", "ttl_s": 30} -> {"ok": true, "ticket", "worker", "expires_in_s"} or
  {"ok": false, "code": "exhausted" (sessions hold every worker) | "unavailable" (none loaded: loading,
  failing to load, respawning; the message is the reason), "message", "retry_after_s", "status"}: the server holds a worker
  for the offer it is about to start and gives the ticket to the element (worker-ticket), whose
  CHECKOUT(ticket) claims exactly that worker; unclaimed reservations expire. This makes
  "503 when exhausted" race-free.
- {"op": "cancel", "ticket": "..."} -> {"ok": true, "released": bool}

A worker that exits (crash, GPU fault, recycling after a failed session) is respawned; a worker that
keeps failing to load is respawned with a growing delay (1, 2, 4 ... 60 s), and the status carries the
reason it gave ("reason"), so the server's readiness and its 503 MODEL_UNAVAILABLE can say why.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from . import protocol as P
from .worker import add_model_args

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST_MESSAGE_TIMEOUT_S = 5.0
MAX_RESPAWN_DELAY_S = 60.0


def log(msg: str) -> None:
    sys.stderr.write(f"[ditto-pool {os.getpid()}] {msg.rstrip()}\n")
    sys.stderr.flush()


@dataclass
class Worker:
    id: int
    proc: subprocess.Popen | None = None
    ctl: socket.socket | None = None
    state: str = "down"            # loading | idle | reserved | busy | down
    ticket: str | None = None
    reserved_until: float = 0.0
    spawned_at: float = 0.0
    load_failures: int = 0
    respawn_at: float = 0.0
    sessions: int = 0
    restarts: int = 0
    load_s: float | None = None
    device: str | None = None      # CUDA_VISIBLE_DEVICES of this worker (None: inherited)
    last_error: str | None = None  # why the last load failed (the worker's CTL_FAILED, or its exit)
    warmup: dict | None = None     # the worker's self-test report (CTL_LOADED)


@dataclass
class Pending:
    sock: socket.socket
    deadline: float


class Pool:
    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.workers = [Worker(i, device=d) for i, d in enumerate(worker_devices(args))]
        self.pending: dict[int, Pending] = {}
        self.running = True
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if os.path.exists(args.socket):
            os.unlink(args.socket)
        os.makedirs(os.path.dirname(os.path.abspath(args.socket)), exist_ok=True)
        self.srv.bind(args.socket)
        os.chmod(args.socket, 0o660)
        self.srv.listen(64)
        self.srv.setblocking(False)
        self.sel.register(self.srv, selectors.EVENT_READ, ("accept", None))
        self.ctl_path = args.control_socket or args.socket + ".ctl"
        if os.path.exists(self.ctl_path):
            os.unlink(self.ctl_path)
        self.ctl_srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl_srv.bind(self.ctl_path)
        os.chmod(self.ctl_path, 0o660)
        self.ctl_srv.listen(64)
        self.ctl_srv.setblocking(False)
        self.sel.register(self.ctl_srv, selectors.EVENT_READ, ("ctl-accept", None))
        self.ctl_bufs: dict[int, bytearray] = {}

    # ------------------------------------------------------------- workers

    def worker_command(self, w: Worker, fd: int) -> list[str]:
        a = self.args
        cmd = [a.python, "-m", "ditto_worker.worker", "--control-fd", str(fd), "--worker-id", str(w.id),
               "--setup-json", a.setup_json]
        for opt, val in (("--upstream", a.upstream), ("--model-dir", a.model_dir),
                         ("--cfg-pkl", a.cfg_pkl), ("--data-root", a.data_root),
                         ("--warmup-portrait", a.warmup_portrait)):
            if val:
                cmd += [opt, val]
        return cmd

    def spawn(self, w: Worker) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        if w.device is not None:
            env["CUDA_VISIBLE_DEVICES"] = w.device
        w.proc = subprocess.Popen(self.worker_command(w, child.fileno()), pass_fds=[child.fileno()], env=env)
        child.close()
        w.ctl = parent
        w.state = "loading"
        w.ticket = None
        w.spawned_at = time.monotonic()
        self.sel.register(parent, selectors.EVENT_READ, ("worker", w))
        log(f"worker {w.id} starting (pid {w.proc.pid})")

    def on_worker_message(self, w: Worker) -> None:
        try:
            msg = P.recv(w.ctl)
        except OSError:
            msg = None
        if msg is None:
            self.on_worker_exit(w)
            return
        mtype, _body, fds = msg
        for fd in fds:
            os.close(fd)
        if mtype == P.CTL_LOADED:
            w.state = "idle"
            w.load_s = time.monotonic() - w.spawned_at
            w.load_failures = 0
            w.last_error = None
            try:
                info = json.loads(_body.decode("utf-8") or "{}")
                w.warmup = info.get("warmup") if isinstance(info, dict) else None
            except ValueError:
                w.warmup = None
            log(f"worker {w.id} ready in {w.load_s:.1f} s: {json.dumps(w.warmup)}")
        elif mtype == P.CTL_FAILED:
            try:
                w.last_error = str(json.loads(_body.decode("utf-8")).get("reason"))
            except (ValueError, AttributeError):
                w.last_error = _body.decode("utf-8", "replace")
        elif mtype == P.CTL_IDLE:
            w.state = "idle"

    def on_worker_exit(self, w: Worker) -> None:
        self.sel.unregister(w.ctl)
        w.ctl.close()
        w.ctl = None
        code = w.proc.wait() if w.proc else None
        was = w.state
        w.state = "down"
        w.ticket = None
        if was == "loading":
            w.load_failures += 1
            if w.last_error is None:
                w.last_error = f"the worker exited with status {code} while loading the model (see the pool's log)"
        delay = 0.0 if was != "loading" else min(MAX_RESPAWN_DELAY_S, 2.0 ** (w.load_failures - 1))
        w.respawn_at = time.monotonic() + delay
        w.restarts += 1
        log(f"worker {w.id} (pid {w.proc.pid if w.proc else '?'}) exited with {code} while {was}; "
            f"respawning in {delay:.0f} s")

    # ------------------------------------------------------------- clients

    def on_accept(self) -> None:
        try:
            sock, _ = self.srv.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.pending[sock.fileno()] = Pending(sock, time.monotonic() + FIRST_MESSAGE_TIMEOUT_S)
        self.sel.register(sock, selectors.EVENT_READ, ("client", sock))

    def on_client(self, sock: socket.socket) -> None:
        self.sel.unregister(sock)
        self.pending.pop(sock.fileno(), None)
        sock.setblocking(True)
        sock.settimeout(2.0)
        try:
            msg = P.recv(sock)
            if msg is None:
                return
            mtype, body, fds = msg
            for fd in fds:
                os.close(fd)
            if mtype == P.CHECKOUT:
                if self.on_checkout(sock, body.decode("utf-8")):
                    return  # handed over; our copy is closed below
            else:
                P.send(sock, P.pack_error(P.E_FAILED, f"protocol error: unexpected message {mtype}"))
        except (OSError, ValueError, P.ProtocolError) as e:
            log(f"client error: {e}")
        finally:
            sock.close()

    # ------------------------------------------------------------- control socket (JSON lines)

    def on_ctl_accept(self) -> None:
        try:
            sock, _ = self.ctl_srv.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.ctl_bufs[sock.fileno()] = bytearray()
        self.pending[sock.fileno()] = Pending(sock, time.monotonic() + FIRST_MESSAGE_TIMEOUT_S)
        self.sel.register(sock, selectors.EVENT_READ, ("ctl", sock))

    def on_ctl(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buf = self.ctl_bufs.get(fd)
        if not data or buf is None or len(buf) + len(data) > 65536:
            self.drop_ctl(sock)
            return
        buf += data
        self.pending[fd] = Pending(sock, time.monotonic() + FIRST_MESSAGE_TIMEOUT_S)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            reply = self.control(line)
            try:
                sock.setblocking(True)
                sock.settimeout(2.0)
                sock.sendall(json.dumps(reply).encode() + b"\n")
                sock.setblocking(False)
            except OSError:
                self.drop_ctl(sock)
                return

    def drop_ctl(self, sock: socket.socket) -> None:
        self.ctl_bufs.pop(sock.fileno(), None)
        self.pending.pop(sock.fileno(), None)
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    def control(self, line: bytes) -> dict:
        try:
            req = json.loads(line.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            return {"ok": False, "code": "bad_request", "message": f"invalid JSON request: {e}"}
        op = req.get("op")
        if op == "status":
            return {"ok": True, "status": self.status()}
        if op == "reserve":
            try:
                ttl = float(req.get("ttl_s", 30))
            except (TypeError, ValueError):
                return {"ok": False, "code": "bad_request", "message": "ttl_s must be a number"}
            w = self.pick(None)
            if w is None:
                st = self.status()
                # full (sessions hold every worker): AT_CAPACITY; none can serve (loading, failing to load,
                # respawning): MODEL_UNAVAILABLE, with the reason
                code = "exhausted" if st["busy"] + st["reserved"] else "unavailable"
                message = self.exhausted_message() if code == "exhausted" else st["reason"]
                return {"ok": False, "code": code, "message": message,
                        "retry_after_s": st["retry_after_s"], "status": st}
            w.state = "reserved"
            w.ticket = secrets.token_hex(12)
            w.reserved_until = time.monotonic() + max(1.0, min(ttl, 600.0))
            return {"ok": True, "ticket": w.ticket, "worker": w.id,
                    "expires_in_s": round(w.reserved_until - time.monotonic(), 3)}
        if op == "cancel":
            return {"ok": True, "released": self.cancel(str(req.get("ticket", "")))}
        return {"ok": False, "code": "bad_request", "message": f"unknown op {op!r}"}

    def cancel(self, ticket: str) -> bool:
        for w in self.workers:
            if w.state == "reserved" and w.ticket == ticket:
                w.state, w.ticket = "idle", None
                return True
        return False

    def pick(self, ticket: str | None) -> Worker | None:
        if ticket:
            for w in self.workers:
                if w.state == "reserved" and w.ticket == ticket:
                    return w
            return None
        for w in self.workers:
            if w.state == "idle":
                return w
        return None

    def on_checkout(self, sock: socket.socket, ticket: str) -> bool:
        w = self.pick(ticket or None)
        if w is None:
            st = self.status()
            why = self.exhausted_message() if st["busy"] + st["reserved"] else st["reason"]
            msg = f"worker reservation unknown or expired (ticket not found); {why}" if ticket else why
            P.send(sock, P.pack_error(P.E_UNAVAILABLE, msg))
            return False
        sock.setblocking(True)  # O_NONBLOCK belongs to the shared file description
        try:
            P.send(w.ctl, P.pack_text(P.CTL_SESSION, ticket), [sock.fileno()])
        except OSError as e:
            P.send(sock, P.pack_error(P.E_WORKER, f"ditto worker {w.id} is gone: {e}"))
            return False
        w.state, w.ticket = "busy", None
        w.sessions += 1
        sock.close()
        return True

    def exhausted_message(self) -> str:
        s = self.status()
        return (f"ditto worker pool exhausted: {s['idle']} idle of {s['workers']} "
                f"({s['busy']} busy, {s['reserved']} reserved, {s['loading']} loading, {s['down']} down); "
                f"retry in {s['retry_after_s']} s")

    def status(self) -> dict:
        counts = {k: 0 for k in ("idle", "reserved", "busy", "loading", "down")}
        for w in self.workers:
            counts[w.state] += 1
        loads = [w.load_s for w in self.workers if w.load_s is not None]
        avg_load = sum(loads) / len(loads) if loads else 30.0
        now = time.monotonic()
        retry = 5
        if counts["idle"] == 0 and counts["busy"] == 0 and counts["reserved"] == 0:
            # nothing loaded: the next worker to come up is either loading (about avg_load) or waiting to respawn
            waits = [max(0.0, w.respawn_at - now) + avg_load for w in self.workers if w.state == "down"]
            waits += [max(0.0, avg_load - (now - w.spawned_at)) for w in self.workers if w.state == "loading"]
            retry = max(1, round(min(waits))) if waits else 5
        loaded = any(w.load_s is not None and w.state != "down" for w in self.workers) or counts["idle"] > 0
        devices: dict[str, dict] = {}
        for w in self.workers:
            d = devices.setdefault(w.device or "", {"device": w.device, "workers": 0,
                                                    **{k: 0 for k in counts}})
            d["workers"] += 1
            d[w.state] += 1
        return {
            "version": P.VERSION,
            "workers": len(self.workers),
            **counts,
            "exhausted": counts["idle"] == 0,
            "retry_after_s": retry,
            "restarts": sum(w.restarts for w in self.workers),
            "sessions": sum(w.sessions for w in self.workers),
            # why no session can be served now; None while a worker is idle
            "reason": None if counts["idle"] else self.unavailable_reason(counts),
            # the model never loaded in any worker (a 503 MODEL_UNAVAILABLE, not a full pool)
            "model_loaded": loaded,
            "devices": list(devices.values()),
            "list": [{"id": w.id, "pid": w.proc.pid if w.proc and w.state != "down" else None,
                      "state": w.state, "device": w.device, "sessions": w.sessions, "restarts": w.restarts,
                      "load_failures": w.load_failures, "last_error": w.last_error,
                      "load_s": None if w.load_s is None else round(w.load_s, 3),
                      "warmup": w.warmup} for w in self.workers],
        }

    def unavailable_reason(self, counts: dict) -> str:
        """Why no worker is idle: taken by sessions, failing to load (with the workers' own reasons), or loading."""
        n = len(self.workers)
        parts = []
        if counts["busy"] or counts["reserved"]:
            parts.append(f"{counts['busy'] + counts['reserved']} of {n} Ditto workers are taken "
                         f"({counts['busy']} busy, {counts['reserved']} reserved)")
        by_error: dict[str, list[str]] = {}
        for w in self.workers:
            if w.last_error and w.state in ("loading", "down"):
                by_error.setdefault(w.last_error, []).append(str(w.id))
        if by_error:
            failures = sum(w.load_failures for w in self.workers)
            parts.append(f"no Ditto worker could load the model ({failures} failed loads; retrying with back-off): "
                         + "; ".join(f"worker {', '.join(ids)}: {err}" for err, ids in by_error.items()))
        elif counts["loading"] or counts["down"]:
            parts.append(f"the Ditto model is still loading in {counts['loading'] + counts['down']} of {n} workers")
        return "; ".join(parts)

    # ------------------------------------------------------------- loop

    def run(self) -> int:
        for w in self.workers:
            self.spawn(w)
        log(f"listening on {self.args.socket} with {len(self.workers)} workers")
        while self.running:
            for key, _ev in self.sel.select(timeout=0.25):
                kind, obj = key.data
                if kind == "accept":
                    self.on_accept()
                elif kind == "worker":
                    self.on_worker_message(obj)
                elif kind == "client":
                    self.on_client(obj)
                elif kind == "ctl-accept":
                    self.on_ctl_accept()
                elif kind == "ctl":
                    self.on_ctl(obj)
            now = time.monotonic()
            for w in self.workers:
                if w.state == "reserved" and now >= w.reserved_until:
                    log(f"reservation of worker {w.id} expired")
                    w.state, w.ticket = "idle", None
                elif w.state == "down" and now >= w.respawn_at and self.running:
                    self.spawn(w)
            for fd, p in list(self.pending.items()):
                if now >= p.deadline:
                    if fd in self.ctl_bufs:
                        self.drop_ctl(p.sock)
                        continue
                    self.sel.unregister(p.sock)
                    p.sock.close()
                    del self.pending[fd]
        return 0

    def stop(self, *_args) -> None:
        self.running = False

    def close(self) -> None:
        for w in self.workers:
            if w.proc and w.proc.poll() is None:
                w.proc.terminate()
        deadline = time.monotonic() + 5
        for w in self.workers:
            if w.proc:
                try:
                    w.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    w.proc.wait()
        for path in (self.args.socket, self.ctl_path):
            try:
                os.unlink(path)
            except OSError:
                pass


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m ditto_worker.pool", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", required=True, help="the pool socket (give it to the element as worker-socket)")
    ap.add_argument("--control-socket", help="JSON control socket for the server (default SOCKET.ctl)")
    ap.add_argument("--workers", type=int, default=1, help="warm workers (default 1; with --gpu, on that device)")
    ap.add_argument("--gpu", help="CUDA_VISIBLE_DEVICES for all --workers")
    ap.add_argument("--devices", help="workers per device: DEVICE[:N],... (GPU index, GPU-/MIG- UUID); "
                                      "replaces --workers/--gpu")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the workers")
    add_model_args(ap)
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be >= 1")
    try:
        worker_devices(args)
    except ValueError as e:
        ap.error(str(e))
    return args


def parse_devices(spec: str) -> list[str]:
    """"0:2,1" -> ["0", "0", "1"]: the CUDA_VISIBLE_DEVICES of each worker."""
    out: list[str] = []
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        dev, sep, n = item.partition(":")
        if not dev or any(c.isspace() for c in dev) or (sep and not n.isdigit()):
            raise ValueError(f"--devices: bad entry {item!r} (DEVICE or DEVICE:N)")
        count = int(n) if sep else 1
        if count < 1:
            raise ValueError(f"--devices: {item!r} asks for no workers")
        out += [dev] * count
    if not out:
        raise ValueError("--devices: no device given")
    return out


def worker_devices(args) -> list[str | None]:
    if getattr(args, "devices", None):
        return list(parse_devices(args.devices))
    return [args.gpu] * args.workers


def main(argv=None) -> int:
    args = parse_args(argv)
    pool = Pool(args)
    signal.signal(signal.SIGTERM, pool.stop)
    signal.signal(signal.SIGINT, pool.stop)
    try:
        return pool.run()
    finally:
        pool.close()


if __name__ == "__main__":
    sys.exit(main())
