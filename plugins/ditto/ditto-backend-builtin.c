/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The "builtin" backend: the CPU animator of animator/, synchronous. Every
 * frame of a chunk is rendered and handed to on_frame from inside feed(),
 * in order, so drain() has nothing left to wait for.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ditto-backend.h"
#include "animator/ditto-animator.h"

GST_DEBUG_CATEGORY_STATIC (ditto_builtin_debug);
#define GST_CAT_DEFAULT ditto_builtin_debug

typedef struct {
  DittoBackend parent;
  DittoAnimator *animator;
  DittoBackendCallbacks callbacks;
  /* feed() and reset() may come from different threads (streaming vs.
   * flush); reset() raises `cancel` so a running feed() stops early. */
  GMutex lock;
  gint cancel;
} DittoBuiltin;

static void
debug_init (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (ditto_builtin_debug, "dittobuiltin", 0,
        "ditto built-in CPU animator");
    g_once_init_leave (&done, 1);
  }
}

static DittoBackend *
builtin_open (const DittoBackendConfig * config,
    const DittoBackendCallbacks * callbacks, GError ** error)
{
  debug_init ();
  gchar *warning = NULL;
  DittoAnimator *animator = ditto_animator_new (config, &warning, error);
  if (!animator)
    return NULL;

  DittoBuiltin *self = g_new0 (DittoBuiltin, 1);
  self->parent.klass = &ditto_backend_builtin;
  self->animator = animator;
  self->callbacks = *callbacks;
  g_mutex_init (&self->lock);

  const DittoFaceLayout *l = ditto_animator_get_layout (animator);
  static const char *const sources[] = { "default", "dlib", "haar", "face-box",
    "template"
  };
  GST_INFO ("face %s (%s) at %.0f,%.0f %.0fx%.0f; eyes %.0f,%.0f %.0f,%.0f; "
      "mouth %.0f,%.0f half-width %.0f",
      l->detected ? "found" : "defaulted", sources[l->source], l->face_x,
      l->face_y, l->face_w,
      l->face_h, l->eye_x[0], l->eye_y[0], l->eye_x[1], l->eye_y[1],
      l->mouth_x, l->mouth_y, l->mouth_half_w);
  if (self->callbacks.on_face) {
    const DittoFaceLayout *s = ditto_animator_get_source_layout (animator);
    gint box[4] = { (gint) (s->face_x + 0.5f), (gint) (s->face_y + 0.5f),
      (gint) (s->face_w + 0.5f), (gint) (s->face_h + 0.5f)
    };
    self->callbacks.on_face (box, !s->detected, self->callbacks.user_data);
  }
  if (warning) {
    GST_WARNING ("%s", warning);
    if (self->callbacks.on_warning)
      self->callbacks.on_warning (warning, self->callbacks.user_data);
    g_free (warning);
  }
  return &self->parent;
}

static guint
builtin_extra_latency_frames (DittoBackend * backend)
{
  return 0;                     /* synchronous: frames come out during feed() */
}

static gboolean
builtin_feed (DittoBackend * backend, const DittoChunk * chunk, GError ** error)
{
  DittoBuiltin *self = (DittoBuiltin *) backend;
  if (chunk->n_current == 0)
    return TRUE;

  g_mutex_lock (&self->lock);
  DittoMotion *motion = g_new (DittoMotion, chunk->n_current);
  ditto_animator_motion (self->animator, chunk, motion);
  gboolean ok = TRUE;
  for (guint k = 0; k < chunk->n_current; k++) {
    if (g_atomic_int_get (&self->cancel))
      break;
    GstBuffer *buf = ditto_animator_render (self->animator, &motion[k]);
    if (!buf) {
      g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_FAILED,
          "cannot allocate a video frame");
      ok = FALSE;
      break;
    }
    GST_LOG ("frame %" G_GUINT64_FORMAT ": jaw %.2f spread %.2f blink %.2f",
        chunk->first_frame + k, motion[k].jaw, motion[k].spread,
        motion[k].blink);
    self->callbacks.on_frame (chunk->first_frame + k, buf,
        self->callbacks.user_data);
  }
  g_free (motion);
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
builtin_drain (DittoBackend * backend, GError ** error)
{
  return TRUE;                  /* every frame left during feed() */
}

static void
builtin_reset (DittoBackend * backend)
{
  DittoBuiltin *self = (DittoBuiltin *) backend;
  g_atomic_int_set (&self->cancel, 1);
  g_mutex_lock (&self->lock);
  ditto_animator_reset (self->animator);
  g_atomic_int_set (&self->cancel, 0);
  g_mutex_unlock (&self->lock);
}

static void
builtin_close (DittoBackend * backend)
{
  DittoBuiltin *self = (DittoBuiltin *) backend;
  if (!self)
    return;
  g_mutex_lock (&self->lock);
  ditto_animator_free (self->animator);
  self->animator = NULL;
  g_mutex_unlock (&self->lock);
  g_mutex_clear (&self->lock);
  g_free (self);
}

const DittoBackendClass ditto_backend_builtin = {
  .name = "builtin",
  .description = "CPU animator: dlib face landmarks, audio-driven jaw, "
      "lips, eyes, brows and head motion by a piecewise-affine mesh warp",
  .open = builtin_open,
  .extra_latency_frames = builtin_extra_latency_frames,
  .feed = builtin_feed,
  .drain = builtin_drain,
  .reset = builtin_reset,
  .close = builtin_close,
};
