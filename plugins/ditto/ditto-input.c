/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * dittotalkinghead's sink pad: input caps, audio onto the timeline, sink
 * events (EOS, flushes, serialized events) and offline-mode feeding.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdittotalkinghead-private.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_ditto_talking_head_debug

/* Live mode buffers at most this much input before blocking upstream. */
#define LIVE_FIFO_LIMIT (10 * DITTO_SAMPLE_RATE)

static void
samples_to_float (GstAudioFormat fmt, const guint8 * data, gsize n,
    gfloat * out)
{
  gsize i;

  if (fmt == GST_AUDIO_FORMAT_F32LE) {
    memcpy (out, data, n * sizeof (gfloat));
  } else {
    const gint16 *s = (const gint16 *) data;
    for (i = 0; i < n; i++)
      out[i] = (gfloat) GINT16_FROM_LE (s[i]) / 32768.0f;
  }
}

/* Called with the lock; feeds every chunk the timeline has audio for. */
static GstFlowReturn
feed_available (GstDittoTalkingHead * self)
{
  DittoChunk chunk;
  GError *err = NULL;
  gboolean ok;

  while (!self->flushing && !self->fatal
      && ditto_chunker_next (&self->chunker, &chunk)) {
    GST_LOG_OBJECT (self, "feeding chunk at frame %" G_GUINT64_FORMAT
        " (%u current, %u real future%s)", chunk.first_frame, chunk.n_current,
        chunk.n_real_future, chunk.is_last ? ", last" : "");
    g_mutex_unlock (&self->lock);
    ok = self->bclass->feed (self->backend, &chunk, &err);
    g_mutex_lock (&self->lock);
    if (!ok) {
      g_mutex_unlock (&self->lock);
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("Animation backend '%s' failed: %s", self->bclass->name,
              err ? err->message : "unknown error"), (NULL));
      g_clear_error (&err);
      g_mutex_lock (&self->lock);
      self->fatal = TRUE;
      return GST_FLOW_ERROR;
    }

    /* backpressure when downstream is slower than the backend */
    while (!self->flushing && !self->fatal && ditto_out_queues_full (self))
      g_cond_wait (&self->cond, &self->lock);

    if (self->session_mode == GST_DITTO_MODE_OFFLINE && !self->eos_received) {
      gint epoch = self->sleep_epoch;
      gdouble sleep;
      gint64 end;
      GST_OBJECT_LOCK (self);
      sleep = self->chunk_sleep;
      GST_OBJECT_UNLOCK (self);
      end = g_get_monotonic_time () + (gint64) (sleep * G_USEC_PER_SEC);
      while (sleep > 0 && !self->flushing && !self->fatal
          && epoch == self->sleep_epoch
          && g_cond_wait_until (&self->cond, &self->lock, end));
    }
  }
  if (self->flushing)
    return GST_FLOW_FLUSHING;
  if (self->fatal)
    return GST_FLOW_ERROR;
  return GST_FLOW_OK;
}

GstFlowReturn
gst_ditto_talking_head_chain (GstPad * pad, GstObject * parent,
    GstBuffer * buffer)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (parent);
  GstFlowReturn ret;
  GstMapInfo map;
  gfloat *samples;
  gsize n, bps;

  g_mutex_lock (&self->lock);
  if (self->in_format == GST_AUDIO_FORMAT_UNKNOWN) {
    g_mutex_unlock (&self->lock);
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Audio arrived without caps; dittotalkinghead needs audio/x-raw, "
            "rate=16000, channels=1, format F32LE or S16LE"), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  bps = self->in_format == GST_AUDIO_FORMAT_F32LE ? 4 : 2;
  if (self->session_mode == GST_DITTO_MODE_LIVE && !self->live_latency_checked
      && self->live_clock_thread) {
    g_mutex_unlock (&self->lock);
    ditto_live_refine_latency (self);
  } else {
    g_mutex_unlock (&self->lock);
  }

  gst_buffer_map (buffer, &map, GST_MAP_READ);
  n = map.size / bps;
  samples = g_new (gfloat, MAX (n, 1));
  samples_to_float (bps == 4 ? GST_AUDIO_FORMAT_F32LE : GST_AUDIO_FORMAT_S16LE,
      map.data, n, samples);
  gst_buffer_unmap (buffer, &map);
  gst_buffer_unref (buffer);

  g_mutex_lock (&self->lock);
  if (self->flushing) {
    ret = GST_FLOW_FLUSHING;
  } else if (self->fatal) {
    ret = GST_FLOW_ERROR;
  } else if (self->eos_received) {
    ret = GST_FLOW_EOS;
  } else if (self->session_mode == GST_DITTO_MODE_LIVE) {
    /* arrival order is what counts; block upstream when far ahead */
    while (self->fifo->len >= LIVE_FIFO_LIMIT && !self->flushing
        && !self->fatal)
      g_cond_wait (&self->cond, &self->lock);
    g_array_append_vals (self->fifo, samples, n);
    g_cond_broadcast (&self->cond);
    ret = self->flushing ? GST_FLOW_FLUSHING : GST_FLOW_OK;
  } else {
    ditto_chunker_append (&self->chunker, samples, n, TRUE);
    ret = feed_available (self);
  }
  if (ret == GST_FLOW_OK)
    ret = gst_flow_combiner_update_flow (self->flow_combiner, GST_FLOW_OK);
  g_mutex_unlock (&self->lock);
  g_free (samples);
  return ret;
}

