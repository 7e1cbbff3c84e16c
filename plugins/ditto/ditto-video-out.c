/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * dittotalkinghead's video output: the caps it offers, the render format
 * chosen with downstream, renegotiation and conversion.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdittotalkinghead-private.h"

#define GST_CAT_DEFAULT gst_ditto_talking_head_debug

/* Video caps at the size of `info` (any size when `any_size`), its format
 * preferred, then I420, RGB, RGBx. */
GstCaps *
ditto_video_caps (const GstVideoInfo * info, gboolean any_size)
{
  static const GstVideoFormat order[] = { GST_VIDEO_FORMAT_I420,
    GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_RGBx
  };
  GstVideoFormat first = GST_VIDEO_INFO_FORMAT (info);
  GValue list = G_VALUE_INIT, v = G_VALUE_INIT;
  GstCaps *caps;
  guint i;

  g_value_init (&list, GST_TYPE_LIST);
  g_value_init (&v, G_TYPE_STRING);
  if (first != GST_VIDEO_FORMAT_UNKNOWN) {
    g_value_set_string (&v, gst_video_format_to_string (first));
    gst_value_list_append_value (&list, &v);
  }
  for (i = 0; i < G_N_ELEMENTS (order); i++) {
    if (order[i] == first)
      continue;
    g_value_set_string (&v, gst_video_format_to_string (order[i]));
    gst_value_list_append_value (&list, &v);
  }
  if (any_size)
    caps = gst_caps_new_simple ("video/x-raw",
        "width", GST_TYPE_INT_RANGE, 1, G_MAXINT,
        "height", GST_TYPE_INT_RANGE, 1, G_MAXINT, NULL);
  else
    caps = gst_caps_new_simple ("video/x-raw",
        "width", G_TYPE_INT, GST_VIDEO_INFO_WIDTH (info),
        "height", G_TYPE_INT, GST_VIDEO_INFO_HEIGHT (info), NULL);
  gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, DITTO_FPS, 1,
      "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  gst_structure_take_value (gst_caps_get_structure (caps, 0), "format", &list);
  g_value_unset (&v);
  return caps;
}

/* What the backend renders now; the video task changes it when a frame
 * comes at another size, so other threads read it under the object lock. */
void
ditto_video_get_render_info (GstDittoTalkingHead * self, GstVideoInfo * info)
{
  GST_OBJECT_LOCK (self);
  *info = self->render_info;
  GST_OBJECT_UNLOCK (self);
}

/* Downstream's caps for the render format: at the rendered size if it takes
 * that, else at the size it takes nearest to it (frames are scaled). */
static GstCaps *
downstream_caps (GstDittoTalkingHead * self)
{
  GstCaps *filter, *peer;
  GstStructure *s;

  filter = ditto_video_caps (&self->render_info, FALSE);
  peer = gst_pad_peer_query_caps (self->video_srcpad, filter);
  gst_caps_unref (filter);
  if (gst_caps_is_empty (peer)) {
    gst_caps_unref (peer);
    filter = ditto_video_caps (&self->render_info, TRUE);
    peer = gst_pad_peer_query_caps (self->video_srcpad, filter);
    gst_caps_unref (filter);
    if (gst_caps_is_empty (peer)) {
      gst_caps_unref (peer);
      return NULL;
    }
    peer = gst_caps_truncate (peer);
    peer = gst_caps_make_writable (peer);
    s = gst_caps_get_structure (peer, 0);
    gst_structure_fixate_field_nearest_int (s, "width",
        GST_VIDEO_INFO_WIDTH (&self->render_info));
    gst_structure_fixate_field_nearest_int (s, "height",
        GST_VIDEO_INFO_HEIGHT (&self->render_info));
  }
  return gst_caps_fixate (peer);
}

/* At session start: the format to render, downstream's first choice among
 * those the backends render (I420, RGB, RGBx) at the expected size. */
