/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The animation backend interface of the dittotalkinghead element.
 *
 * The element owns all streaming logic: it slices the 16 kHz mono audio into
 * chunks of (past, current, future) frames of 640 samples, feeds one chunk at a
 * time, numbers frames, timestamps them and keeps audio and video in lockstep.
 * A backend only turns chunks into frames. Frames may come back on any thread
 * and with any delay (the out-of-process Ditto model answers asynchronously),
 * but always in order and exactly one per "current" frame fed, frame k showing
 * audio samples [k*640, (k+1)*640).
 */
#ifndef __DITTO_BACKEND_H__
#define __DITTO_BACKEND_H__

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

#define DITTO_SAMPLE_RATE 16000
#define DITTO_FPS 25
#define DITTO_SAMPLES_PER_FRAME (DITTO_SAMPLE_RATE / DITTO_FPS)       /* 640 */

#define DITTO_BACKEND_ERROR (ditto_backend_error_quark ())
GQuark ditto_backend_error_quark (void);

typedef enum {
  DITTO_BACKEND_ERROR_FAILED,        /* anything else */
  DITTO_BACKEND_ERROR_NO_FACE,       /* the portrait has no usable face */
  DITTO_BACKEND_ERROR_SETTINGS,      /* a parameter the backend cannot honour */
  DITTO_BACKEND_ERROR_WORKER,        /* the worker process crashed or stopped answering */
  DITTO_BACKEND_ERROR_UNAVAILABLE,   /* backend not installed / no capacity */
} DittoBackendError;

/* Everything a backend needs to open a session. The element keeps the
 * structure and its pixels alive until close(). */
typedef struct {
  /* The portrait exactly as decoded (8-bit RGB, no alpha), before frame-scale. */
  const guint8 *source_rgb;
  gint source_width;
  gint source_height;
  gint source_stride;
  const gchar *source_path;          /* for backends that read the file themselves */

  /* Optional face box override in source pixels (x, y, w, h); w == 0 means detect. */
  gint face_box[4];

  /* Output frames: format (I420, RGB or RGBx) and size (source x frame-scale,
   * even) asked for. A backend that renders at another size (a model with its
   * own resolution) says so in each frame's GstVideoMeta (DittoFrameFunc). */
  GstVideoInfo out_info;

  guint chunk_past, chunk_current, chunk_future;   /* frames */
  guint sampling_timesteps;                       /* 5..100 */
  guint32 seed;                                   /* for idle motion; fixed for reproducible renders */
  const gchar *model_dir;                         /* real-model backends: engines + config; NULL for builtin */

  /* Out-of-process backends ("ditto"); ignored by builtin. Added after the first draft. */
  const gchar *worker_socket;     /* the worker pool's (or a worker's) unix socket; NULL: $DITTO_WORKER_SOCKET */
  const gchar *worker_ticket;     /* a reservation from the pool (RESERVE); NULL or "": any idle worker */
  gdouble worker_timeout;         /* seconds without an answer before the worker counts as hung */
  guint overlap_v2;               /* LMDM window overlap (40..79 online); 0: the model config's value */
} DittoBackendConfig;

/* One chunk: (past + current + future) * 640 samples, F32 in [-1, 1].
 * samples[past * 640] is the first sample of frame first_frame. Past samples
 * before the stream start and future samples beyond the end (or not yet
 * arrived, in live mode) are zeros; n_real_future says how many future
 * frames hold real audio, so a backend can tell silence padding from speech. */
typedef struct {
  const gfloat *samples;
  guint64 first_frame;     /* index of the first "current" frame */
  guint n_current;         /* frames to produce for this chunk (== chunk_current except at the end) */
  guint n_real_future;     /* future frames that hold real input audio */
  gboolean is_last;        /* end of stream: no more chunks follow */
} DittoChunk;

/* A finished frame. buffer: transfer full, a video frame; with a GstVideoMeta
 * its format, size and layout are the meta's (the element renegotiates its
 * caps to what is rendered, converting only when downstream refuses it),
 * without one they are out_info's. */
typedef void (*DittoFrameFunc) (guint64 frame_index, GstBuffer * buffer, gpointer user_data);
/* A fatal error after open(); the element posts it and stops. May be called from any thread. */
typedef void (*DittoErrorFunc) (const GError * error, gpointer user_data);
/* A non-fatal notice the element posts as a GStreamer warning (e.g. "no face found, using a centred default"). */
typedef void (*DittoWarningFunc) (const gchar * message, gpointer user_data);

/* Where the face is, in source pixels (x, y, w, h); fallback is TRUE when no
 * face was found and a centred default is used. Optional: call it once from
 * open() when the pointer is not NULL (the element posts it as "ditto-face"). */
typedef void (*DittoFaceFunc) (const gint box[4], gboolean fallback, gpointer user_data);

typedef struct {
  DittoFrameFunc on_frame;
  DittoErrorFunc on_error;
  DittoWarningFunc on_warning;
  gpointer user_data;
  DittoFaceFunc on_face;             /* may be NULL; added after the first draft */
} DittoBackendCallbacks;

typedef struct _DittoBackend DittoBackend;

typedef struct {
  const gchar *name;                 /* value of the element's "backend" property */
  const gchar *description;

  /* Prepare a session. May block (loading engines, face detection). */
  DittoBackend *(*open) (const DittoBackendConfig * config,
      const DittoBackendCallbacks * callbacks, GError ** error);

  /* Frames produced before the first frame of a chunk can come out, beyond
   * the chunk's own lookahead: the model's extra algorithmic latency. */
  guint (*extra_latency_frames) (DittoBackend * backend);

  /* Feed one chunk. Frames may be delivered from inside this call or later. */
  gboolean (*feed) (DittoBackend * backend, const DittoChunk * chunk, GError ** error);

  /* Block until every frame fed so far has been delivered (end of stream). */
  gboolean (*drain) (DittoBackend * backend, GError ** error);

  /* Drop everything queued and return to idle (flush / interrupt). */
  void (*reset) (DittoBackend * backend);

  /* Free everything; never fails, safe after an error. */
  void (*close) (DittoBackend * backend);

  /* Wall time the backend needs to turn one fed chunk into its first frame
   * (measured where the backend can, e.g. the worker's per-window compute).
   * Live mode adds it to the lookahead it waits for and to the LATENCY it
   * reports, so a slow model still meets its deadlines. May be NULL; 0 or
   * GST_CLOCK_TIME_NONE: negligible. May change after open() as the backend
   * measures; the element re-reads it and posts a latency message on growth. */
  GstClockTime (*compute_latency) (DittoBackend * backend);
} DittoBackendClass;

struct _DittoBackend {
  const DittoBackendClass *klass;
};

/* Registry: builtin is always there; others register at plugin load. */
const DittoBackendClass *ditto_backend_lookup (const gchar * name);
const DittoBackendClass *const *ditto_backend_list (void);
/* Add a backend by name; call from plugin_init only (not thread-safe).
 * FALSE when the name is taken by another class or the registry is full. */
gboolean ditto_backend_register (const DittoBackendClass * klass);

/* The built-in CPU animator (ditto-backend-builtin.c). */
extern const DittoBackendClass ditto_backend_builtin;

#ifdef DITTO_HAVE_REMOTE_BACKEND
/* The Ditto model in a worker process (ditto-backend-ditto.c). */
extern const DittoBackendClass ditto_backend_ditto;
#endif

G_END_DECLS

#endif /* __DITTO_BACKEND_H__ */
