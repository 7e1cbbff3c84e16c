/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * dittotalkinghead's session (READY->PAUSED .. PAUSED->READY): the portrait,
 * the backend and its callbacks.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdittotalkinghead-private.h"

#include <math.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_ditto_talking_head_debug

static gint
scaled_even (gint size, gdouble scale)
{
  gint v = 2 * (gint) floor (size * scale / 2.0 + 0.5);
  return MAX (v, 2);
}

static void
post_face (GstDittoTalkingHead * self)
{
  GstStructure *s;
  const gchar *source;
  const gint *box;

  if (self->config.face_box[2] > 0) {
    source = "override";
    box = self->config.face_box;
  } else if (self->face_known) {
    source = self->face_fallback ? "fallback" : "detected";
    box = self->face;
  } else {
    /* the backend did not say where it found the face */
    source = self->face_warned ? "fallback" : "unreported";
    box = NULL;
  }
  s = gst_structure_new ("ditto-face", "source", G_TYPE_STRING, source,
      "backend", G_TYPE_STRING, self->bclass->name, NULL);
  if (box)
    gst_structure_set (s, "x", G_TYPE_INT, box[0], "y", G_TYPE_INT, box[1],
        "width", G_TYPE_INT, box[2], "height", G_TYPE_INT, box[3], NULL);
  gst_element_post_message (GST_ELEMENT_CAST (self),
      gst_message_new_element (GST_OBJECT_CAST (self), s));
}

static void
on_backend_frame (guint64 frame_index, GstBuffer * buffer, gpointer user_data)
{
  GstDittoTalkingHead *self = user_data;

  g_mutex_lock (&self->lock);
  if (self->flushing || self->fatal) {
    g_mutex_unlock (&self->lock);
    gst_buffer_unref (buffer);
    return;
  }
  if (self->session_mode == GST_DITTO_MODE_LIVE) {
    if (frame_index < self->next_out_frame) {
      /* its slot went by with a repeated frame */
      GST_DEBUG_OBJECT (self, "dropping late frame %" G_GUINT64_FORMAT,
          frame_index);
      gst_buffer_unref (buffer);
    } else {
      buffer = gst_buffer_make_writable (buffer);
      GST_BUFFER_OFFSET (buffer) = frame_index;
      g_queue_push_tail (&self->ready, buffer);
      g_cond_broadcast (&self->cond);
    }
    g_mutex_unlock (&self->lock);
    return;
  }

  if (frame_index != self->next_out_frame) {
    GST_WARNING_OBJECT (self, "backend delivered frame %" G_GUINT64_FORMAT
        ", expected %" G_GUINT64_FORMAT ", dropping it", frame_index,
        self->next_out_frame);
    g_mutex_unlock (&self->lock);
    gst_buffer_unref (buffer);
    return;
  }
  GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT, frame_index);
  /* offline: frame 0 carries the first input sample's timestamp */
  ditto_emit_frame (self, frame_index, buffer,
      (GST_CLOCK_TIME_IS_VALID (self->out_origin) ? self->out_origin : 0) +
      ditto_frame_time (frame_index));
  self->next_out_frame++;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* Called without the lock: the backend failed; post it and stop. */
