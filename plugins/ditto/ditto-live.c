/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * dittotalkinghead's live mode: one thread places input on the timeline,
 * feeds the backend in time for each chunk's deadline and emits one frame per
 * 40 ms on the pipeline clock; the latency it answers; barge-in (interrupt).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdittotalkinghead-private.h"

#define GST_CAT_DEFAULT gst_ditto_talking_head_debug

/* Live mode: allowance for input arriving late (one frame plus upstream's
 * own latency) and for the backend's compute time per chunk. */
#define LIVE_JITTER_ALLOWANCE FRAME_DURATION
#define LIVE_PROCESSING_ALLOWANCE FRAME_DURATION
/* Live mode: buffers a src queue holds before it drops its oldest (1 s). */
#define LIVE_QUEUE_LIMIT 25

/* Live: the chunk's lookahead, the backend's own latency, and allowances for
 * late input (plus upstream's latency if it is live) and for compute time. */
static GstClockTime
live_latency (GstDittoTalkingHead * self)
{
  GstQuery *q = gst_query_new_latency ();
  GstClockTime jitter = LIVE_JITTER_ALLOWANCE, lookahead;
  /* A live source may not answer before it has negotiated: only a definite
   * "not live" lets us skip waiting for the lookahead. */
  gboolean up_live = TRUE;
  GstClockTime up_min = 0, up_max = 0, compute;
  guint cur, fut;

  if (gst_pad_peer_query (self->sinkpad, q)) {
    gst_query_parse_latency (q, &up_live, &up_min, &up_max);
    if (up_live && GST_CLOCK_TIME_IS_VALID (up_min))
      jitter += up_min;
  }
  gst_query_unref (q);

  if (self->backend) {
    cur = self->session_current;
    fut = self->session_future;
  } else {
    GST_OBJECT_LOCK (self);
    cur = self->chunk_current;
    fut = self->chunk_future;
    GST_OBJECT_UNLOCK (self);
  }
  /* Input from a live source arrives in real time, so a chunk can only be fed
   * once its lookahead frames have been spoken. Input from a non-live source
   * (a file) is already buffered: its lookahead is there at once, and waiting
   * for it would only delay the first frame by (current + future) frames. */
  lookahead = ditto_frame_time ((up_live ? cur + fut : 0) +
      self->extra_latency_frames);
  /* The backend's compute time (0 until it has measured itself). */
  g_mutex_lock (&self->lock);
  compute = self->compute_latency;
  g_mutex_unlock (&self->lock);
  return lookahead + jitter + LIVE_PROCESSING_ALLOWANCE + compute;
}

gboolean
ditto_latency_query (GstDittoTalkingHead * self, GstQuery * query)
{
  GstDittoMode mode;
  guint cur, fut;
  GstClockTime ours;

  if (self->backend) {
    mode = self->session_mode;
    cur = self->session_current;
    fut = self->session_future;
  } else {
    GST_OBJECT_LOCK (self);
    mode = self->mode;
    cur = self->chunk_current;
    fut = self->chunk_future;
    GST_OBJECT_UNLOCK (self);
  }

  if (mode == GST_DITTO_MODE_LIVE) {
    GstClockTime min = live_latency (self);
    /* we can hold as much as the queues take */
    gst_query_set_latency (query, TRUE, min, GST_CLOCK_TIME_NONE);
    GST_DEBUG_OBJECT (self, "live latency %" GST_TIME_FORMAT,
        GST_TIME_ARGS (min));
    return TRUE;
  }

  ours = ditto_frame_time (cur + fut + self->extra_latency_frames);
  if (gst_pad_peer_query (self->sinkpad, query)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    gst_query_set_latency (query, live, min, max);
  } else {
    gst_query_set_latency (query, FALSE, ours, GST_CLOCK_TIME_NONE);
  }
  return TRUE;
}

/* Live mode: frames after the next one due that an interrupt still lets
 * play as animated (they are about to go out; re-animating them could not
 * finish in time). */
