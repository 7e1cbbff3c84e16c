/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The "ditto" backend: the real Ditto model (antgroup/ditto-talkinghead,
 * online mode, TensorRT) in a separate worker process, so a model crash or a
 * GPU fault ends one session with an error instead of the whole server.
 *
 * open() connects to the worker socket (usually the warm pool of
 * worker/ditto_worker/pool.py, which hands the connection to an idle worker),
 * creates the frame memory (a memfd of DITTO_REMOTE_SLOTS RGB frames) and
 * passes it with SETUP. feed() sends chunks; a reader thread takes FRAME
 * messages, copies (converting to the element's format) the frame out of its
 * slot, releases the slot and hands the buffer to the element.
 *
 * Timing: READY carries the worker's measured per-window compute (feed of a
 * window to its first frame, from the worker's start-up self-test) and TIMING
 * messages raise it when a session measures more; compute_latency() hands it
 * to the element, which budgets live lookahead and LATENCY with it.
 *
 * Failure: the worker's connection closing, or no answer for worker-timeout
 * seconds while a chunk or the drain is outstanding, is a
 * DITTO_BACKEND_ERROR_WORKER error for this session only.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define _GNU_SOURCE
#include "ditto-backend.h"
#include "ditto-worker-protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (ditto_remote_debug);
#define GST_CAT_DEFAULT ditto_remote_debug

#if G_BYTE_ORDER != G_LITTLE_ENDIAN
#error "the worker protocol carries samples as little-endian floats"
#endif

#define DITTO_REMOTE_SLOTS 4
#define DEFAULT_TIMEOUT_S 30.0
#define POLL_MS 100

typedef struct {
  DittoBackend parent;
  DittoBackendCallbacks cb;

  gint sock;
  gint wake[2];                 /* close() wakes the reader */
  gchar *worker;                /* "worker=0 pid=123", for messages */
  gint timeout_ms;
  guint extra_latency;
  guint64 compute_us;           /* under lock: measured window compute */
  guint chunk_samples;

  guint8 *map;
  gsize map_size, slot_size;
  guint n_slots;
  GstVideoInfo out_info;        /* the session's: format and size asked for */
  /* the frames as the worker writes them now (the reader thread's): slot
   * layout (packed RGB) and buffer layout, at the session size until a FRAME
   * says otherwise */
  GstVideoInfo slot_info, frame_info;
  GstVideoConverter *converter; /* NULL when the element renders RGB */

  GThread *reader;
  GMutex send_lock;             /* feed (streaming thread) vs reader vs reset */

  GMutex lock;
  GCond cond;
  guint32 epoch;
  guint outstanding;            /* chunks sent, not acknowledged */
  gboolean last_sent, drain_pending, drained;
  gboolean reported;            /* an error went (or goes) to the element */
  gboolean failed;              /* ... and the element has it: stop */
  gboolean closing;
  gint64 last_activity;         /* monotonic µs of the last worker message */
  guint64 frames, copy_us;      /* transfer cost, for the debug log */
} DittoRemote;

static void
debug_init (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (ditto_remote_debug, "dittoremote", 0,
        "ditto backend: the Ditto model in a worker process");
    g_once_init_leave (&done, 1);
  }
}

