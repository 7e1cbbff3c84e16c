/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ditto-animator.h"

#ifndef DITTO_CASCADE_DIR
#define DITTO_CASCADE_DIR "/usr/share/opencv4/haarcascades"
#endif

struct _DittoAnimator {
  DittoMotionState *motion;
  DittoRenderer *renderer;
  DittoFaceLayout source_layout;
  guint past, current, future;
};

/* DITTO_CASCADE_DIR in the environment overrides the build-time directory. */
static const char *
cascade_dir (void)
{
  const char *env = g_getenv ("DITTO_CASCADE_DIR");
  return env && *env ? env : DITTO_CASCADE_DIR;
}

DittoAnimator *
ditto_animator_new (const DittoBackendConfig * config, gchar ** warning,
    GError ** error)
{
  if (warning)
    *warning = NULL;
  if (!config->source_rgb || config->source_width < 1
      || config->source_height < 1) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_SETTINGS,
        "no source image pixels");
    return NULL;
  }
  if (config->chunk_current < 1) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_SETTINGS,
        "chunk needs at least one current frame");
    return NULL;
  }

  DittoFaceLayout layout;
  gchar *note = NULL;
  ditto_face_detect (config->source_rgb, config->source_width,
      config->source_height, config->source_stride, config->face_box,
      cascade_dir (), &layout, &note);

  GError *err = NULL;
  DittoRenderer *renderer = ditto_renderer_new (config->source_rgb,
      config->source_width, config->source_height, config->source_stride,
      &layout, &config->out_info, &err);
  if (!renderer) {
    g_set_error_literal (error, DITTO_BACKEND_ERROR,
        DITTO_BACKEND_ERROR_SETTINGS, err->message);
    g_error_free (err);
    g_free (note);
    return NULL;
  }

  DittoAnimator *a = g_new0 (DittoAnimator, 1);
  a->renderer = renderer;
  a->source_layout = layout;
  a->past = config->chunk_past;
  a->current = config->chunk_current;
  a->future = config->chunk_future;
  a->motion = ditto_motion_new (a->past, a->current, a->future,
      config->sampling_timesteps, config->seed);
  if (warning)
    *warning = note;
  else
    g_free (note);
  return a;
}

void
ditto_animator_free (DittoAnimator * a)
{
  if (!a)
    return;
  ditto_motion_free (a->motion);
  ditto_renderer_free (a->renderer);
  g_free (a);
}

void
ditto_animator_motion (DittoAnimator * a, const DittoChunk * chunk,
    DittoMotion * out)
{
  ditto_motion_chunk (a->motion, chunk->samples, MIN (chunk->n_current,
          a->current), chunk->n_real_future, chunk->is_last, out);
}

GstBuffer *
ditto_animator_render (DittoAnimator * a, const DittoMotion * m)
{
  return ditto_renderer_draw_buffer (a->renderer, m);
}

void
ditto_animator_reset (DittoAnimator * a)
{
  ditto_motion_reset (a->motion);
}

const DittoFaceLayout *
ditto_animator_get_layout (DittoAnimator * a)
{
  return ditto_renderer_get_layout (a->renderer);
}

const DittoFaceLayout *
ditto_animator_get_source_layout (DittoAnimator * a)
{
  return &a->source_layout;
}