#define INTERRUPT_KEEP_FRAMES 2

/* Called with the lock: drop frames animated ahead from frame `from` on and,
 * with `silence`, turn their audio into silence (same PTS, so A/V lockstep
 * holds); feeding resumes there. Returns the frames silenced. */
static guint64
interrupt_timeline (GstDittoTalkingHead * self, guint64 from,
    gboolean silence)
{
  GQueue keep = G_QUEUE_INIT;
  GstBuffer *buf;
  guint64 silenced;

  while ((buf = g_queue_pop_head (&self->ready))) {
    if (GST_BUFFER_OFFSET (buf) < from)
      g_queue_push_tail (&keep, buf);
    else
      gst_buffer_unref (buf);
  }
  self->ready = keep;
  silenced = silence ? ditto_chunker_silence_from (&self->chunker,
      from * SPF) : 0;
  self->silence_frames += silenced;
  ditto_chunker_rewind (&self->chunker, from);
  if (self->live_clock_id)
    gst_clock_id_unschedule (self->live_clock_id);      /* feed again now */
  g_cond_broadcast (&self->cond);
  return silenced;
}

/* Live mode barge-in: forget the input that has not reached the timeline
 * yet, and return the face to idle at once: frames animated ahead of the
 * clock are dropped, their audio becomes silence, and the backend is reset
 * so nothing it still holds comes out. */
void
ditto_live_interrupt (GstDittoTalkingHead * self)
{
  guint dropped = 0;
  guint64 from = 0, frames = 0;
  gboolean rewind;

  /* The state lock keeps the session (backend, threads) from closing under
   * us: an application may interrupt while another thread stops it. */
  GST_STATE_LOCK (self);
  g_mutex_lock (&self->lock);
  if (self->fifo != NULL) {
    dropped = self->fifo->len;
    g_array_set_size (self->fifo, 0);
    g_cond_broadcast (&self->cond);     /* a chain blocked on a full fifo */
  }
  rewind = self->session_mode == GST_DITTO_MODE_LIVE && self->backend
      && self->live_clock_thread && !self->chunker.eos && !self->live_drained
      && !self->flushing && !self->fatal;
  if (rewind) {
    from = self->next_out_frame + INTERRUPT_KEEP_FRAMES;
    frames = interrupt_timeline (self, from, TRUE);
  }
  g_mutex_unlock (&self->lock);

  if (rewind) {
    /* Outside the lock: the backend may be inside feed(), delivering frames
     * through on_backend_frame(), which takes it. */
    self->bclass->reset (self->backend);
    /* A feed that began before the silencing may have delivered speech
     * frames since, and the reset may have cut a feed short: drop and
     * re-animate again from the same frame (the timeline there is silent). */
    g_mutex_lock (&self->lock);
    if (!self->chunker.eos && !self->live_drained)
      interrupt_timeline (self, MAX (from, self->next_out_frame), FALSE);
    g_mutex_unlock (&self->lock);
  }

  GST_STATE_UNLOCK (self);

  GST_INFO_OBJECT (self, "interrupt: dropped %u queued samples and %"
      G_GUINT64_FORMAT " frames animated ahead", dropped, frames);
  gst_element_post_message (GST_ELEMENT_CAST (self),
      gst_message_new_element (GST_OBJECT_CAST (self),
          gst_structure_new ("ditto-interrupt", "dropped-samples",
              G_TYPE_UINT, dropped, "dropped-frames", G_TYPE_UINT64, frames,
              NULL)));
}

/* The first input buffer is the first moment upstream's liveness is certain
 * (decodebin exposes its pad late). A non-live, already buffered source needs
 * no real-time wait for the lookahead: shorten the schedule if nothing has
 * gone out yet, so the first frame is not held back for (current + future)
 * frames. */
