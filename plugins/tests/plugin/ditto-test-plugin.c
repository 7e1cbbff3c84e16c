/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A test-only plugin (never installed): the real dittotalkinghead element,
 * built from the same sources, plus backends that model what the built-in
 * one cannot, so the element's side of the backend interface can be tested:
 *
 *   backend=slow   the built-in animator behind a fixed compute time per
 *                  chunk ($DITTO_TEST_COMPUTE_MS, default 150), which it
 *                  reports through compute_latency once it has "measured"
 *                  its first chunk, as a real model backend does.
 *   backend=resized the built-in animator rendering at another size than the
 *                  element asks for ($DITTO_TEST_RENDER_SIZE "WxH", default
 *                  half the asked size), as a model with its own resolution
 *                  does.
 *
 * Load it alone (GST_PLUGIN_PATH=build/plugin/tests/plugin): it registers
 * the same element type as libgstditto.so.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>

#include "gstdittotalkinghead.h"
#include "ditto-backend.h"

typedef struct {
  DittoBackend parent;
  DittoBackend *inner;
  gulong compute_us;
  gint measured;             /* atomic: a chunk went through */
} SlowBackend;

static DittoBackend *
slow_open (const DittoBackendConfig * config,
    const DittoBackendCallbacks * callbacks, GError ** error);

static guint
slow_extra_latency_frames (DittoBackend * backend)
{
  SlowBackend *self = (SlowBackend *) backend;
  const DittoBackendClass *k = &ditto_backend_builtin;

  return k->extra_latency_frames ? k->extra_latency_frames (self->inner) : 0;
}

static gboolean
slow_feed (DittoBackend * backend, const DittoChunk * chunk, GError ** error)
{
  SlowBackend *self = (SlowBackend *) backend;

  if (self->compute_us)
    g_usleep (self->compute_us);
  if (!ditto_backend_builtin.feed (self->inner, chunk, error))
    return FALSE;
  g_atomic_int_set (&self->measured, 1);
  return TRUE;
}

static gboolean
slow_drain (DittoBackend * backend, GError ** error)
{
  SlowBackend *self = (SlowBackend *) backend;

  return ditto_backend_builtin.drain (self->inner, error);
}

static void
slow_reset (DittoBackend * backend)
{
  SlowBackend *self = (SlowBackend *) backend;

  ditto_backend_builtin.reset (self->inner);
}

static void
slow_close (DittoBackend * backend)
{
  SlowBackend *self = (SlowBackend *) backend;

  ditto_backend_builtin.close (self->inner);
  g_free (self);
}

static GstClockTime
slow_compute_latency (DittoBackend * backend)
{
  SlowBackend *self = (SlowBackend *) backend;

  return g_atomic_int_get (&self->measured) ?
      (GstClockTime) self->compute_us * GST_USECOND : 0;
}

static const DittoBackendClass slow_backend = {
  .name = "slow",
  .description = "test: the built-in animator behind a fixed compute time",
  .open = slow_open,
  .extra_latency_frames = slow_extra_latency_frames,
  .feed = slow_feed,
  .drain = slow_drain,
  .reset = slow_reset,
  .close = slow_close,
  .compute_latency = slow_compute_latency,
};

static DittoBackend *
slow_open (const DittoBackendConfig * config,
    const DittoBackendCallbacks * callbacks, GError ** error)
{
  const gchar *env = g_getenv ("DITTO_TEST_COMPUTE_MS");
  DittoBackend *inner = ditto_backend_builtin.open (config, callbacks, error);
  SlowBackend *self;

  if (inner == NULL)
    return NULL;
  self = g_new0 (SlowBackend, 1);
  self->parent.klass = &slow_backend;
  self->inner = inner;
  self->compute_us = (gulong) ((env ? atoi (env) : 150) * 1000);
  return &self->parent;
}

static DittoBackend *resized_open (const DittoBackendConfig * config,
    const DittoBackendCallbacks * callbacks, GError ** error);

/* slow's forwarding without the compute time */
static const DittoBackendClass resized_backend = {
  .name = "resized",
  .description = "test: the built-in animator at another size than asked",
  .open = resized_open,
  .extra_latency_frames = slow_extra_latency_frames,
  .feed = slow_feed,
  .drain = slow_drain,
  .reset = slow_reset,
  .close = slow_close,
};

static DittoBackend *
resized_open (const DittoBackendConfig * config,
    const DittoBackendCallbacks * callbacks, GError ** error)
{
  const gchar *env = g_getenv ("DITTO_TEST_RENDER_SIZE");
  DittoBackendConfig inner_config = *config;
  gint width = GST_VIDEO_INFO_WIDTH (&config->out_info) / 4 * 2;
  gint height = GST_VIDEO_INFO_HEIGHT (&config->out_info) / 4 * 2;
  DittoBackend *inner;
  SlowBackend *self;

  if (env && sscanf (env, "%dx%d", &width, &height) != 2) {
    g_set_error (error, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_SETTINGS,
        "DITTO_TEST_RENDER_SIZE is not WxH: %s", env);
    return NULL;
  }
  /* the builtin renders at out_info and says so in each frame's video meta */
  gst_video_info_set_format (&inner_config.out_info,
      GST_VIDEO_INFO_FORMAT (&config->out_info), width, height);
  GST_VIDEO_INFO_FPS_N (&inner_config.out_info) = DITTO_FPS;
  GST_VIDEO_INFO_FPS_D (&inner_config.out_info) = 1;
  inner = ditto_backend_builtin.open (&inner_config, callbacks, error);
  if (inner == NULL)
    return NULL;
  self = g_new0 (SlowBackend, 1);
  self->parent.klass = &resized_backend;
  self->inner = inner;
  return &self->parent;
}

static gboolean
plugin_init (GstPlugin * plugin)
{
  return ditto_backend_register (&slow_backend)
      && ditto_backend_register (&resized_backend)
      && GST_ELEMENT_REGISTER (dittotalkinghead, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, dittotest,
    "dittotalkinghead with test backends (never installed)",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
