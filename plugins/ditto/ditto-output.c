/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * dittotalkinghead's output: one bounded queue and one streaming task per src
 * pad, frame-locked audio buffers, src pad events and queries, stats.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdittotalkinghead-private.h"

#include <math.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_ditto_talking_head_debug

/* A src queue blocks the producer when over this many buffers, unless the
 * other queue is empty (multiqueue's rule: a starved branch never deadlocks). */
#define OUT_QUEUE_LIMIT 25
#define STATS_INTERVAL_US G_USEC_PER_SEC

void
ditto_out_queue_clear (GstDittoOutQueue * q)
{
  GstMiniObject *obj;

  while ((obj = g_queue_pop_head (&q->items)))
    gst_mini_object_unref (obj);
  q->n_buffers = 0;
}

/* Called with the lock. */
void
ditto_out_queue_push (GstDittoTalkingHead * self, GstDittoOutQueue * q,
    GstMiniObject * obj)
{
  if (q->flushing) {
    gst_mini_object_unref (obj);
    return;
  }
  if (GST_IS_BUFFER (obj))
    q->n_buffers++;
  g_queue_push_tail (&q->items, obj);
  g_cond_broadcast (&self->cond);
}

/* Called with the lock: multiqueue's rule. */
gboolean
ditto_out_queues_full (GstDittoTalkingHead * self)
{
  if (self->vq.n_buffers == 0 || self->aq.n_buffers == 0)
    return FALSE;
  return self->vq.n_buffers > OUT_QUEUE_LIMIT
      || self->aq.n_buffers > OUT_QUEUE_LIMIT;
}

/* Called with the lock: the audio buffer of timeline samples [from, from+n). */
static GstBuffer *
make_audio_buffer (GstDittoTalkingHead * self, guint64 from, gsize n)
{
  gfloat *tmp = g_new0 (gfloat, n);
  gsize got = ditto_chunker_read (&self->chunker, from, n, tmp), i;
  GstBuffer *buf;
  GstMapInfo map;
  gsize bps = self->out_format == GST_AUDIO_FORMAT_F32LE ? 4 : 2;

  /* At EOS the last frame's audio is short; elsewhere the timeline holds it. */
  if (got < n && !self->chunker.eos)
    got = n;                    /* keep the frame full (zeros) */
  buf = gst_buffer_new_allocate (NULL, got * bps, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  if (self->out_format == GST_AUDIO_FORMAT_F32LE) {
    memcpy (map.data, tmp, got * sizeof (gfloat));
  } else {
    gint16 *d = (gint16 *) map.data;
    for (i = 0; i < got; i++) {
      gfloat v = tmp[i] * 32768.0f;
      v = CLAMP (v, -32768.0f, 32767.0f);
      d[i] = GINT16_TO_LE ((gint16) lrintf (v));
    }
  }
  gst_buffer_unmap (buf, &map);
  g_free (tmp);
  GST_BUFFER_OFFSET (buf) = from;
  GST_BUFFER_OFFSET_END (buf) = from + got;
  return buf;
}

typedef struct {
  GstEvent *event;
  guint64 pos;               /* timeline samples that came before it */
} PendingEvent;

static void
push_event_both (GstDittoTalkingHead * self, GstEvent * event)
{
  /* tags describe the audio */
  if (GST_EVENT_TYPE (event) != GST_EVENT_TAG)
    ditto_out_queue_push (self, &self->vq,
        GST_MINI_OBJECT_CAST (gst_event_ref (event)));
  ditto_out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (event));
}

/* Called with the lock: queue the serialized events whose preceding
 * samples are all in frames queued already (those up to sample `upto`). */
static void
release_events (GstDittoTalkingHead * self, guint64 upto)
{
  PendingEvent *p;

  while ((p = g_queue_peek_head (&self->pending_events)) && p->pos <= upto) {
    g_queue_pop_head (&self->pending_events);
    push_event_both (self, p->event);
    g_free (p);
  }
}