/* Reports err (taken) to the element once; later failures are dropped. */
static void
remote_fail (DittoRemote * self, GError * err)
{
  gboolean first;

  g_mutex_lock (&self->lock);
  first = !self->reported && !self->closing;
  self->reported = TRUE;
  g_mutex_unlock (&self->lock);
  /* the element hears of it before drain() returns, so it never mistakes
   * the failure for a short stream */
  if (first) {
    GST_ERROR ("%s", err->message);
    self->cb.on_error (err, self->cb.user_data);
  }
  g_error_free (err);
  g_mutex_lock (&self->lock);
  self->failed = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static GError *
error_from_msg (const DittoMsg * msg)
{
  guint32 code = ditto_msg_u32 (msg, 0);
  gchar *text = msg->body_len > 4 ? g_strndup ((const gchar *) msg->body + 4,
      msg->body_len - 4) : g_strdup ("unknown error");
  GError *err;

  if (code > DITTO_BACKEND_ERROR_UNAVAILABLE)
    code = DITTO_BACKEND_ERROR_FAILED;
  err = g_error_new_literal (DITTO_BACKEND_ERROR, code, text);
  g_free (text);
  return err;
}

static gboolean
send_msg (DittoRemote * self, guint32 type, const void *body, gsize len,
    GError ** error)
{
  gboolean ok;

  g_mutex_lock (&self->send_lock);
  ok = ditto_msg_send (self->sock, type, body, len, -1, self->timeout_ms,
      error);
  g_mutex_unlock (&self->send_lock);
  return ok;
}

/* ------------------------------------------------------------------ */
/* reader thread */

/* The layout of frames of width x height; FALSE when the slots cannot
 * hold them or they cannot be converted to the session's format. */
static gboolean
set_frame_size (DittoRemote * self, gint width, gint height)
{
  GstVideoFormat fmt = GST_VIDEO_INFO_FORMAT (&self->out_info);

  if (width < 1 || height < 1 || (gsize) width * height * 3 > self->slot_size)
    return FALSE;
  gst_video_info_set_format (&self->slot_info, GST_VIDEO_FORMAT_RGB, width,
      height);
  /* tightly packed, as numpy writes it */
  self->slot_info.stride[0] = width * 3;
  self->slot_info.size = (gsize) width * height * 3;
  gst_video_info_set_format (&self->frame_info, fmt, width, height);
  self->slot_info.fps_n = self->frame_info.fps_n = self->out_info.fps_n;
  self->slot_info.fps_d = self->frame_info.fps_d = self->out_info.fps_d;
  if (self->converter)
    gst_video_converter_free (self->converter);
  self->converter = NULL;
  if (fmt != GST_VIDEO_FORMAT_RGB) {
    self->converter = gst_video_converter_new (&self->slot_info,
        &self->frame_info, NULL);
    if (self->converter == NULL)
      return FALSE;
  }
  return TRUE;
}

static void
handle_frame (DittoRemote * self, const DittoMsg * msg)
{
  guint64 index = ditto_msg_u64 (msg, 0);
  guint32 slot = ditto_msg_u32 (msg, 8), epoch = ditto_msg_u32 (msg, 12);
  guint32 le_slot = GUINT32_TO_LE (slot);
  /* the size the worker rendered at; older workers: the session's */
  gint width = msg->body_len >= 24 ? (gint) ditto_msg_u32 (msg, 16) :
      GST_VIDEO_INFO_WIDTH (&self->out_info);
  gint height = msg->body_len >= 24 ? (gint) ditto_msg_u32 (msg, 20) :
      GST_VIDEO_INFO_HEIGHT (&self->out_info);
  const GstVideoInfo *info = &self->frame_info;
  GstBuffer *out = NULL;
  gboolean wanted;
  GError *err = NULL;
  gint64 t0;

  if (slot >= self->n_slots) {
    remote_fail (self, g_error_new (DITTO_BACKEND_ERROR,
            DITTO_BACKEND_ERROR_WORKER, "the Ditto worker (%s) sent frame %"
            G_GUINT64_FORMAT " in slot %u of %u", self->worker, index, slot,
            self->n_slots));
    return;
  }
  if ((width != GST_VIDEO_INFO_WIDTH (info)
          || height != GST_VIDEO_INFO_HEIGHT (info))
      && !set_frame_size (self, width, height)) {
    remote_fail (self, g_error_new (DITTO_BACKEND_ERROR,
            DITTO_BACKEND_ERROR_WORKER, "the Ditto worker (%s) sent frame %"
            G_GUINT64_FORMAT " at %dx%d, which its %zu-byte slot cannot hold",
            self->worker, index, width, height, self->slot_size));
    return;
  }
  g_mutex_lock (&self->lock);
  wanted = epoch == self->epoch && !self->failed && !self->closing;
  g_mutex_unlock (&self->lock);

  if (wanted) {
    const guint8 *src = self->map + slot * self->slot_size;
    t0 = g_get_monotonic_time ();
    out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info), NULL);
    if (self->converter) {
      GstBuffer *in = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
          (gpointer) src, GST_VIDEO_INFO_SIZE (&self->slot_info), 0,
          GST_VIDEO_INFO_SIZE (&self->slot_info), NULL, NULL);
      GstVideoFrame sf, df;
      if (gst_video_frame_map (&sf, &self->slot_info, in, GST_MAP_READ)) {
        if (gst_video_frame_map (&df, info, out, GST_MAP_WRITE)) {
          gst_video_converter_frame (self->converter, &sf, &df);
          gst_video_frame_unmap (&df);
        }
        gst_video_frame_unmap (&sf);
      }
      gst_buffer_unref (in);
    } else {
      GstVideoFrame df;
      gint y, w = GST_VIDEO_INFO_WIDTH (info) * 3;
      if (gst_video_frame_map (&df, info, out, GST_MAP_WRITE)) {
        guint8 *d = GST_VIDEO_FRAME_PLANE_DATA (&df, 0);
        gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&df, 0);
        for (y = 0; y < GST_VIDEO_INFO_HEIGHT (info); y++)
          memcpy (d + y * stride, src + (gsize) y * w, w);
        gst_video_frame_unmap (&df);
      }
    }
    /* the element takes its caps from this, not from what it asked for */
    gst_buffer_add_video_meta_full (out, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (info), GST_VIDEO_INFO_WIDTH (info),
        GST_VIDEO_INFO_HEIGHT (info), GST_VIDEO_INFO_N_PLANES (info),
        (gsize *) info->offset, (gint *) info->stride);
    self->copy_us += g_get_monotonic_time () - t0;
    self->frames++;
  }
  /* the slot is free again as soon as the frame is copied out */
  if (!send_msg (self, DITTO_MSG_RELEASE, &le_slot, 4, &err)) {
    GST_DEBUG ("release failed: %s", err->message);
    g_clear_error (&err);
  }
  if (out) {
    GST_LOG ("frame %" G_GUINT64_FORMAT " from slot %u", index, slot);
    self->cb.on_frame (index, out, self->cb.user_data);
  }
}