static void
handle_offline_eos (GstDittoTalkingHead * self)
{
  guint64 total;
  GError *err = NULL;

  g_mutex_lock (&self->lock);
  self->eos_received = TRUE;
  ditto_chunker_set_eos (&self->chunker);
  feed_available (self);
  total = ditto_chunker_total_frames (&self->chunker);
  if (self->flushing || self->fatal) {
    g_mutex_unlock (&self->lock);
    return;
  }
  g_mutex_unlock (&self->lock);

  if (total == 0) {
    GST_ELEMENT_ERROR (self, STREAM, DEMUX,
        ("No audio: the stream ended before any audio sample arrived"),
        ("zero-length input in offline mode"));
    /* An error, then EOS as GStreamer's sources do; fatal, so no
     * "ditto-eos" claims that the animation ended well. */
    g_mutex_lock (&self->lock);
    self->fatal = TRUE;
    ditto_queue_eos (self);
    g_mutex_unlock (&self->lock);
    return;
  }

  if (!self->bclass->drain (self->backend, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Animation backend '%s' failed at end of stream: %s",
            self->bclass->name, err ? err->message : "unknown error"), (NULL));
    g_clear_error (&err);
    g_mutex_lock (&self->lock);
    self->fatal = TRUE;
    g_mutex_unlock (&self->lock);
    return;
  }

  g_mutex_lock (&self->lock);
  if (!self->flushing && !self->fatal) {
    if (self->next_out_frame != total) {
      g_mutex_unlock (&self->lock);
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("Animation backend '%s' delivered %" G_GUINT64_FORMAT " of %"
              G_GUINT64_FORMAT " frames", self->bclass->name,
              self->next_out_frame, total), (NULL));
      g_mutex_lock (&self->lock);
      self->fatal = TRUE;
    }
    GST_INFO_OBJECT (self, "end of stream after %" G_GUINT64_FORMAT " frames",
        total);
    ditto_queue_eos (self);
  }
  g_mutex_unlock (&self->lock);
}

static gboolean
set_sink_caps (GstDittoTalkingHead * self, GstCaps * caps)
{
  GstAudioInfo info;

  if (!gst_audio_info_from_caps (&info, caps)
      || GST_AUDIO_INFO_RATE (&info) != DITTO_SAMPLE_RATE
      || GST_AUDIO_INFO_CHANNELS (&info) != 1
      || (GST_AUDIO_INFO_FORMAT (&info) != GST_AUDIO_FORMAT_F32LE
          && GST_AUDIO_INFO_FORMAT (&info) != GST_AUDIO_FORMAT_S16LE)) {
    gchar *str = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Cannot take audio caps %s: dittotalkinghead needs audio/x-raw, "
            "rate=16000, channels=1, format F32LE or S16LE (add audioconvert "
            "! audioresample before it)", str), (NULL));
    g_free (str);
    return FALSE;
  }

  g_mutex_lock (&self->lock);
  self->in_format = GST_AUDIO_INFO_FORMAT (&info);
  if (!self->audio_caps_sent)
    ditto_send_audio_caps (self, self->in_format);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
flush_start (GstDittoTalkingHead * self, GstEvent * event)
{
  g_mutex_lock (&self->lock);
  self->flushing = TRUE;
  self->vq.flushing = self->aq.flushing = TRUE;
  if (self->live_clock_id)
    gst_clock_id_unschedule (self->live_clock_id);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  gst_pad_push_event (self->video_srcpad, gst_event_ref (event));
  gst_pad_push_event (self->audio_srcpad, event);
  gst_pad_pause_task (self->video_srcpad);
  gst_pad_pause_task (self->audio_srcpad);
}

