"""The wire protocol between the element's `ditto` backend (C), the pool and a worker.

Transport: AF_UNIX SOCK_SEQPACKET, one message per packet, little-endian. Every message starts with
a u32 type; the rest depends on the type (see the table below and ditto-worker-protocol.h, which must
stay in step). File descriptors (the frame memfd, a client connection handed to a worker) travel as
SCM_RIGHTS ancillary data. Frames never cross the socket: only slot numbers do.
"""
from __future__ import annotations

import socket
import struct

VERSION = 1

# client (element) -> pool / worker
CHECKOUT = 1      # utf-8 ticket ("" = any idle worker)
SETUP = 2         # utf-8 "key=value\n" lines; fds: [frame memfd]
CHUNK = 3         # u64 first_frame, u32 n_current, u32 n_real_future, u32 is_last, u32 n_samples, f32[n]
RELEASE = 4       # u32 slot: the client copied the frame out, the slot is free again
DRAIN = 5         # end of stream if not already sent: flush the tail, answer DRAINED
RESET = 6         # u32 epoch: drop everything, start a new stream numbered from frame 0
CLOSE = 7         # the session is over

# worker -> client
ASSIGNED = 20     # utf-8 "worker=<id> pid=<pid>"
READY = 21        # u32 extra_latency_frames, u32 has_face, i32 x, y, w, h, u32 compute_us (budget: measured*1.25+20 ms)
FRAME = 22        # u64 frame_index, u32 slot, u32 epoch[, u32 width, u32 height: when not the session's size]
CHUNK_DONE = 23   # u64 first_frame, u32 epoch
DRAINED = 24      # u64 frames delivered, u32 epoch
ERROR = 25        # u32 code, utf-8 message
WARNING = 26      # utf-8 message
TIMING = 27       # u32 compute_us: the measured feed-to-first-frame time grew; the new budget

# (the server's status / reserve / cancel go over the pool's JSON control socket: see pool.py)

# pool <-> worker (private control socketpair)
CTL_LOADED = 40    # worker -> pool: engines loaded, idle; utf-8 JSON info
CTL_SESSION = 41   # pool -> worker: fds [client connection]; utf-8 "ticket"
CTL_IDLE = 42      # worker -> pool: session over, idle again
CTL_BUSY = 43      # worker -> pool: utf-8 JSON {"session": ...}
CTL_FAILED = 44    # worker -> pool: utf-8 JSON {"reason": ...}, sent right before a worker that cannot load exits

# error codes = DittoBackendError in ditto-backend.h
E_FAILED = 0
E_NO_FACE = 1
E_SETTINGS = 2
E_WORKER = 3
E_UNAVAILABLE = 4

MAX_PACKET = 1 << 20
_U32 = struct.Struct("<I")
CHUNK_BODY = struct.Struct("<QIIII")   # followed by f32 samples
READY_BODY = struct.Struct("<IIiiiiI")
TIMING_BODY = struct.Struct("<I")
FRAME_BODY = struct.Struct("<QII")
FRAME_SIZED_BODY = struct.Struct("<QIIII")  # a frame at another size than the session's
CHUNK_DONE_BODY = struct.Struct("<QI")
DRAINED_BODY = struct.Struct("<QI")


class ProtocolError(Exception):
    pass


def pack(mtype: int, body: bytes = b"") -> bytes:
    return _U32.pack(mtype) + body


def pack_text(mtype: int, text: str) -> bytes:
    return pack(mtype, text.encode("utf-8"))


def pack_error(code: int, message: str) -> bytes:
    return pack(ERROR, _U32.pack(code) + message.encode("utf-8"))


def send(sock: socket.socket, data: bytes, fds: list[int] | None = None) -> None:
    """One packet (SOCK_SEQPACKET sends a packet whole or not at all)."""
    if len(data) > MAX_PACKET:
        raise ProtocolError(f"packet of {len(data)} bytes exceeds {MAX_PACKET}")
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def recv(sock: socket.socket, maxfds: int = 2) -> tuple[int, bytes, list[int]] | None:
    """One message: (type, body, fds); None at end of stream."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_PACKET, maxfds)
    if not data:
        for fd in fds:
            _close_quietly(fd)
        return None
    if len(data) < 4:
        raise ProtocolError(f"short packet ({len(data)} bytes)")
    return _U32.unpack_from(data)[0], data[4:], list(fds)


def parse_setup(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in body.decode("utf-8").splitlines():
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ProtocolError(f"setup line without '=': {line!r}")
        out[key] = value
    return out


def u32(body: bytes) -> int:
    return _U32.unpack_from(body)[0]


def _close_quietly(fd: int) -> None:
    import os
    try:
        os.close(fd)
    except OSError:
        pass