static gpointer
reader_func (gpointer data)
{
  DittoRemote *self = data;

  for (;;) {
    struct pollfd p[2] = { {self->sock, POLLIN, 0}, {self->wake[0], POLLIN, 0} };
    DittoMsg msg;
    GError *err = NULL;
    gint r;

    r = poll (p, 2, POLL_MS);
    if (r < 0 && errno != EINTR)
      break;
    if (p[1].revents)
      break;
    if (r <= 0) {
      /* a hang: something outstanding and no word for timeout_ms */
      gboolean hung;
      g_mutex_lock (&self->lock);
      hung = !self->failed && !self->closing
          && (self->outstanding > 0 || self->drain_pending)
          && g_get_monotonic_time () - self->last_activity >
          (gint64) self->timeout_ms * 1000;
      g_mutex_unlock (&self->lock);
      if (hung) {
        remote_fail (self, g_error_new (DITTO_BACKEND_ERROR,
                DITTO_BACKEND_ERROR_WORKER,
                "the Ditto worker (%s) stopped answering: nothing for %.1f s "
                "with work outstanding", self->worker,
                self->timeout_ms / 1000.0));
        shutdown (self->sock, SHUT_RDWR);
      }
      continue;
    }

    r = ditto_msg_recv (self->sock, &msg, 0, &err);
    if (r <= 0) {
      gboolean closing;
      g_mutex_lock (&self->lock);
      closing = self->closing;
      g_mutex_unlock (&self->lock);
      if (!closing)
        remote_fail (self, g_error_new (DITTO_BACKEND_ERROR,
                DITTO_BACKEND_ERROR_WORKER,
                "the Ditto worker (%s) went away mid-session (%s); the model "
                "process crashed or was killed", self->worker,
                r == 0 ? "connection closed" : err->message));
      g_clear_error (&err);
      break;
    }

    g_mutex_lock (&self->lock);
    self->last_activity = g_get_monotonic_time ();
    g_mutex_unlock (&self->lock);

    switch (msg.type) {
      case DITTO_MSG_FRAME:
        handle_frame (self, &msg);
        break;
      case DITTO_MSG_CHUNK_DONE:
        g_mutex_lock (&self->lock);
        if (ditto_msg_u32 (&msg, 8) == self->epoch && self->outstanding > 0)
          self->outstanding--;
        g_mutex_unlock (&self->lock);
        break;
      case DITTO_MSG_DRAINED:
        g_mutex_lock (&self->lock);
        if (ditto_msg_u32 (&msg, 8) == self->epoch) {
          self->drained = TRUE;
          self->drain_pending = FALSE;
          g_cond_broadcast (&self->cond);
        }
        g_mutex_unlock (&self->lock);
        GST_INFO ("drained after %" G_GUINT64_FORMAT " frames; copy-out %.3f "
            "ms per frame", ditto_msg_u64 (&msg, 0), self->frames ?
            self->copy_us / 1000.0 / self->frames : 0.0);
        break;
      case DITTO_MSG_ERROR:
        remote_fail (self, error_from_msg (&msg));
        break;
      case DITTO_MSG_TIMING:
        if (msg.body_len >= 4) {
          guint64 us = ditto_msg_u32 (&msg, 0);
          g_mutex_lock (&self->lock);
          if (us > self->compute_us)
            self->compute_us = us;
          g_mutex_unlock (&self->lock);
          GST_INFO ("%s measured %.1f ms of window compute", self->worker,
              us / 1000.0);
        }
        break;
      case DITTO_MSG_WARNING:{
        gchar *text = g_strndup ((const gchar *) msg.body, msg.body_len);
        GST_WARNING ("%s", text);
        if (self->cb.on_warning)
          self->cb.on_warning (text, self->cb.user_data);
        g_free (text);
        break;
      }
      default:
        GST_WARNING ("unexpected message %u from the worker", msg.type);
        break;
    }
    ditto_msg_clear (&msg);
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* open */

/* Waits for `want`; forwards warnings; ERROR and end of stream become errors. */
static gboolean
wait_for (DittoRemote * self, guint32 want, DittoMsg * out, GError ** error)
{
  for (;;) {
    GError *err = NULL;
    gint r = ditto_msg_recv (self->sock, out, self->timeout_ms, &err);
    if (r < 0) {
      g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_WORKER,
          "the Ditto worker (%s) did not answer: %s", self->worker,
          err->message);
      g_error_free (err);
      return FALSE;
    }
    if (r == 0) {
      g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_WORKER,
          "the Ditto worker (%s) closed the connection during setup; the "
          "model process crashed or was killed", self->worker);
      return FALSE;
    }
    if (out->type == want)
      return TRUE;
    if (out->type == DITTO_MSG_ERROR) {
      g_propagate_error (error, error_from_msg (out));
      ditto_msg_clear (out);
      return FALSE;
    }
    if (out->type == DITTO_MSG_WARNING && self->cb.on_warning) {
      gchar *text = g_strndup ((const gchar *) out->body, out->body_len);
      self->cb.on_warning (text, self->cb.user_data);
      g_free (text);
    }
    ditto_msg_clear (out);
  }
}