void
ditto_live_refine_latency (GstDittoTalkingHead * self)
{
  GstClockTime latency = live_latency (self);
  gboolean changed = FALSE;

  g_mutex_lock (&self->lock);
  self->live_latency_checked = TRUE;
  if (self->live_clock_thread && latency < self->live_latency
      && (!GST_CLOCK_TIME_IS_VALID (self->live_start)
          || self->next_out_frame == self->live_base_frame)) {
    GST_INFO_OBJECT (self, "upstream is not live: latency %" GST_TIME_FORMAT
        " instead of %" GST_TIME_FORMAT, GST_TIME_ARGS (latency),
        GST_TIME_ARGS (self->live_latency));
    self->live_latency = latency;
    changed = TRUE;
    if (self->live_clock_id)
      gst_clock_id_unschedule (self->live_clock_id);
    g_cond_broadcast (&self->cond);
  } else if (self->live_clock_thread && latency > self->live_latency) {
    /* Upstream linked late (the viewer's microphone behind webrtcbin's
     * jitter buffer): its latency is known only now. Timed input is placed
     * by running time, so the schedule must wait for it. */
    GST_INFO_OBJECT (self, "upstream latency known: latency %" GST_TIME_FORMAT
        " instead of %" GST_TIME_FORMAT, GST_TIME_ARGS (latency),
        GST_TIME_ARGS (self->live_latency));
    self->live_latency = latency;
    changed = TRUE;
  }
  g_mutex_unlock (&self->lock);
  if (changed)
    gst_element_post_message (GST_ELEMENT_CAST (self),
        gst_message_new_latency (GST_OBJECT_CAST (self)));
}

/* Called with the lock: put input on the timeline up to sample `upto`,
 * silence where the input starved. */
static void
live_assign (GstDittoTalkingHead * self, guint64 upto)
{
  guint64 end = ditto_chunker_end (&self->chunker);
  gsize need, take, pad;

  if (self->chunker.eos || upto <= end)
    return;

  /* Timed input goes where its running time says: what comes after its
   * slot has gone by is dropped (the latency stays what it was instead of
   * growing by every stall), what starts later leaves silence before it. */
  if (self->fifo->len > 0 && GST_CLOCK_TIME_IS_VALID (self->fifo_rt)) {
    gint64 ahead = (gint64) self->fifo_rt - (gint64) self->live_start;
    gint64 pos = (gint64) (self->live_base_frame * SPF) + (ahead >= 0 ?
        (gint64) gst_util_uint64_scale_round (ahead, DITTO_SAMPLE_RATE,
            GST_SECOND) : -(gint64) gst_util_uint64_scale_round (-ahead,
            DITTO_SAMPLE_RATE, GST_SECOND));
    /* within GstAudioBaseSink's alignment threshold: jitter, keep going */
    if (ABS (pos - (gint64) end) < SPF)
      pos = (gint64) end;
    if (pos < (gint64) end) {
      gsize late = (gsize) MIN ((guint64) ((gint64) end - pos),
          (guint64) self->fifo->len);
      GST_DEBUG_OBJECT (self, "dropping %" G_GSIZE_FORMAT " input samples "
          "that came after their slot", late);
      g_array_remove_range (self->fifo, 0, late);
      self->fifo_rt += gst_util_uint64_scale (late, GST_SECOND,
          DITTO_SAMPLE_RATE);
      self->late_samples += late;
    } else if (pos > (gint64) end) {
      pad = (gsize) MIN ((guint64) pos, upto) - end;
      ditto_chunker_append_silence (&self->chunker, pad);
      self->silence_frames += (pad + SPF - 1) / SPF;
      end += pad;
    }
  }

  need = upto - end;
  take = MIN (need, self->fifo->len);
  if (take > 0) {
    ditto_chunker_append (&self->chunker, (gfloat *) self->fifo->data, take,
        TRUE);
    g_array_remove_range (self->fifo, 0, take);
    if (GST_CLOCK_TIME_IS_VALID (self->fifo_rt))
      self->fifo_rt += gst_util_uint64_scale (take, GST_SECOND,
          DITTO_SAMPLE_RATE);
    g_cond_broadcast (&self->cond);     /* room for the chain */
  }
  if (self->eos_received && self->fifo->len == 0) {
    ditto_chunker_set_eos (&self->chunker);
    return;
  }
  pad = need - take;
  if (pad > 0) {
    ditto_chunker_append_silence (&self->chunker, pad);
    self->silence_frames += (pad + SPF - 1) / SPF;
  }
}