static void
flush_stop (GstDittoTalkingHead * self, GstEvent * event)
{
  GstSegment seg;

  if (self->backend)
    self->bclass->reset (self->backend);

  g_mutex_lock (&self->lock);
  ditto_out_queue_clear (&self->vq);
  ditto_out_queue_clear (&self->aq);
  g_queue_clear_full (&self->ready, (GDestroyNotify) gst_buffer_unref);
  g_queue_init (&self->ready);
  g_array_set_size (self->fifo, 0);
  ditto_chunker_reset (&self->chunker);
  self->next_out_frame = 0;
  self->eos_received = self->eos_sent = FALSE;
  self->live_start = GST_CLOCK_TIME_NONE;
  self->live_base_frame = 0;
  self->live_assign_frame = 0;
  self->live_drained = FALSE;
  gst_flow_combiner_reset (self->flow_combiner);
  self->vq.eos_pushed = self->aq.eos_pushed = FALSE;
  self->vq.last_pts = self->aq.last_pts = GST_CLOCK_TIME_NONE;
  self->eos_posted = FALSE;
  self->flushing = FALSE;
  self->vq.flushing = self->aq.flushing = FALSE;
  g_mutex_unlock (&self->lock);

  gst_pad_push_event (self->video_srcpad, gst_event_ref (event));
  gst_pad_push_event (self->audio_srcpad, event);

  g_mutex_lock (&self->lock);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  ditto_out_queue_push (self, &self->vq,
      GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
  if (self->audio_caps_sent)
    ditto_out_queue_push (self, &self->aq,
        GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  gst_pad_start_task (self->video_srcpad,
      (GstTaskFunction) gst_ditto_talking_head_src_loop, self->video_srcpad,
      NULL);
  gst_pad_start_task (self->audio_srcpad,
      (GstTaskFunction) gst_ditto_talking_head_src_loop, self->audio_srcpad,
      NULL);
}

gboolean
gst_ditto_talking_head_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (parent);

  GST_LOG_OBJECT (self, "sink event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gboolean ok;
      gst_event_parse_caps (event, &caps);
      ok = set_sink_caps (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_STREAM_START:
    case GST_EVENT_SEGMENT:
      /* we time the output ourselves from sample counts */
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_EOS:
      gst_event_unref (event);
      if (self->session_mode == GST_DITTO_MODE_LIVE) {
        g_mutex_lock (&self->lock);
        self->eos_received = TRUE;
        g_cond_broadcast (&self->cond);
        g_mutex_unlock (&self->lock);
      } else {
        handle_offline_eos (self);
      }
      return TRUE;
    case GST_EVENT_FLUSH_START:
      flush_start (self, event);
      return TRUE;
    case GST_EVENT_FLUSH_STOP:
      flush_stop (self, event);
      return TRUE;
    case GST_EVENT_GAP:
      /* offline: a gap carries no samples to animate; live fills silence */
      gst_event_unref (event);
      return TRUE;
    default:
      if (GST_EVENT_IS_SERIALIZED (event)) {
        g_mutex_lock (&self->lock);
        if (GST_EVENT_TYPE (event) != GST_EVENT_TAG)
          ditto_out_queue_push (self, &self->vq,
              GST_MINI_OBJECT_CAST (gst_event_ref (event)));
        ditto_out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (event));
        g_mutex_unlock (&self->lock);
        return TRUE;
      }
      return gst_pad_event_default (pad, parent, event);
  }
}

gboolean
gst_ditto_talking_head_sink_query (GstPad * pad, GstObject * parent,
    GstQuery * query)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_ACCEPT_CAPS) {
    GstCaps *caps, *templ;
    gboolean ok;
    gst_query_parse_accept_caps (query, &caps);
    templ = gst_pad_get_pad_template_caps (pad);
    ok = gst_caps_can_intersect (caps, templ);
    gst_caps_unref (templ);
    if (!ok && gst_caps_is_fixed (caps)) {
      /* upstream will stop with a bare "not-negotiated": say what we need
       * (a warning, as accept-caps may also be a speculative probe) */
      gchar *str = gst_caps_to_string (caps);
      GST_ELEMENT_WARNING (self, CORE, NEGOTIATION,
          ("Cannot take audio caps %s: dittotalkinghead needs audio/x-raw, "
              "rate=16000, channels=1, format F32LE or S16LE (add audioconvert "
              "! audioresample before it)", str), (NULL));
      g_free (str);
    }
    gst_query_set_accept_caps_result (query, ok);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}