static gboolean
make_frame_memory (DittoRemote * self, gint * fd_out, GError ** error)
{
  gint w = GST_VIDEO_INFO_WIDTH (&self->out_info);
  gint h = GST_VIDEO_INFO_HEIGHT (&self->out_info);
  gint fd;

  self->slot_size = ((gsize) w * h * 3 + 4095) & ~(gsize) 4095;
  self->n_slots = DITTO_REMOTE_SLOTS;
  self->map_size = self->slot_size * self->n_slots;

  fd = memfd_create ("ditto-frames", MFD_CLOEXEC);
  if (fd < 0 || ftruncate (fd, self->map_size) < 0) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_FAILED,
        "cannot create %zu bytes of frame memory: %s", self->map_size,
        g_strerror (errno));
    if (fd >= 0)
      close (fd);
    return FALSE;
  }
  self->map = mmap (NULL, self->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
      fd, 0);
  if (self->map == MAP_FAILED) {
    self->map = NULL;
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_FAILED,
        "cannot map the frame memory: %s", g_strerror (errno));
    close (fd);
    return FALSE;
  }
  *fd_out = fd;
  return TRUE;
}

static void remote_close (DittoBackend * backend);

static DittoBackend *
remote_open (const DittoBackendConfig * config,
    const DittoBackendCallbacks * callbacks, GError ** error)
{
  DittoRemote *self;
  const gchar *path = config->worker_socket;
  const gchar *ticket = config->worker_ticket ? config->worker_ticket : "";
  gchar *source = NULL;
  GString *setup;
  DittoMsg msg;
  GError *err = NULL;
  gint fd = -1;
  gboolean ok;

  debug_init ();
  if (path == NULL || *path == '\0')
    path = g_getenv ("DITTO_WORKER_SOCKET");
  if (path == NULL || *path == '\0') {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_UNAVAILABLE,
        "no worker: set worker-socket to the Ditto worker pool's socket (or "
        "DITTO_WORKER_SOCKET); start the pool with `python3 -m "
        "ditto_worker.pool --socket PATH --model-dir DIR` (docker/README.md)");
    return NULL;
  }
  if (config->source_path == NULL || strchr (config->source_path, '\n')) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_SETTINGS,
        "the ditto backend needs the portrait's file path (without newlines)");
    return NULL;
  }

  self = g_new0 (DittoRemote, 1);
  self->parent.klass = &ditto_backend_ditto;
  self->cb = *callbacks;
  self->sock = -1;
  self->wake[0] = self->wake[1] = -1;
  self->out_info = config->out_info;
  self->worker = g_strdup ("not assigned");
  self->timeout_ms = (gint) ((config->worker_timeout > 0 ?
          config->worker_timeout : DEFAULT_TIMEOUT_S) * 1000);
  self->chunk_samples = (config->chunk_past + config->chunk_current +
      config->chunk_future) * DITTO_SAMPLES_PER_FRAME;
  g_mutex_init (&self->lock);
  g_mutex_init (&self->send_lock);
  g_cond_init (&self->cond);

  self->sock = ditto_msg_connect (path, &err);
  if (self->sock < 0) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_UNAVAILABLE,
        "cannot reach the Ditto worker pool: %s", err->message);
    g_clear_error (&err);
    goto fail;
  }
  if (!ditto_msg_send (self->sock, DITTO_MSG_CHECKOUT, ticket, strlen (ticket),
          -1, self->timeout_ms, &err)) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_UNAVAILABLE,
        "cannot ask %s for a worker: %s", path, err->message);
    g_clear_error (&err);
    goto fail;
  }
  if (!wait_for (self, DITTO_MSG_ASSIGNED, &msg, error))
    goto fail;
  g_free (self->worker);
  self->worker = g_strndup ((const gchar *) msg.body, msg.body_len);
  ditto_msg_clear (&msg);
  GST_INFO ("assigned %s by %s", self->worker, path);

  if (!make_frame_memory (self, &fd, error))
    goto fail;

  source = g_path_is_absolute (config->source_path) ?
      g_strdup (config->source_path) :
      g_canonicalize_filename (config->source_path, NULL);
  setup = g_string_new (NULL);
  g_string_append_printf (setup, "source_path=%s\nwidth=%d\nheight=%d\n"
      "slots=%u\nslot_size=%zu\nchunk=%u,%u,%u\nsampling_timesteps=%u\n"
      "overlap_v2=%u\nseed=%u\n", source,
      GST_VIDEO_INFO_WIDTH (&self->out_info),
      GST_VIDEO_INFO_HEIGHT (&self->out_info), self->n_slots, self->slot_size,
      config->chunk_past, config->chunk_current, config->chunk_future,
      config->sampling_timesteps, config->overlap_v2, config->seed);
  if (config->face_box[2] > 0)
    g_string_append_printf (setup, "face_box=%d,%d,%d,%d\n",
        config->face_box[0], config->face_box[1], config->face_box[2],
        config->face_box[3]);
  g_free (source);
  ok = ditto_msg_send (self->sock, DITTO_MSG_SETUP, setup->str, setup->len,
      fd, self->timeout_ms, &err);
  g_string_free (setup, TRUE);
  close (fd);                   /* the worker has its own reference now */
  if (!ok) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_WORKER,
        "cannot set up the Ditto worker (%s): %s", self->worker, err->message);
    g_clear_error (&err);
    goto fail;
  }
  if (!wait_for (self, DITTO_MSG_READY, &msg, error))
    goto fail;
  self->extra_latency = ditto_msg_u32 (&msg, 0);
  if (msg.body_len >= 28)       /* older workers send no compute figure */
    self->compute_us = ditto_msg_u32 (&msg, 24);
  if (ditto_msg_u32 (&msg, 4) && self->cb.on_face) {
    gint box[4];
    guint i;
    for (i = 0; i < 4; i++)
      box[i] = (gint) ditto_msg_u32 (&msg, 8 + 4 * i);
    self->cb.on_face (box, FALSE, self->cb.user_data);
  }
  ditto_msg_clear (&msg);

  if (!set_frame_size (self, GST_VIDEO_INFO_WIDTH (&self->out_info),
          GST_VIDEO_INFO_HEIGHT (&self->out_info))) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_SETTINGS,
        "cannot convert RGB frames to %s",
        gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&self->out_info)));
    goto fail;
  }
  if (pipe2 (self->wake, O_CLOEXEC) < 0) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_FAILED,
        "pipe: %s", g_strerror (errno));
    goto fail;
  }
  self->last_activity = g_get_monotonic_time ();
  self->reader = g_thread_new ("dittoremote", reader_func, self);
  GST_INFO ("session on %s: %dx%d %s, extra latency %u frames, window "
      "compute %.1f ms", self->worker, GST_VIDEO_INFO_WIDTH (&self->out_info),
      GST_VIDEO_INFO_HEIGHT (&self->out_info),
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&self->out_info)),
      self->extra_latency, self->compute_us / 1000.0);
  return &self->parent;