static GstClockReturn
live_wait (GstDittoTalkingHead * self, GstClock * clock,
    GstClockTime base_time, GstClockTime running_time)
{
  GstClockID id;
  GstClockReturn ret;

  id = gst_clock_new_single_shot_id (clock, base_time + running_time);
  self->live_clock_id = id;
  g_mutex_unlock (&self->lock);
  ret = gst_clock_id_wait (id, NULL);
  g_mutex_lock (&self->lock);
  self->live_clock_id = NULL;
  gst_clock_id_unref (id);
  return ret;
}

static void
live_emit (GstDittoTalkingHead * self)
{
  guint64 k = self->next_out_frame;

  /* Input whose caps come late (the viewer's microphone arrives after the
   * connection) must not stop the idle stream: S16LE until then; later
   * input in another format is converted to it. */
  if (!self->audio_caps_sent)
    ditto_send_audio_caps (self, GST_AUDIO_FORMAT_S16LE);

  GstBuffer *video = NULL, *head;
  GstClockTime pts = self->live_start + ditto_frame_time (k - self->live_base_frame);

  while ((head = g_queue_peek_head (&self->ready))
      && GST_BUFFER_OFFSET (head) < k)
    gst_buffer_unref (g_queue_pop_head (&self->ready));
  head = g_queue_peek_head (&self->ready);
  if (head && GST_BUFFER_OFFSET (head) == k) {
    video = g_queue_pop_head (&self->ready);
    gst_buffer_replace (&self->last_video, video);
  } else {
    self->frames_late++;
    GST_DEBUG_OBJECT (self, "frame %" G_GUINT64_FORMAT " missed its deadline",
        k);
    if (self->last_video)
      video = gst_buffer_copy (self->last_video);
  }
  ditto_emit_frame (self, k, video, pts);
  self->next_out_frame++;
}

/* Called with the lock: a live stream cannot wait for a stalled branch.
 * Over LIVE_QUEUE_LIMIT buffers, a src queue loses its oldest buffer (its
 * events stay, in order), so the branch resumes with current frames and the
 * other branch goes on. Returns the PTS of the last buffer dropped, or NONE. */
static GstClockTime
live_bound_queue (GstDittoTalkingHead * self, GstDittoOutQueue * q)
{
  GstClockTime dropped = GST_CLOCK_TIME_NONE;
  GList *l;

  while (q->n_buffers > LIVE_QUEUE_LIMIT) {
    for (l = q->items.head; l && !GST_IS_BUFFER (l->data); l = l->next);
    if (l == NULL)
      break;
    dropped = GST_BUFFER_PTS (l->data);
    gst_buffer_unref (GST_BUFFER_CAST (l->data));
    g_queue_delete_link (&q->items, l);
    q->n_buffers--;
    q->dropped++;
  }
  return dropped;
}

/* Called without the lock: tell the application (and QoS-aware elements)
 * that frames of a stalled branch were dropped. */
static void
live_post_qos (GstDittoTalkingHead * self, GstDittoOutQueue * q,
    GstClockTime pts)
{
  GstMessage *msg;
  guint64 processed, dropped;

  g_mutex_lock (&self->lock);
  processed = self->next_out_frame;
  dropped = q->dropped;
  g_mutex_unlock (&self->lock);
  GST_INFO_OBJECT (q->pad, "branch stalled: dropped the frame at %"
      GST_TIME_FORMAT " (%" G_GUINT64_FORMAT " so far)", GST_TIME_ARGS (pts),
      dropped);
  msg = gst_message_new_qos (GST_OBJECT_CAST (self), TRUE, pts, pts, pts,
      FRAME_DURATION);
  gst_message_set_qos_stats (msg, GST_FORMAT_BUFFERS, processed, dropped);
  gst_element_post_message (GST_ELEMENT_CAST (self), msg);
}

