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
      ditto_backend_failed (self, err);
      g_clear_error (&err);
      g_mutex_lock (&self->lock);
      return GST_FLOW_ERROR;
    }

    /* backpressure when downstream is slower than the backend */
    while (!self->flushing && !self->fatal && ditto_out_queues_full (self))
      g_cond_wait (&self->cond, &self->lock);

    if (self->session_mode == GST_DITTO_MODE_OFFLINE && !self->eos_received) {
      gint epoch = self->sleep_epoch;
      gdouble sleep = self->chunk_sleep;
      gint64 end;
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

/* Timestamps that differ from the sample count by less than this are
 * jitter (GstAudioBaseSink's default alignment threshold). */
#define ALIGNMENT_THRESHOLD (40 * GST_MSECOND)

static GstClockTime
samples_duration (guint64 n)
{
  return gst_util_uint64_scale (n, GST_SECOND, DITTO_SAMPLE_RATE);
}

/* Called with the lock: input of n samples starting at running time rt
 * (NONE: untimed) arrives. Returns the samples of silence a forward
 * discontinuity (a gap in the timestamps) leaves before it; *timed says
 * whether the input's timestamps follow its sample count, so that it can be
 * placed by running time. Timestamps running slower than the data (a
 * producer pushing faster than real time with do-timestamp) are not: such
 * input is queued in arrival order. */
static guint64
input_advance (GstDittoTalkingHead * self, GstClockTime rt, guint64 n,
    gboolean * timed)
{
  guint64 gap = 0;

  *timed = GST_CLOCK_TIME_IS_VALID (rt);
  if (!*timed) {
    self->in_next_rt = GST_CLOCK_TIME_NONE;
    return 0;
  }
  if (GST_CLOCK_TIME_IS_VALID (self->in_next_rt)) {
    if (rt > self->in_next_rt + ALIGNMENT_THRESHOLD) {
      gap = gst_util_uint64_scale_round (rt - self->in_next_rt,
          DITTO_SAMPLE_RATE, GST_SECOND);
    } else if (rt + ALIGNMENT_THRESHOLD < self->in_next_rt) {
      *timed = FALSE;
      rt = self->in_next_rt;    /* keep counting on from the data */
    } else {
      rt = self->in_next_rt;    /* jitter: the sample count is exact */
    }
  }
  self->in_next_rt = rt + samples_duration (n);
  return gap;
}

/* Called with the lock: the running time of a buffer's first sample, or
 * NONE when it has none (then it is taken in arrival order). */
static GstClockTime
input_running_time (GstDittoTalkingHead * self, GstClockTime pts)
{
  if (!GST_CLOCK_TIME_IS_VALID (pts)
      || self->in_segment.format != GST_FORMAT_TIME)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time (&self->in_segment, GST_FORMAT_TIME,
      pts);
}

/* Called with the lock: offline input goes straight onto the timeline,
 * after the silence of a gap in its timestamps. samples NULL: n samples of
 * silence (a GAP event). */
static void
offline_place (GstDittoTalkingHead * self, GstClockTime rt,
    const gfloat * samples, gsize n)
{
  gboolean timed;
  guint64 gap = input_advance (self, rt, n, &timed);

  if (gap > 0) {
    GST_DEBUG_OBJECT (self, "%" G_GUINT64_FORMAT " samples of silence for a "
        "gap in the input timestamps", gap);
    ditto_chunker_append_silence (&self->chunker, gap);
  }
  if (samples == NULL)
    ditto_chunker_append_silence (&self->chunker, n);     /* a GAP event */
  else if (n > 0)
    ditto_chunker_append (&self->chunker, samples, n, TRUE);
}

/* Called with the lock: live input waits in the fifo until the clock
 * thread places it; fifo_rt (the running time of fifo[0]) lets it place
 * timed input by running time. */
static void
live_queue (GstDittoTalkingHead * self, GstClockTime rt,
    const gfloat * samples, gsize n)
{
  gboolean timed;
  GstClockTime start = rt;
  guint64 gap = input_advance (self, rt, n, &timed);

  if (self->fifo->len == 0) {
    self->fifo_rt = timed ? start : GST_CLOCK_TIME_NONE;
  } else if (!timed) {
    self->fifo_rt = GST_CLOCK_TIME_NONE;
  } else if (gap > 0 && GST_CLOCK_TIME_IS_VALID (self->fifo_rt)) {
    g_array_set_size (self->fifo, self->fifo->len + gap);      /* zeros */
  }
  if (samples == NULL)
    g_array_set_size (self->fifo, self->fifo->len + n);  /* a GAP event */
  else if (n > 0)
    g_array_append_vals (self->fifo, samples, n);
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
  GstClockTime pts = GST_BUFFER_PTS (buffer), rt;

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
  rt = input_running_time (self, pts);
  if (self->flushing) {
    ret = GST_FLOW_FLUSHING;
  } else if (self->fatal) {
    ret = GST_FLOW_ERROR;
  } else if (self->eos_received) {
    ret = GST_FLOW_EOS;
  } else if (self->session_mode == GST_DITTO_MODE_LIVE) {
    /* block upstream when far ahead */
    while (self->fifo->len >= LIVE_FIFO_LIMIT && !self->flushing
        && !self->fatal)
      g_cond_wait (&self->cond, &self->lock);
    live_queue (self, rt, samples, n);
    g_cond_broadcast (&self->cond);
    ret = self->flushing ? GST_FLOW_FLUSHING : GST_FLOW_OK;
  } else {
    if (!GST_CLOCK_TIME_IS_VALID (self->out_origin))
      self->out_origin = GST_CLOCK_TIME_IS_VALID (pts) ? pts :
          self->in_segment.start;
    offline_place (self, rt, samples, n);
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
    g_cond_broadcast (&self->cond);     /* the src tasks push EOS */
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
  gboolean shutting_down;

  if (self->backend)
    self->bclass->reset (self->backend);

  g_mutex_lock (&self->lock);
  ditto_out_queue_clear (&self->vq);
  ditto_out_queue_clear (&self->aq);
  g_queue_clear_full (&self->ready, (GDestroyNotify) gst_buffer_unref);
  g_queue_init (&self->ready);
  g_array_set_size (self->fifo, 0);
  ditto_chunker_reset (&self->chunker);
  ditto_clear_serialized_events (self);
  self->out_origin = GST_CLOCK_TIME_NONE;
  self->next_out_frame = 0;
  self->eos_received = self->eos_sent = FALSE;
  self->live_start = GST_CLOCK_TIME_NONE;
  self->live_base_frame = 0;
  self->live_assign_frame = 0;
  self->in_next_rt = self->fifo_rt = GST_CLOCK_TIME_NONE;
  self->live_drained = FALSE;
  gst_flow_combiner_reset (self->flow_combiner);
  self->vq.eos_pushed = self->aq.eos_pushed = FALSE;
  self->vq.last_pts = self->aq.last_pts = GST_CLOCK_TIME_NONE;
  self->vq.have_skew = self->aq.have_skew = FALSE;
  self->eos_posted = FALSE;
  /* A FLUSH_STOP racing a shutdown (src pads deactivated or being
   * deactivated) must not bring the element back to life. */
  shutting_down = !self->vq.active || !self->aq.active;
  if (!shutting_down) {
    self->flushing = FALSE;
    self->vq.flushing = self->aq.flushing = FALSE;
  }
  g_mutex_unlock (&self->lock);

  gst_pad_push_event (self->video_srcpad, gst_event_ref (event));
  gst_pad_push_event (self->audio_srcpad, event);

  if (shutting_down)
    return;

  g_mutex_lock (&self->lock);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  ditto_out_queue_push (self, &self->vq,
      GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
  if (self->audio_caps_sent)
    ditto_out_queue_push (self, &self->aq,
        GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
  g_cond_broadcast (&self->cond);
  /* Under the lock, which deactivation takes before it stops a task: either
   * it comes after and stops what we start, or we see the pad inactive. */
  if (self->vq.active)
    gst_pad_start_task (self->video_srcpad,
        (GstTaskFunction) gst_ditto_talking_head_src_loop, self->video_srcpad,
        NULL);
  if (self->aq.active)
    gst_pad_start_task (self->audio_srcpad,
        (GstTaskFunction) gst_ditto_talking_head_src_loop, self->audio_srcpad,
        NULL);
  g_mutex_unlock (&self->lock);
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
      /* the src pads start their own streams */
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_SEGMENT:{
      /* Input is placed by running time; the output is timed from sample
       * counts on our own segment. */
      const GstSegment *seg;
      gst_event_parse_segment (event, &seg);
      g_mutex_lock (&self->lock);
      gst_segment_copy_into (seg, &self->in_segment);
      /* Offline, at the start or after a flush (a seek): the output takes
       * the input's segment (position, rate) and seqnum, and frame 0 the
       * first sample's timestamp. Live output runs on its own timeline. */
      if (self->session_mode == GST_DITTO_MODE_OFFLINE
          && seg->format == GST_FORMAT_TIME
          && ditto_chunker_end (&self->chunker) == 0
          && self->next_out_frame == 0) {
        GstEvent *out = gst_event_new_segment (seg);
        gst_event_set_seqnum (out, gst_event_get_seqnum (event));
        gst_event_replace (&self->out_segment, out);
        ditto_out_queue_push (self, &self->vq,
            GST_MINI_OBJECT_CAST (gst_event_ref (out)));
        if (self->audio_caps_sent)
          ditto_out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (out));
        else
          gst_event_unref (out);
        self->out_origin = GST_CLOCK_TIME_NONE;
      }
      g_mutex_unlock (&self->lock);
      gst_event_unref (event);
      return TRUE;
    }
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
    case GST_EVENT_GAP:{
      /* No audio for a while: silence on the timeline, as a buffer of
       * zeros would be (live mode pads starvation with silence anyway, but
       * timed input after the gap must be placed after it). */
      GstClockTime ts, dur, rt;
      gst_event_parse_gap (event, &ts, &dur);
      gst_event_unref (event);
      g_mutex_lock (&self->lock);
      rt = input_running_time (self, ts);
      if (GST_CLOCK_TIME_IS_VALID (rt) && GST_CLOCK_TIME_IS_VALID (dur)
          && !self->flushing && !self->fatal && !self->eos_received) {
        guint64 n = gst_util_uint64_scale_round (dur, DITTO_SAMPLE_RATE,
            GST_SECOND);
        if (self->session_mode == GST_DITTO_MODE_LIVE) {
          live_queue (self, rt, NULL, n);
        } else {
          offline_place (self, rt, NULL, n);
          feed_available (self);
        }
      }
      g_mutex_unlock (&self->lock);
      return TRUE;
    }
    default:
      if (GST_EVENT_IS_SERIALIZED (event)) {
        /* behind the data that came before it, which may still be in the
         * fifo, the chunker's lookahead or the backend */
        g_mutex_lock (&self->lock);
        ditto_queue_serialized_event (self, event,
            ditto_chunker_end (&self->chunker) + self->fifo->len);
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
  if (GST_QUERY_TYPE (query) == GST_QUERY_ACCEPT_CAPS) {
    GstCaps *caps, *templ;
    gboolean ok;
    gst_query_parse_accept_caps (query, &caps);
    templ = gst_pad_get_pad_template_caps (pad);
    ok = gst_caps_can_intersect (caps, templ);
    gst_caps_unref (templ);
    /* A query may be a speculative probe: log, never post. */
    if (!ok)
      GST_INFO_OBJECT (pad, "refusing %" GST_PTR_FORMAT ": dittotalkinghead "
          "needs audio/x-raw, rate=16000, channels=1, format F32LE or S16LE "
          "(add audioconvert ! audioresample before it)", caps);
    gst_query_set_accept_caps_result (query, ok);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}