fail:
  remote_close (&self->parent);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* streaming */

static guint
remote_extra_latency_frames (DittoBackend * backend)
{
  return ((DittoRemote *) backend)->extra_latency;
}

static GstClockTime
remote_compute_latency (DittoBackend * backend)
{
  DittoRemote *self = (DittoRemote *) backend;
  guint64 us;

  g_mutex_lock (&self->lock);
  us = self->compute_us;
  g_mutex_unlock (&self->lock);
  return us * GST_USECOND;
}

static gboolean
remote_feed (DittoBackend * backend, const DittoChunk * chunk, GError ** error)
{
  DittoRemote *self = (DittoRemote *) backend;
  gsize len = 24 + (gsize) self->chunk_samples * 4;
  guint8 *body;
  guint64 first = GUINT64_TO_LE (chunk->first_frame);
  guint32 head[4] = { GUINT32_TO_LE (chunk->n_current),
    GUINT32_TO_LE (chunk->n_real_future), GUINT32_TO_LE (chunk->is_last ? 1 : 0),
    GUINT32_TO_LE (self->chunk_samples)
  };
  GError *err = NULL;
  gboolean ok;

  g_mutex_lock (&self->lock);
  if (self->failed) {
    /* already reported through on_error; the element is stopping */
    g_mutex_unlock (&self->lock);
    return TRUE;
  }
  if (self->outstanding++ == 0)
    self->last_activity = g_get_monotonic_time ();
  if (chunk->is_last)
    self->last_sent = TRUE;
  g_mutex_unlock (&self->lock);

  body = g_malloc (len);
  memcpy (body, &first, 8);
  memcpy (body + 8, head, 16);
  memcpy (body + 24, chunk->samples, (gsize) self->chunk_samples * 4);
  ok = send_msg (self, DITTO_MSG_CHUNK, body, len, &err);
  g_free (body);
  if (!ok) {
    gboolean first_failure;
    g_mutex_lock (&self->lock);
    first_failure = !self->reported;
    self->reported = self->failed = TRUE;
    g_mutex_unlock (&self->lock);
    if (first_failure)
      g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_WORKER,
          "cannot send audio to the Ditto worker (%s): %s", self->worker,
          err->message);
    g_clear_error (&err);
    return !first_failure;
  }
  return TRUE;
}