gboolean
ditto_video_choose_render_format (GstDittoTalkingHead * self, gint width,
    gint height)
{
  GstVideoFormat fmt = GST_VIDEO_FORMAT_I420;
  GstCaps *caps;
  const gchar *name;

  gst_video_info_set_format (&self->render_info, fmt, width, height);
  caps = downstream_caps (self);
  if (caps == NULL) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream of the video pad accepts none of I420, RGB or RGBx at "
            "25/1"), ("rendering %dx%d", width, height));
    return FALSE;
  }
  name = gst_structure_get_string (gst_caps_get_structure (caps, 0), "format");
  if (name)
    fmt = gst_video_format_from_string (name);
  if (fmt != GST_VIDEO_FORMAT_I420 && fmt != GST_VIDEO_FORMAT_RGB
      && fmt != GST_VIDEO_FORMAT_RGBx)
    fmt = GST_VIDEO_FORMAT_I420;
  gst_caps_unref (caps);
  gst_video_info_set_format (&self->render_info, fmt, width, height);
  GST_VIDEO_INFO_FPS_N (&self->render_info) = DITTO_FPS;
  GST_VIDEO_INFO_FPS_D (&self->render_info) = 1;
  GST_INFO_OBJECT (self, "rendering %s %dx%d", gst_video_format_to_string (fmt),
      width, height);
  return TRUE;
}

/* After new caps: ask downstream how to allocate, as GstBaseSrc does.
 * Rendered frames go out as the backend made them; converted frames come
 * from the pool decided here (downstream's, or a video pool of our own). */
static GstBufferPool *
decide_allocation (GstDittoTalkingHead * self, GstCaps * caps)
{
  GstQuery *query = gst_query_new_allocation (caps, TRUE);
  GstBufferPool *pool = NULL;
  GstStructure *config;
  guint size = GST_VIDEO_INFO_SIZE (&self->out_info), min = 2, max = 0;

  if (!gst_pad_peer_query (self->video_srcpad, query))
    GST_DEBUG_OBJECT (self, "downstream answered no ALLOCATION query");
  if (self->converter == NULL)
    goto done;

  if (gst_query_get_n_allocation_pools (query) > 0) {
    gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
    size = MAX (size, GST_VIDEO_INFO_SIZE (&self->out_info));
  }
  if (pool == NULL)
    pool = gst_video_buffer_pool_new ();
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  if (gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL))
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config (pool, config)
      || !gst_buffer_pool_set_active (pool, TRUE)) {
    GST_WARNING_OBJECT (self, "cannot use the buffer pool: allocating "
        "converted frames one by one");
    gst_clear_object (&pool);
  }

done:
  gst_query_unref (query);
  return pool;
}

/* The pool of converted frames, replaced on renegotiation. */
void
ditto_video_set_pool (GstDittoTalkingHead * self, GstBufferPool * pool)
{
  if (self->pool) {
    gst_buffer_pool_set_active (self->pool, FALSE);
    gst_object_unref (self->pool);
  }
  self->pool = pool;
}

/* Format and size equal (strides may differ: frames are mapped with their
 * video meta). */
static gboolean
same_frame_format (const GstVideoInfo * a, const GstVideoInfo * b)
{
  return GST_VIDEO_INFO_FORMAT (a) == GST_VIDEO_INFO_FORMAT (b)
      && GST_VIDEO_INFO_WIDTH (a) == GST_VIDEO_INFO_WIDTH (b)
      && GST_VIDEO_INFO_HEIGHT (a) == GST_VIDEO_INFO_HEIGHT (b);
}

/* The layout of a rendered frame: its video meta's, or without one the
 * session's (DittoBackendConfig.out_info). TRUE when it differs from the
 * render format the caps were negotiated for: then the render format
 * becomes the frame's and the caller renegotiates before pushing it. */