/* The backend's compute time per chunk (0 when it does not say). */
static GstClockTime
backend_compute_latency (GstDittoTalkingHead * self)
{
  GstClockTime t;

  if (self->backend == NULL || self->bclass->compute_latency == NULL)
    return 0;
  t = self->bclass->compute_latency (self->backend);
  return GST_CLOCK_TIME_IS_VALID (t) ? t : 0;
}

/* Called without the lock after a feed: a backend that measured itself
 * slower than budgeted gets the difference added to the schedule (later
 * feeds are not moved, later outputs are), and the pipeline is told. It
 * never shrinks: a latency that goes back and forth would make sinks drop. */
static void
live_update_compute_latency (GstDittoTalkingHead * self)
{
  GstClockTime t = backend_compute_latency (self);
  gboolean grew = FALSE;

  g_mutex_lock (&self->lock);
  if (t > self->compute_latency) {
    GST_INFO_OBJECT (self, "backend compute time %" GST_TIME_FORMAT
        " (was %" GST_TIME_FORMAT "): latency grows", GST_TIME_ARGS (t),
        GST_TIME_ARGS (self->compute_latency));
    self->live_latency += t - self->compute_latency;
    self->compute_latency = t;
    grew = TRUE;
  }
  g_mutex_unlock (&self->lock);
  if (grew)
    gst_element_post_message (GST_ELEMENT_CAST (self),
        gst_message_new_latency (GST_OBJECT_CAST (self)));
}

/* The render thread: feeds every chunk the clock thread has placed on the
 * timeline, so a slow backend never holds up the frames already due. */