static gboolean
remote_drain (DittoBackend * backend, GError ** error)
{
  DittoRemote *self = (DittoRemote *) backend;
  gboolean need_drain;
  GError *err = NULL;

  g_mutex_lock (&self->lock);
  if (self->failed) {
    g_mutex_unlock (&self->lock);
    return TRUE;
  }
  need_drain = !self->last_sent && !self->drain_pending && !self->drained;
  if (!self->drained) {
    if (self->outstanding == 0 && !self->drain_pending)
      self->last_activity = g_get_monotonic_time ();
    self->drain_pending = TRUE;
  }
  g_mutex_unlock (&self->lock);

  if (need_drain && !send_msg (self, DITTO_MSG_DRAIN, NULL, 0, &err)) {
    gboolean first;
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_WORKER,
        "cannot reach the Ditto worker (%s): %s", self->worker, err->message);
    g_clear_error (&err);
    g_mutex_lock (&self->lock);
    first = !self->reported;
    self->reported = self->failed = TRUE;
    g_mutex_unlock (&self->lock);
    return !first;
  }

  /* the reader thread enforces the timeout and reports failures */
  g_mutex_lock (&self->lock);
  while (!self->drained && !self->failed && !self->closing)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
remote_reset (DittoBackend * backend)
{
  DittoRemote *self = (DittoRemote *) backend;
  guint32 epoch;
  GError *err = NULL;

  g_mutex_lock (&self->lock);
  epoch = ++self->epoch;
  self->outstanding = 0;
  self->last_sent = self->drain_pending = self->drained = FALSE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  epoch = GUINT32_TO_LE (epoch);
  if (!send_msg (self, DITTO_MSG_RESET, &epoch, 4, &err)) {
    GST_WARNING ("reset: %s", err->message);
    g_clear_error (&err);
  }
}