void
ditto_queue_serialized_event (GstDittoTalkingHead * self, GstEvent * event,
    guint64 pos)
{
  PendingEvent *p = g_new (PendingEvent, 1);

  p->event = event;
  p->pos = pos;
  g_queue_push_tail (&self->pending_events, p);
  release_events (self, self->next_out_frame * SPF);
}

void
ditto_clear_serialized_events (GstDittoTalkingHead * self)
{
  PendingEvent *p;

  while ((p = g_queue_pop_head (&self->pending_events))) {
    gst_event_unref (p->event);
    g_free (p);
  }
}

/* Called with the lock: queue frame k's video and audio with PTS pts. */
void
ditto_emit_frame (GstDittoTalkingHead * self, guint64 k, GstBuffer * video,
    GstClockTime pts)
{
  GstBuffer *audio;

  audio = make_audio_buffer (self, k * SPF, SPF);
  GST_BUFFER_PTS (audio) = pts;
  GST_BUFFER_DTS (audio) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (audio) = ditto_frame_time (k + 1) - ditto_frame_time (k);
  if (gst_buffer_get_size (audio) < SPF * (self->out_format ==
          GST_AUDIO_FORMAT_F32LE ? 4u : 2u))
    GST_BUFFER_DURATION (audio) =
        gst_util_uint64_scale (GST_BUFFER_OFFSET_END (audio) -
        GST_BUFFER_OFFSET (audio), GST_SECOND, DITTO_SAMPLE_RATE);
  if (k == 0)
    GST_BUFFER_FLAG_SET (audio, GST_BUFFER_FLAG_DISCONT);

  if (video) {
    video = gst_buffer_make_writable (video);
    GST_BUFFER_PTS (video) = pts;
    GST_BUFFER_DTS (video) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION (video) = GST_BUFFER_DURATION (audio) ? ditto_frame_time (k +
        1) - ditto_frame_time (k) : 0;
    GST_BUFFER_OFFSET (video) = k;
    GST_BUFFER_OFFSET_END (video) = k + 1;
    ditto_out_queue_push (self, &self->vq, GST_MINI_OBJECT_CAST (video));
  } else {
    /* live mode before the backend's very first frame: nothing to repeat */
    ditto_out_queue_push (self, &self->vq,
        GST_MINI_OBJECT_CAST (gst_event_new_gap (pts, FRAME_DURATION)));
  }
  ditto_out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (audio));
  ditto_chunker_trim (&self->chunker, (k + 1) * SPF);
  release_events (self, (k + 1) * SPF);
}

void
ditto_queue_eos (GstDittoTalkingHead * self)
{
  if (self->eos_sent)
    return;
  self->eos_sent = TRUE;
  release_events (self, G_MAXUINT64);
  ditto_out_queue_push (self, &self->vq, GST_MINI_OBJECT_CAST (gst_event_new_eos ()));
  ditto_out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (gst_event_new_eos ()));
}

/* Called with the lock: the audio src keeps the first format: the timeline
 * is float and any later input format is converted back to it. */