static gpointer
live_render_func (gpointer data)
{
  GstDittoTalkingHead *self = data;
  GError *err = NULL;

  g_mutex_lock (&self->lock);
  while (self->live_running && !self->fatal) {
    DittoChunk chunk;
    gboolean ok;

    if (self->flushing || self->live_drained
        || !ditto_chunker_next (&self->chunker, &chunk)) {
      if (!self->flushing && !self->live_drained && self->chunker.eos) {
        /* nothing left to feed (e.g. no audio ever arrived) */
        self->live_drained = TRUE;
        continue;
      }
      g_cond_wait (&self->cond, &self->lock);
      continue;
    }
    g_mutex_unlock (&self->lock);
    ok = self->bclass->feed (self->backend, &chunk, &err);
    if (ok && chunk.is_last)
      ok = self->bclass->drain (self->backend, &err);
    if (ok)
      live_update_compute_latency (self);
    g_mutex_lock (&self->lock);
    if (chunk.is_last)
      self->live_drained = TRUE;
    if (!ok) {
      g_mutex_unlock (&self->lock);
      ditto_backend_failed (self, err);
      g_clear_error (&err);
      g_mutex_lock (&self->lock);
    }
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* The clock thread: places input on the timeline when each chunk is due to
 * be fed and emits one frame per slot; it never calls into the backend. */
static gpointer
live_clock_func (gpointer data)
{
  GstDittoTalkingHead *self = data;
  GstClock *clock = gst_element_get_clock (GST_ELEMENT_CAST (self));
  GstClockTime base_time = gst_element_get_base_time (GST_ELEMENT_CAST (self));

  if (clock == NULL)
    clock = gst_system_clock_obtain ();

  g_mutex_lock (&self->lock);
  while (self->live_running && !self->fatal) {
    guint64 assign_from, total;
    GstClockTime t_feed, t_out;
    gboolean do_assign;

    if (self->flushing) {
      g_cond_wait (&self->cond, &self->lock);
      continue;
    }
    if (!GST_CLOCK_TIME_IS_VALID (self->live_start)) {
      GstClockTime now = gst_clock_get_time (clock);
      self->live_start = now > base_time ? now - base_time : 0;
      self->live_base_frame = self->next_out_frame;
      self->live_assign_frame = MAX (self->live_assign_frame,
          self->next_out_frame);
      GST_INFO_OBJECT (self, "live output starts at running time %"
          GST_TIME_FORMAT ", latency %" GST_TIME_FORMAT,
          GST_TIME_ARGS (self->live_start), GST_TIME_ARGS (self->live_latency));
    }

    if (self->chunker.eos) {
      total = ditto_chunker_total_frames (&self->chunker);
      if (self->next_out_frame >= total && self->live_drained) {
        ditto_queue_eos (self);
        break;
      }
    }

    /* The chunk starting at frame f is placed when frame f must go out, less
     * the backend's time to render it; for live input live_latency makes
     * that the moment its lookahead has arrived (see live_latency()). */
    assign_from = self->live_assign_frame;
    t_feed = self->live_start + ditto_frame_time (assign_from -
        self->live_base_frame) + (self->live_latency -
        LIVE_PROCESSING_ALLOWANCE - self->compute_latency -
        ditto_frame_time (self->extra_latency_frames));
    t_out = self->live_start + ditto_frame_time (self->next_out_frame -
        self->live_base_frame) + self->live_latency;
    do_assign = !self->chunker.eos && t_feed <= t_out;

    if (live_wait (self, clock, base_time,
            do_assign ? t_feed : t_out) == GST_CLOCK_UNSCHEDULED)
      continue;
    if (!self->live_running || self->flushing || self->fatal)
      continue;

    if (do_assign) {
      live_assign (self, (assign_from + self->session_current +
              self->session_future) * SPF);
      self->live_assign_frame = assign_from + self->session_current;
      g_cond_broadcast (&self->cond);   /* a chunk for the render thread */
    } else {
      GstClockTime vdrop, adrop;
      live_emit (self);
      vdrop = live_bound_queue (self, &self->vq);
      adrop = live_bound_queue (self, &self->aq);
      if (GST_CLOCK_TIME_IS_VALID (vdrop) || GST_CLOCK_TIME_IS_VALID (adrop)) {
        g_mutex_unlock (&self->lock);
        if (GST_CLOCK_TIME_IS_VALID (vdrop))
          live_post_qos (self, &self->vq, vdrop);
        if (GST_CLOCK_TIME_IS_VALID (adrop))
          live_post_qos (self, &self->aq, adrop);
        g_mutex_lock (&self->lock);
      }
    }
  }
  g_mutex_unlock (&self->lock);
  gst_object_unref (clock);
  return NULL;
}

void
ditto_live_start (GstDittoTalkingHead * self)
{
  /* a backend may know its compute time already (e.g. from a warm-up) */
  GstClockTime compute = backend_compute_latency (self), latency;

  g_mutex_lock (&self->lock);
  self->compute_latency = compute;
  g_mutex_unlock (&self->lock);
  latency = live_latency (self);

  g_mutex_lock (&self->lock);
  if (self->live_clock_thread == NULL) {
    self->live_latency = latency;
    self->live_latency_checked = FALSE;
    self->live_start = GST_CLOCK_TIME_NONE;
    self->live_running = TRUE;
    self->live_clock_thread = g_thread_new ("dittolive", live_clock_func, self);
    self->live_render_thread = g_thread_new ("dittorender", live_render_func,
        self);
  }
  g_mutex_unlock (&self->lock);
}

void
ditto_live_stop (GstDittoTalkingHead * self)
{
  GThread *clock_thread, *render_thread;

  g_mutex_lock (&self->lock);
  self->live_running = FALSE;
  if (self->live_clock_id)
    gst_clock_id_unschedule (self->live_clock_id);
  g_cond_broadcast (&self->cond);
  clock_thread = self->live_clock_thread;
  render_thread = self->live_render_thread;
  self->live_clock_thread = self->live_render_thread = NULL;
  g_mutex_unlock (&self->lock);
  if (clock_thread)
    g_thread_join (clock_thread);
  if (render_thread)
    g_thread_join (render_thread);
}