static void
remote_close (DittoBackend * backend)
{
  DittoRemote *self = (DittoRemote *) backend;

  if (self == NULL)
    return;
  g_mutex_lock (&self->lock);
  self->closing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  if (self->sock >= 0) {
    GError *err = NULL;
    if (!ditto_msg_send (self->sock, DITTO_MSG_CLOSE, NULL, 0, -1, 1000, &err))
      g_clear_error (&err);
    shutdown (self->sock, SHUT_RDWR);
  }
  if (self->reader) {
    if (write (self->wake[1], "x", 1) < 0)
      GST_DEBUG ("wake: %s", g_strerror (errno));
    g_thread_join (self->reader);
  }
  if (self->frames)
    GST_INFO ("%" G_GUINT64_FORMAT " frames, copy-out %.3f ms per frame",
        self->frames, self->copy_us / 1000.0 / self->frames);
  if (self->sock >= 0)
    close (self->sock);
  if (self->wake[0] >= 0)
    close (self->wake[0]);
  if (self->wake[1] >= 0)
    close (self->wake[1]);
  if (self->map)
    munmap (self->map, self->map_size);
  if (self->converter)
    gst_video_converter_free (self->converter);
  g_free (self->worker);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->send_lock);
  g_cond_clear (&self->cond);
  g_free (self);
}

const DittoBackendClass ditto_backend_ditto = {
  .name = "ditto",
  .description = "The Ditto model (antgroup/ditto-talkinghead, online mode, "
      "TensorRT) in a worker process from the pool at worker-socket",
  .open = remote_open,
  .extra_latency_frames = remote_extra_latency_frames,
  .feed = remote_feed,
  .drain = remote_drain,
  .reset = remote_reset,
  .close = remote_close,
  .compute_latency = remote_compute_latency,
};