void
ditto_send_audio_caps (GstDittoTalkingHead * self, GstAudioFormat format)
{
  GstCaps *out;
  GstSegment seg;

  self->out_format = format;
  self->audio_caps_sent = TRUE;
  out = gst_caps_new_simple ("audio/x-raw",
      "format", G_TYPE_STRING, gst_audio_format_to_string (format),
      "rate", G_TYPE_INT, DITTO_SAMPLE_RATE, "channels", G_TYPE_INT, 1,
      "layout", G_TYPE_STRING, "interleaved", NULL);
  ditto_out_queue_push (self, &self->aq,
      GST_MINI_OBJECT_CAST (gst_event_new_caps (out)));
  gst_caps_unref (out);
  if (self->out_segment) {
    ditto_out_queue_push (self, &self->aq,
        GST_MINI_OBJECT_CAST (gst_event_ref (self->out_segment)));
  } else {
    gst_segment_init (&seg, GST_FORMAT_TIME);
    ditto_out_queue_push (self, &self->aq,
        GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
  }
}

static void
post_stats (GstDittoTalkingHead * self, gboolean force)
{
  gint64 now = g_get_monotonic_time ();
  guint64 out, late, silence, late_samples, dropped;
  GstClockTime vpts, apts;
  gboolean have_drift;
  gint64 drift = 0;
  gdouble fps = 0.0;
  GstStructure *s;

  g_mutex_lock (&self->lock);
  if (!self->post_stats) {
    g_mutex_unlock (&self->lock);
    return;
  }
  if (self->stats_last_time == 0) {
    self->stats_last_time = now;
    self->stats_last_frames = self->frames_out;
  }
  if (!force && now - self->stats_last_time < STATS_INTERVAL_US) {
    g_mutex_unlock (&self->lock);
    return;
  }
  out = self->frames_out;
  late = self->frames_late;
  silence = self->silence_frames;
  late_samples = self->late_samples;
  dropped = self->vq.dropped;
  vpts = self->vq.last_pts;
  apts = self->aq.last_pts;
  have_drift = self->vq.have_skew && self->aq.have_skew;
  if (have_drift)
    drift = self->aq.last_skew - self->vq.last_skew;
  if (now > self->stats_last_time)
    fps = (gdouble) (out - self->stats_last_frames) * G_USEC_PER_SEC /
        (gdouble) (now - self->stats_last_time);
  self->stats_last_time = now;
  self->stats_last_frames = out;
  g_mutex_unlock (&self->lock);

  s = gst_structure_new ("ditto-stats",
      "frames-out", G_TYPE_UINT64, out,
      "frames-late", G_TYPE_UINT64, late,
      "silence-frames", G_TYPE_UINT64, silence,
      "late-samples", G_TYPE_UINT64, late_samples,
      "frames-dropped", G_TYPE_UINT64, dropped,
      "fps", G_TYPE_DOUBLE, fps, NULL);
  /* The last PTS pushed on each pad, and the audio's offset from the video
   * at the same frame (0 in lockstep). */
  if (have_drift)
    gst_structure_set (s, "av-drift", G_TYPE_INT64, drift, NULL);
  if (GST_CLOCK_TIME_IS_VALID (vpts))
    gst_structure_set (s, "video-pts", G_TYPE_UINT64, vpts, NULL);
  if (GST_CLOCK_TIME_IS_VALID (apts))
    gst_structure_set (s, "audio-pts", G_TYPE_UINT64, apts, NULL);
  gst_element_post_message (GST_ELEMENT_CAST (self),
      gst_message_new_element (GST_OBJECT_CAST (self), s));
}

/* webrtcbin never posts EOS on the bus (its sinks are network sinks), so an
 * application cannot see the end of the animation there: say it ourselves,
 * once, when both pads have pushed EOS. */
static void
maybe_post_eos (GstDittoTalkingHead * self)
{
  gboolean post;
  guint64 frames;

  g_mutex_lock (&self->lock);
  post = self->vq.eos_pushed && self->aq.eos_pushed && !self->eos_posted
      && !self->fatal;
  if (post)
    self->eos_posted = TRUE;
  frames = self->frames_out;
  g_mutex_unlock (&self->lock);
  if (post)
    gst_element_post_message (GST_ELEMENT_CAST (self),
        gst_message_new_element (GST_OBJECT_CAST (self),
            gst_structure_new ("ditto-eos", "frames-out", G_TYPE_UINT64,
                frames, NULL)));
}

gboolean
gst_ditto_talking_head_src_query (GstPad * pad, GstObject * parent,
    GstQuery * query)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:
      return ditto_latency_query (self, query);
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps;
      gst_query_parse_caps (query, &filter);
      if (pad == self->video_srcpad && self->image) {
        /* the rendered size first; any other is scaled to */
        GstVideoInfo render;
        ditto_video_get_render_info (self, &render);
        caps = gst_caps_merge (ditto_video_caps (&render, FALSE),
            ditto_video_caps (&render, TRUE));
      } else if (pad == self->audio_srcpad
          && self->out_format != GST_AUDIO_FORMAT_UNKNOWN) {
        caps = gst_caps_new_simple ("audio/x-raw",
            "format", G_TYPE_STRING,
            gst_audio_format_to_string (self->out_format), "rate", G_TYPE_INT,
            DITTO_SAMPLE_RATE, "channels", G_TYPE_INT, 1, "layout",
            G_TYPE_STRING, "interleaved", NULL);
      } else {
        caps = gst_pad_get_pad_template_caps (pad);
      }
      if (filter) {
        GstCaps *tmp = gst_caps_intersect_full (filter, caps,
            GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = tmp;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

gboolean
gst_ditto_talking_head_src_event (GstPad * pad, GstObject * parent,
    GstEvent * event)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEEK:{
      /* both branches forward the same seek: pass it upstream once */
      guint32 seqnum = gst_event_get_seqnum (event);
      gboolean dup;
      g_mutex_lock (&self->lock);
      dup = seqnum == self->seek_seqnum;
      self->seek_seqnum = seqnum;
      g_mutex_unlock (&self->lock);
      if (dup || self->session_mode == GST_DITTO_MODE_LIVE) {
        gst_event_unref (event);
        return !dup ? FALSE : TRUE;
      }
      return gst_pad_push_event (self->sinkpad, event);
    }
    case GST_EVENT_QOS:
    case GST_EVENT_NAVIGATION:
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_RECONFIGURE:
      /* the video task checks the pad's reconfigure flag */
      gst_event_unref (event);
      return TRUE;
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

void
gst_ditto_talking_head_src_loop (GstPad * pad)
{
  GstDittoTalkingHead *self =
      GST_DITTO_TALKING_HEAD (gst_pad_get_parent_element (pad));
  GstDittoOutQueue *q = pad == self->video_srcpad ? &self->vq : &self->aq;
  gboolean is_video = pad == self->video_srcpad;
  GstMiniObject *item;
  GstFlowReturn ret = GST_FLOW_OK;

  g_mutex_lock (&self->lock);
  while (g_queue_is_empty (&q->items) && !q->flushing && !self->fatal)
    g_cond_wait (&self->cond, &self->lock);
  if (q->flushing) {
    g_mutex_unlock (&self->lock);
    gst_pad_pause_task (pad);
    goto out;
  }
  if (self->fatal) {
    /* After an error, EOS as GStreamer's sources do, so that downstream
     * (a muxer) can finish; what was still queued is dropped. */
    gboolean push = !q->eos_pushed;
    q->eos_pushed = TRUE;
    ditto_out_queue_clear (q);
    g_mutex_unlock (&self->lock);
    if (push)
      gst_pad_push_event (pad, gst_event_new_eos ());
    gst_pad_pause_task (pad);
    goto out;
  }
  item = g_queue_pop_head (&q->items);
  if (GST_IS_BUFFER (item))
    q->n_buffers--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  if (GST_IS_EVENT (item)) {
    GstEvent *ev = GST_EVENT_CAST (item);
    GstEventType type = GST_EVENT_TYPE (ev);

    if (is_video && type == GST_EVENT_SEGMENT && !self->video_negotiated) {
      if (!ditto_video_negotiate (self)) {
        gst_event_unref (ev);
        ret = GST_FLOW_NOT_NEGOTIATED;
        goto flow;
      }
    }
    if (type == GST_EVENT_EOS) {
      /* final figures before the EOS message ends the application */
      if (is_video)
        post_stats (self, TRUE);
      gboolean already;

      g_mutex_lock (&self->lock);
      already = q->eos_pushed;
      q->eos_pushed = TRUE;
      g_mutex_unlock (&self->lock);
      /* Before the push: once the last EOS reaches the sinks the application
       * may stop the pipeline, and the message must not be lost. */
      maybe_post_eos (self);
      if (!already)
        gst_pad_push_event (pad, ev);
      else
        gst_event_unref (ev);
      GST_DEBUG_OBJECT (pad, "EOS pushed, pausing");
      gst_pad_pause_task (pad);
      goto out;
    }
    if (q->eos_pushed && type != GST_EVENT_SEGMENT
        && type != GST_EVENT_STREAM_START)
      gst_event_unref (ev);
    else
      gst_pad_push_event (pad, ev);
    goto out;
  } else {
    GstBuffer *buf = GST_BUFFER_CAST (item);

    if (q->eos_pushed) {
      gst_buffer_unref (buf);
      goto out;
    }
    if (is_video) {
      /* caps follow what the backend rendered, renegotiated before the
       * first frame of another size or format */
      gboolean resized = ditto_video_update_render_info (self, buf);
      if (gst_pad_check_reconfigure (pad) || !self->video_negotiated
          || resized) {
        if (!ditto_video_negotiate (self)) {
          gst_pad_mark_reconfigure (pad);
          gst_buffer_unref (buf);
          ret = GST_FLOW_NOT_NEGOTIATED;
          goto flow;
        }
      }
      buf = ditto_video_convert (self, buf);
      if (buf == NULL) {
        ret = GST_FLOW_ERROR;
        goto flow;
      }
    }
    {
      GstClockTime pts = GST_BUFFER_PTS (buf);
      guint64 offset = GST_BUFFER_OFFSET (buf);

      ret = gst_pad_push (pad, buf);
      if (ret == GST_FLOW_OK) {
        g_mutex_lock (&self->lock);
        q->last_pts = pts;
        q->have_skew = GST_CLOCK_TIME_IS_VALID (pts)
            && offset != GST_BUFFER_OFFSET_NONE;
        if (q->have_skew)
          q->last_skew = (gint64) pts -
              (gint64) ditto_frame_time (is_video ? offset : offset / SPF);
        g_mutex_unlock (&self->lock);
      }
    }
    if (is_video && ret == GST_FLOW_OK) {
      g_mutex_lock (&self->lock);
      self->frames_out++;
      g_mutex_unlock (&self->lock);
      post_stats (self, FALSE);
    }
  }

flow:
  g_mutex_lock (&self->lock);
  gst_flow_combiner_update_pad_flow (self->flow_combiner, pad, ret);
  if (ret == GST_FLOW_EOS)
    q->eos_pushed = TRUE;       /* downstream is done: drop the rest */
  g_mutex_unlock (&self->lock);

  if (ret == GST_FLOW_FLUSHING) {
    gst_pad_pause_task (pad);
  } else if (ret == GST_FLOW_NOT_LINKED || ret == GST_FLOW_EOS) {
    /* keep draining so the other branch is never held up */
  } else if (ret < GST_FLOW_EOS) {
    GST_ELEMENT_FLOW_ERROR (self, ret);
    gst_pad_push_event (pad, gst_event_new_eos ());
    g_mutex_lock (&self->lock);
    self->fatal = TRUE;
    q->eos_pushed = TRUE;
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    gst_pad_pause_task (pad);
  }

out:
  gst_object_unref (self);
}

gboolean
gst_ditto_talking_head_src_activate_mode (GstPad * pad, GstObject * parent,
    GstPadMode mode, gboolean active)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (parent);
  GstDittoOutQueue *q = pad == self->video_srcpad ? &self->vq : &self->aq;

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active) {
    g_mutex_lock (&self->lock);
    q->flushing = FALSE;
    q->active = TRUE;
    g_mutex_unlock (&self->lock);
    return gst_pad_start_task (pad,
        (GstTaskFunction) gst_ditto_talking_head_src_loop, pad, NULL);
  }
  g_mutex_lock (&self->lock);
  q->flushing = TRUE;
  q->active = FALSE;            /* no FLUSH_STOP restarts the task now */
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return gst_pad_stop_task (pad);
}
