/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The wire protocol between the "ditto" backend and its worker process
 * (worker/ditto_worker/protocol.py holds the same table: keep them in step).
 *
 * AF_UNIX SOCK_SEQPACKET, one message per packet, little-endian, starting
 * with a guint32 type. File descriptors travel as SCM_RIGHTS. Frames never
 * cross the socket: the client creates a memfd of n_slots * slot_size bytes
 * (slot s at s * slot_size, tightly packed RGB rows at the output size, or
 * at the size FRAME gives), hands it over with SETUP, and the worker answers
 * FRAME(index, slot); the client copies the frame out and sends
 * RELEASE(slot).
 */
#ifndef __DITTO_WORKER_PROTOCOL_H__
#define __DITTO_WORKER_PROTOCOL_H__

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  /* client -> pool / worker */
  DITTO_MSG_CHECKOUT = 1,       /* utf-8 ticket ("" = any idle worker) */
  DITTO_MSG_SETUP = 2,          /* "key=value\n" lines; fd: frame memfd */
  DITTO_MSG_CHUNK = 3,          /* u64 first, u32 n_current, u32 n_real_future, u32 is_last, u32 n, f32[n] */
  DITTO_MSG_RELEASE = 4,        /* u32 slot */
  DITTO_MSG_DRAIN = 5,
  DITTO_MSG_RESET = 6,          /* u32 epoch */
  DITTO_MSG_CLOSE = 7,
  /* worker -> client */
  DITTO_MSG_ASSIGNED = 20,      /* utf-8 "worker=<id> pid=<pid>" */
  DITTO_MSG_READY = 21,         /* u32 extra_latency_frames, u32 has_face, i32 x, y, w, h,
                                 * u32 compute_us (the worker's measured window compute) */
  DITTO_MSG_FRAME = 22,         /* u64 index, u32 slot, u32 epoch[, u32 width, u32 height:
                                 * the frame's size when not the session's] */
  DITTO_MSG_CHUNK_DONE = 23,    /* u64 first, u32 epoch */
  DITTO_MSG_DRAINED = 24,       /* u64 frames, u32 epoch */
  DITTO_MSG_ERROR = 25,         /* u32 code (DittoBackendError), utf-8 message */
  DITTO_MSG_WARNING = 26,       /* utf-8 message */
  DITTO_MSG_TIMING = 27,        /* u32 compute_us: the measured window compute grew */
} DittoMsgType;

#define DITTO_MSG_MAX (1 << 20)

typedef struct {
  guint32 type;
  guint8 *body;                 /* points into data, after the type */
  gsize body_len;
  gint fd;                      /* a received descriptor or -1 */
  guint8 *data;                 /* owned */
} DittoMsg;

/* Connects a SOCK_SEQPACKET socket to path; -1 and error set on failure. */
gint ditto_msg_connect (const gchar * path, GError ** error);

/* Sends one message (header + body [+ fd]); waits at most timeout_ms for
 * room (-1: forever). FALSE and errno-based error on failure or timeout. */
gboolean ditto_msg_send (gint sock, guint32 type, const void *body,
    gsize body_len, gint fd, gint timeout_ms, GError ** error);

/* Receives one message; timeout_ms like poll (-1 forever). Returns 1 with
 * msg filled, 0 at end of stream (peer closed), -1 on error or timeout
 * (error set; g_error_matches (G_IO_ERROR, G_IO_ERROR_TIMED_OUT) for the
 * latter). Free with ditto_msg_clear. */
gint ditto_msg_recv (gint sock, DittoMsg * msg, gint timeout_ms, GError ** error);
void ditto_msg_clear (DittoMsg * msg);

/* Little-endian field access. */
guint32 ditto_msg_u32 (const DittoMsg * msg, gsize offset);
guint64 ditto_msg_u64 (const DittoMsg * msg, gsize offset);

G_END_DECLS

#endif /* __DITTO_WORKER_PROTOCOL_H__ */