gboolean
ditto_video_update_render_info (GstDittoTalkingHead * self, GstBuffer * frame)
{
  GstVideoMeta *meta = gst_buffer_get_video_meta (frame);
  GstVideoInfo info = self->config.out_info;
  guint i;

  if (meta) {
    gst_video_info_set_format (&info, meta->format, meta->width,
        meta->height);
    GST_VIDEO_INFO_FPS_N (&info) = DITTO_FPS;
    GST_VIDEO_INFO_FPS_D (&info) = 1;
    for (i = 0; i < meta->n_planes; i++) {
      info.offset[i] = meta->offset[i];
      info.stride[i] = meta->stride[i];
    }
  }
  if (same_frame_format (&info, &self->render_info))
    return FALSE;
  GST_INFO_OBJECT (self, "the backend renders %s %dx%d now (was %s %dx%d)",
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&info)),
      GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info),
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&self->render_info)),
      GST_VIDEO_INFO_WIDTH (&self->render_info),
      GST_VIDEO_INFO_HEIGHT (&self->render_info));
  GST_OBJECT_LOCK (self);
  self->render_info = info;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* (Re)negotiates the video caps for the render format: the rendered frames
 * go out as they are when downstream takes them, and are converted (format,
 * size) only when it does not. */
gboolean
ditto_video_negotiate (GstDittoTalkingHead * self)
{
  GstCaps *caps;
  GstVideoInfo info;
  gboolean changed;

  caps = downstream_caps (self);
  if (caps == NULL) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream of the video pad accepts none of I420, RGB or RGBx at "
            "25/1"), ("rendering %dx%d", GST_VIDEO_INFO_WIDTH
            (&self->render_info), GST_VIDEO_INFO_HEIGHT (&self->render_info)));
    return FALSE;
  }
  if (!gst_video_info_from_caps (&info, caps)) {
    gst_caps_unref (caps);
    return FALSE;
  }
  changed = !self->video_negotiated || !gst_video_info_is_equal (&info,
      &self->out_info);
  if (self->converter) {
    gst_video_converter_free (self->converter);
    self->converter = NULL;
  }
  if (!same_frame_format (&info, &self->render_info))
    self->converter = gst_video_converter_new (&self->render_info, &info,
        NULL);
  if (changed) {
    GST_INFO_OBJECT (self, "video caps %" GST_PTR_FORMAT, caps);
    self->out_info = info;
    gst_pad_push_event (self->video_srcpad, gst_event_new_caps (caps));
    self->video_negotiated = TRUE;
  }
  if (changed || (self->converter && self->pool == NULL))
    ditto_video_set_pool (self, decide_allocation (self, caps));
  gst_caps_unref (caps);
  return TRUE;
}

GstBuffer *
ditto_video_convert (GstDittoTalkingHead * self, GstBuffer * in)
{
  GstVideoFrame src, dst;
  GstBuffer *out;
  gboolean ok = FALSE;

  if (self->converter == NULL)
    return in;
  out = NULL;
  if (self->pool && gst_buffer_pool_acquire_buffer (self->pool, &out,
          NULL) != GST_FLOW_OK)
    out = NULL;
  if (out == NULL)
    out = gst_buffer_new_allocate (NULL,
        GST_VIDEO_INFO_SIZE (&self->out_info), NULL);
  /* Timestamps and flags only: a video meta describes the rendered layout,
   * not the converted one. */
  gst_buffer_copy_into (out, in, GST_BUFFER_COPY_FLAGS |
      GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  if (gst_video_frame_map (&src, &self->render_info, in, GST_MAP_READ)) {
    if (gst_video_frame_map (&dst, &self->out_info, out, GST_MAP_WRITE)) {
      gst_video_converter_frame (self->converter, &src, &dst);
      gst_video_frame_unmap (&dst);
      ok = TRUE;
    }
    gst_video_frame_unmap (&src);
  }
  gst_buffer_unref (in);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Could not convert a video frame to %s",
            gst_video_format_to_string (GST_VIDEO_INFO_FORMAT
                (&self->out_info))), (NULL));
    gst_buffer_unref (out);
    return NULL;
  }
  return out;
}