void
ditto_backend_failed (GstDittoTalkingHead * self, const GError * error)
{
  GST_ELEMENT_ERROR (self, STREAM, FAILED,
      ("Animation backend '%s' failed: %s", self->bclass->name,
          error ? error->message : "unknown error"), (NULL));
  g_mutex_lock (&self->lock);
  self->fatal = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
on_backend_error (const GError * error, gpointer user_data)
{
  ditto_backend_failed (user_data, error);
}

static void
on_backend_warning (const gchar * message, gpointer user_data)
{
  GstDittoTalkingHead *self = user_data;

  self->face_warned = TRUE;
  GST_ELEMENT_WARNING (self, STREAM, FAILED, ("%s", message), (NULL));
}

static void
on_backend_face (const gint box[4], gboolean fallback, gpointer user_data)
{
  GstDittoTalkingHead *self = user_data;

  memcpy (self->face, box, sizeof (self->face));
  self->face_fallback = fallback;
  self->face_known = TRUE;
}

static gchar *
backend_names (void)
{
  const DittoBackendClass *const *list = ditto_backend_list ();
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; list[i]; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", list[i]->name);
  return g_string_free (s, FALSE);
}

static void
push_initial_events (GstDittoTalkingHead * self)
{
  guint group = gst_util_group_id_next ();
  GstSegment seg;
  GstEvent *ev;
  gchar *id;

  id = gst_pad_create_stream_id (self->video_srcpad, GST_ELEMENT_CAST (self),
      "video");
  ev = gst_event_new_stream_start (id);
  gst_event_set_group_id (ev, group);
  g_free (id);
  ditto_out_queue_push (self, &self->vq, GST_MINI_OBJECT_CAST (ev));

  id = gst_pad_create_stream_id (self->audio_srcpad, GST_ELEMENT_CAST (self),
      "audio");
  ev = gst_event_new_stream_start (id);
  gst_event_set_group_id (ev, group);
  g_free (id);
  ditto_out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (ev));

  /* video caps are negotiated by the video task before this segment */
  gst_segment_init (&seg, GST_FORMAT_TIME);
  ditto_out_queue_push (self, &self->vq,
      GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
}

/* The strings the session's config owns (a failed open included). */
static void
free_config (GstDittoTalkingHead * self)
{
  g_free ((gchar *) self->config.source_path);
  g_free ((gchar *) self->config.model_dir);
  g_free ((gchar *) self->config.worker_socket);
  g_free ((gchar *) self->config.worker_ticket);
  memset (&self->config, 0, sizeof (self->config));
}

gboolean
ditto_session_open (GstDittoTalkingHead * self)
{
  gchar *path, *backend_name, *model_dir;
  gdouble scale;
  GError *err = NULL;
  DittoBackendCallbacks cb = { 0, };
  gint width, height;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->source_image);
  backend_name = g_strdup (self->backend_name);
  model_dir = g_strdup (self->model_dir);
  scale = self->frame_scale;
  self->session_mode = self->mode;
  self->session_past = self->chunk_past;
  self->session_current = self->chunk_current;
  self->session_future = self->chunk_future;
  memset (&self->config, 0, sizeof (self->config));
  memcpy (self->config.face_box, self->face_box, sizeof (self->face_box));
  self->config.sampling_timesteps = self->sampling_timesteps;
  self->config.seed = self->seed;
  self->config.worker_socket = g_strdup (self->worker_socket);
  self->config.worker_ticket = g_strdup (self->worker_ticket);
  self->config.worker_timeout = self->worker_timeout;
  self->config.overlap_v2 = self->overlap_v2;
  GST_OBJECT_UNLOCK (self);

  /* chunk-past/-current/-future are set one by one: their sum is checked
   * here (chunk-config checks it when set) */
  if (self->session_past + self->session_current + self->session_future < 5
      || self->session_past + self->session_current + self->session_future >
      20) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("chunk-past + chunk-current + chunk-future is %u; it must be 5..20",
            self->session_past + self->session_current +
            self->session_future), (NULL));
    goto fail;
  }

  self->bclass = ditto_backend_lookup (backend_name);
  if (self->bclass == NULL) {
    gchar *names = backend_names ();
    GST_ELEMENT_ERROR (self, CORE, FAILED,
        ("Unknown backend '%s'; available backends: %s", backend_name, names),
        (NULL));
    g_free (names);
    goto fail;
  }

  if (path == NULL || *path == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No source image: set the source-image property to a PNG, JPEG or "
            "WebP portrait"), (NULL));
    goto fail;
  }
  self->image = ditto_image_load (path, &err);
  if (self->image == NULL) {
    if (err->code == DITTO_IMAGE_ERROR_UNREADABLE)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s", err->message),
          ("source-image=%s", path));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("%s", err->message),
          ("source-image=%s", path));
    g_clear_error (&err);
    goto fail;
  }
  if (self->config.face_box[2] > 0
      && (self->config.face_box[0] + self->config.face_box[2] >
          self->image->width
          || self->config.face_box[1] + self->config.face_box[3] >
          self->image->height)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("face-box <%d,%d,%d,%d> lies outside the %dx%d source image",
            self->config.face_box[0], self->config.face_box[1],
            self->config.face_box[2], self->config.face_box[3],
            self->image->width, self->image->height), (NULL));
    goto fail;
  }

  width = scaled_even (self->image->width, scale);
  height = scaled_even (self->image->height, scale);
  if (!ditto_video_choose_render_format (self, width, height))
    goto fail;

  self->config.source_rgb = self->image->rgb;
  self->config.source_width = self->image->width;
  self->config.source_height = self->image->height;
  self->config.source_stride = self->image->stride;
  self->config.source_path = path;      /* freed in ditto_session_close */
  path = NULL;
  self->config.out_info = self->render_info;
  self->config.chunk_past = self->session_past;
  self->config.chunk_current = self->session_current;
  self->config.chunk_future = self->session_future;
  self->config.model_dir = model_dir;
  model_dir = NULL;

  cb.on_frame = on_backend_frame;
  cb.on_error = on_backend_error;
  cb.on_warning = on_backend_warning;
  cb.on_face = on_backend_face;
  cb.user_data = self;
  self->face_known = self->face_warned = FALSE;

  GST_INFO_OBJECT (self, "opening backend %s (%s mode, chunks %u,%u,%u)",
      self->bclass->name, self->session_mode == GST_DITTO_MODE_LIVE ?
      "live" : "offline", self->session_past, self->session_current,
      self->session_future);
  self->backend = self->bclass->open (&self->config, &cb, &err);
  if (self->backend == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Animation backend '%s' could not start: %s", self->bclass->name,
            err ? err->message : "unknown error"), (NULL));
    g_clear_error (&err);
    goto fail;
  }
  self->extra_latency_frames = self->bclass->extra_latency_frames ?
      self->bclass->extra_latency_frames (self->backend) : 0;

  g_mutex_lock (&self->lock);
  ditto_chunker_clear (&self->chunker);
  ditto_chunker_init (&self->chunker, self->session_past,
      self->session_current, self->session_future);
  g_array_set_size (self->fifo, 0);
  self->next_out_frame = 0;
  self->eos_received = self->eos_sent = FALSE;
  self->audio_caps_sent = FALSE;
  self->in_format = self->out_format = GST_AUDIO_FORMAT_UNKNOWN;
  self->fatal = FALSE;
  self->flushing = FALSE;
  self->vq.flushing = self->aq.flushing = FALSE;
  self->vq.eos_pushed = self->aq.eos_pushed = FALSE;
  self->vq.last_pts = self->aq.last_pts = GST_CLOCK_TIME_NONE;
  self->vq.have_skew = self->aq.have_skew = FALSE;
  self->eos_posted = FALSE;
  self->frames_out = self->frames_late = self->silence_frames = 0;
  self->late_samples = 0;
  self->vq.dropped = self->aq.dropped = 0;
  self->stats_last_time = 0;
  self->video_negotiated = FALSE;
  self->live_start = GST_CLOCK_TIME_NONE;
  self->live_base_frame = 0;
  self->live_assign_frame = 0;
  self->in_next_rt = self->fifo_rt = GST_CLOCK_TIME_NONE;
  gst_segment_init (&self->in_segment, GST_FORMAT_TIME);
  gst_clear_event (&self->out_segment);
  self->out_origin = GST_CLOCK_TIME_NONE;
  self->live_drained = FALSE;
  self->seek_seqnum = GST_SEQNUM_INVALID;
  gst_flow_combiner_reset (self->flow_combiner);
  push_initial_events (self);
  g_mutex_unlock (&self->lock);

  post_face (self);

  g_free (backend_name);
  return TRUE;

fail:
  g_free (path);
  g_free (backend_name);
  g_free (model_dir);
  free_config (self);
  ditto_image_free (self->image);
  self->image = NULL;
  return FALSE;
}

void
ditto_session_close (GstDittoTalkingHead * self)
{
  if (self->backend) {
    self->bclass->close (self->backend);
    self->backend = NULL;
  }
  ditto_image_free (self->image);
  self->image = NULL;
  free_config (self);

  g_mutex_lock (&self->lock);
  ditto_out_queue_clear (&self->vq);
  ditto_out_queue_clear (&self->aq);
  g_queue_clear_full (&self->ready, (GDestroyNotify) gst_buffer_unref);
  g_queue_init (&self->ready);
  g_array_set_size (self->fifo, 0);
  gst_buffer_replace (&self->last_video, NULL);
  ditto_clear_serialized_events (self);
  gst_clear_event (&self->out_segment);
  ditto_chunker_clear (&self->chunker);
  g_mutex_unlock (&self->lock);

  if (self->converter) {
    gst_video_converter_free (self->converter);
    self->converter = NULL;
  }
  ditto_video_set_pool (self, NULL);
  self->extra_latency_frames = 0;
}
