/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * ditto-probe: run a gst-launch description and print one JSON object about
 * what reached the fakesinks named "vsink" and "asink" (signal-handoffs=true is
 * set here), the bus errors/warnings (with their GError domain and code),
 * element messages and the latency.
 *
 *   ditto-probe [--region x,y,w,h] [--timeout s] [--element name]
 *               [--feed file.s16 [--feed-gap at,len] [--feed-fast]]
 *               [--eos-after s] [--max-list n] 'pipeline description'
 *
 * --region: per video frame, the mean absolute luma difference of that region
 *   (output pixels) against frame 0.
 * --feed: push raw S16LE 16 kHz mono from the file into the appsrc named
 *   "src" in 40 ms blocks at real-time pace (--feed-fast: as fast as
 *   accepted), pausing `len` seconds at `at` seconds of audio (--feed-gap),
 *   then end the stream.
 * --feed-pts: timestamp the fed buffers: PTS = running time at the start of
 *   the feed (0 for a non-live appsrc) + audio position, + the pause after
 *   --feed-gap (a gap in the timestamps, as a muted source leaves).
 * --feed-gap-event at,len: with --feed-pts, a GAP event of len seconds at
 *   at seconds of audio (the timestamps after it jump by len; no pause).
 * --feed-stall at,len: like --feed-gap, but the audio of the pause is
 *   pushed at once afterwards with its own timestamps (a network stall).
 * --event-at s: a serialized custom event ("ditto-probe-marker") after s
 *   seconds of fed audio; each pad reports how many buffers came before it.
 * --seek s: a flushing, accurate seek to s once PLAYING; each pad reports
 *   its last segment (start, whether it carries the seek's seqnum) and the
 *   PTS of the first buffer after it.
 * --continue-after-error: an error does not end the run; EOS or the timeout
 *   does (whether EOS still reaches the sinks).
 * --eos-after: send EOS to the pipeline after that many seconds of PLAYING.
 * --set s:element:prop=value (repeatable): set a property s seconds after
 *   the pipeline was started; --emit s:element:signal emits an action signal.
 * --accept-caps caps: before starting, ask the element's sink pad whether it
 *   accepts these caps ("accept_caps" in the report).
 * --toggle element:prop=v1,v2: a thread sets the property to v1 and v2 in
 *   turn, as fast as it can, for the whole run (lock-order tests).
 */
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  GMutex lock;
  GArray *pts;              /* gint64 ns, -1 = none */
  GArray *dur;
  GArray *size;             /* guint64 bytes */
  GArray *arrival;          /* gint64 us since the first buffer of any pad */
  GArray *diff;             /* gdouble, video with --region: against frame 0 */
  GArray *step;             /* gdouble: against the previous frame */
  guint8 *ref;              /* region luma of frame 0 */
  guint8 *prev;             /* region luma of the previous frame */
  gchar *caps;
  gboolean eos;
  guint64 gaps;
  guint64 bad_meta;         /* video meta disagreeing with the caps */
  guint64 bad_map;          /* frames that could not be mapped with the caps */
  gint64 marker_at;         /* buffers before the --event-at marker, -1: none */
  gint64 seg_start;         /* the last segment's start, -1: none */
  guint32 seg_seqnum;
  gboolean seg_want_first;
  gint64 seg_first_pts;     /* PTS of the first buffer after it */
  guint64 alloc_queries;    /* ALLOCATION queries that reached the sink */
  guint64 pooled;           /* buffers that came from a buffer pool */
} PadStats;

static PadStats vstats, astats;
static gint region[4];
static gboolean have_region;
static gint64 t0_us;
static GString *errors, *warnings, *elements;
static GMainLoop *loop;
static GstElement *pipeline;
static gboolean timed_out, got_eos, got_error;
static gchar *latency_json, *element_latency_json, *final_latency_json;
static guint latency_messages;    /* from the element under test */
static guint qos_messages;
static const gchar *accept_caps_result = "null";
static const gchar *element_name = "d";
static gdouble eos_after = -1;
static guint max_list = 5000;

static gchar *feed_file;
static gdouble gap_at = -1, gap_len = 0;
static gboolean feed_fast, feed_pts, feed_stall, feed_gap_event;
static gdouble event_at = -1;
static gdouble seek_to = -1;
static gboolean continue_after_error;
static guint32 seek_seqnum;

static void
json_str (GString * out, const gchar * s)
{
  const gchar *p;

  g_string_append_c (out, '"');
  for (p = s ? s : ""; *p; p++) {
    guchar c = (guchar) * p;
    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c == '\n')
      g_string_append (out, "\\n");
    else if (c < 0x20)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_c (out, c);
  }
  g_string_append_c (out, '"');
}

static void
stats_init (PadStats * s)
{
  g_mutex_init (&s->lock);
  s->pts = g_array_new (FALSE, FALSE, sizeof (gint64));
  s->dur = g_array_new (FALSE, FALSE, sizeof (gint64));
  s->size = g_array_new (FALSE, FALSE, sizeof (guint64));
  s->arrival = g_array_new (FALSE, FALSE, sizeof (gint64));
  s->diff = g_array_new (FALSE, FALSE, sizeof (gdouble));
  s->step = g_array_new (FALSE, FALSE, sizeof (gdouble));
  s->marker_at = -1;
  s->seg_start = s->seg_first_pts = -1;
}

static gdouble
mean_abs_diff (const guint8 * a, const guint8 * b, gsize n)
{
  guint64 acc = 0;
  gsize i;

  for (i = 0; i < n; i++)
    acc += (guint64) ABS ((gint) a[i] - (gint) b[i]);
  return n ? (gdouble) acc / (gdouble) n : 0;
}

static gint64
now_us (void)
{
  gint64 t = g_get_monotonic_time ();
  if (t0_us == 0)
    t0_us = t;
  return t - t0_us;
}

/* luma of the region, BT.601-ish for RGB */
static guint8 *
region_luma (GstVideoFrame * f)
{
  gint x0 = region[0], y0 = region[1], w = region[2], h = region[3], x, y;
  gint W = GST_VIDEO_FRAME_WIDTH (f), H = GST_VIDEO_FRAME_HEIGHT (f);
  guint8 *out;
  GstVideoFormat fmt = GST_VIDEO_FRAME_FORMAT (f);

  if (x0 < 0 || y0 < 0 || x0 + w > W || y0 + h > H || w <= 0 || h <= 0)
    return NULL;
  out = g_malloc ((gsize) w * h);
  for (y = 0; y < h; y++) {
    for (x = 0; x < w; x++) {
      guint8 v;
      if (fmt == GST_VIDEO_FORMAT_I420 || fmt == GST_VIDEO_FORMAT_NV12
          || fmt == GST_VIDEO_FORMAT_Y444) {
        const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0)
            + (gsize) (y0 + y) * GST_VIDEO_FRAME_PLANE_STRIDE (f, 0);
        v = row[x0 + x];
      } else {
        gint ps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
        const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0)
            + (gsize) (y0 + y) * GST_VIDEO_FRAME_PLANE_STRIDE (f, 0);
        const guint8 *px = row + (gsize) (x0 + x) * ps;
        gint r = px[GST_VIDEO_FRAME_COMP_OFFSET (f, 0)];
        gint g = px[GST_VIDEO_FRAME_COMP_OFFSET (f, 1)];
        gint b = px[GST_VIDEO_FRAME_COMP_OFFSET (f, 2)];
        v = (guint8) ((77 * r + 150 * g + 29 * b) >> 8);
      }
      out[(gsize) y * w + x] = v;
    }
  }
  return out;
}

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  PadStats *s = data;
  gint64 pts = GST_BUFFER_PTS_IS_VALID (buf) ? (gint64) GST_BUFFER_PTS (buf) : -1;
  gint64 dur = GST_BUFFER_DURATION_IS_VALID (buf) ?
      (gint64) GST_BUFFER_DURATION (buf) : -1;
  guint64 size = gst_buffer_get_size (buf);
  gint64 t = now_us ();

  g_mutex_lock (&s->lock);
  if (s->caps == NULL) {
    GstCaps *caps = gst_pad_get_current_caps (pad);
    if (caps) {
      s->caps = gst_caps_to_string (caps);
      gst_caps_unref (caps);
    }
  }
  g_array_append_val (s->pts, pts);
  g_array_append_val (s->dur, dur);
  g_array_append_val (s->size, size);
  g_array_append_val (s->arrival, t);
  if (buf->pool)
    s->pooled++;
  if (s->seg_want_first) {
    s->seg_first_pts = pts;
    s->seg_want_first = FALSE;
  }
  if (s == &vstats) {
    GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
    GstCaps *caps = gst_pad_get_current_caps (pad);
    GstVideoInfo info;
    if (caps && gst_video_info_from_caps (&info, caps)) {
      if (meta && (meta->format != GST_VIDEO_INFO_FORMAT (&info)
              || (gint) meta->width != GST_VIDEO_INFO_WIDTH (&info)
              || (gint) meta->height != GST_VIDEO_INFO_HEIGHT (&info)))
        s->bad_meta++;
      else if (!meta && size < GST_VIDEO_INFO_SIZE (&info))
        s->bad_map++;
    }
    if (caps)
      gst_caps_unref (caps);
  }
  if (s == &vstats && have_region) {
    GstCaps *caps = gst_pad_get_current_caps (pad);
    GstVideoInfo info;
    GstVideoFrame f;
    gdouble d = -1, st = -1;
    if (caps && gst_video_info_from_caps (&info, caps)
        && gst_video_frame_map (&f, &info, buf, GST_MAP_READ)) {
      guint8 *l = region_luma (&f);
      if (l) {
        gsize n = (gsize) region[2] * region[3];
        if (s->ref == NULL)
          s->ref = g_memdup2 (l, n);
        d = mean_abs_diff (l, s->ref, n);
        st = s->prev ? mean_abs_diff (l, s->prev, n) : 0;
        g_free (s->prev);
        s->prev = l;
      }
      gst_video_frame_unmap (&f);
    }
    if (caps)
      gst_caps_unref (caps);
    g_array_append_val (s->diff, d);
    g_array_append_val (s->step, st);
  }
  g_mutex_unlock (&s->lock);
}

static GstPadProbeReturn
on_sink_event (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  PadStats *s = data;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

  g_mutex_lock (&s->lock);
  if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS)
    s->eos = TRUE;
  else if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP)
    s->gaps++;
  else if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
    const GstSegment *seg;
    gst_event_parse_segment (ev, &seg);
    s->seg_start = (gint64) seg->start;
    s->seg_seqnum = gst_event_get_seqnum (ev);
    s->seg_want_first = TRUE;
  } else if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM
      && gst_event_has_name (ev, "ditto-probe-marker") && s->marker_at < 0)
    s->marker_at = s->pts->len;
  g_mutex_unlock (&s->lock);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_sink_query (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  PadStats *s = data;

  if (GST_QUERY_TYPE (GST_PAD_PROBE_INFO_QUERY (info)) == GST_QUERY_ALLOCATION) {
    g_mutex_lock (&s->lock);
    s->alloc_queries++;
    g_mutex_unlock (&s->lock);
  }
  return GST_PAD_PROBE_OK;
}

static void
hook_sink (const gchar * name, PadStats * s)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), name);
  GstPad *pad;

  if (!sink)
    return;
  g_object_set (sink, "signal-handoffs", TRUE, NULL);
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), s);
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_sink_event,
      s, NULL);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, on_sink_query,
      s, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
}

static gchar *
latency_of (GstQuery * q, gboolean ok)
{
  gboolean live;
  GstClockTime min, max;

  if (!ok)
    return g_strdup ("null");
  gst_query_parse_latency (q, &live, &min, &max);
  return g_strdup_printf ("{\"live\":%s,\"min_ns\":%" G_GINT64_FORMAT
      ",\"max_ns\":%" G_GINT64_FORMAT "}", live ? "true" : "false",
      (gint64) min, GST_CLOCK_TIME_IS_VALID (max) ? (gint64) max : (gint64) - 1);
}

static void
query_latency (void)
{
  GstQuery *q;
  GstElement *el;

  if (latency_json)
    return;
  q = gst_query_new_latency ();
  latency_json = latency_of (q, gst_element_query (pipeline, q));
  gst_query_unref (q);
  el = gst_bin_get_by_name (GST_BIN (pipeline), element_name);
  if (el) {
    GstPad *pad = gst_element_get_static_pad (el, "video");
    if (pad) {
      q = gst_query_new_latency ();
      element_latency_json = latency_of (q, gst_pad_query (pad, q));
      gst_query_unref (q);
      gst_object_unref (pad);
    }
    gst_object_unref (el);
  }
}

/* The element's latency once more, after the run (it may have grown). */
static void
query_final_latency (void)
{
  GstElement *el = gst_bin_get_by_name (GST_BIN (pipeline), element_name);
  GstPad *pad = el ? gst_element_get_static_pad (el, "video") : NULL;

  if (pad) {
    GstQuery *q = gst_query_new_latency ();
    final_latency_json = latency_of (q, gst_pad_query (pad, q));
    gst_query_unref (q);
    gst_object_unref (pad);
  }
  if (el)
    gst_object_unref (el);
}

typedef struct {
  gchar *element, *prop, *value;    /* value NULL: prop is an action signal */
} Action;

static Action *
action_parse (const gchar * spec, gboolean is_signal)
{
  gchar **p = g_strsplit (spec, ":", 2);
  Action *a = NULL;

  if (g_strv_length (p) == 2) {
    a = g_new0 (Action, 1);
    a->element = g_strdup (p[0]);
    if (is_signal) {
      a->prop = g_strdup (p[1]);
    } else {
      gchar *eq = strchr (p[1], '=');
      if (eq) {
        a->prop = g_strndup (p[1], eq - p[1]);
        a->value = g_strdup (eq + 1);
      }
    }
    if (a->prop == NULL) {
      g_free (a->element);
      g_clear_pointer (&a, g_free);
    }
  }
  g_strfreev (p);
  return a;
}

static void
action_run (const Action * a, const gchar * value)
{
  GstElement *el = gst_bin_get_by_name (GST_BIN (pipeline), a->element);

  if (el == NULL)
    return;
  if (value)
    gst_util_set_object_arg (G_OBJECT (el), a->prop, value);
  else
    g_signal_emit_by_name (el, a->prop);
  gst_object_unref (el);
}

static gboolean
on_action (gpointer data)
{
  Action *a = data;

  action_run (a, a->value);
  return G_SOURCE_REMOVE;
}

static gint toggle_stop;

static gpointer
toggle_thread (gpointer data)
{
  Action *a = data;
  gchar **values = g_strsplit (a->value, ",", -1);
  guint i = 0, n = g_strv_length (values);

  while (n > 0 && !g_atomic_int_get (&toggle_stop)) {
    action_run (a, values[i++ % n]);
    g_usleep (50);
  }
  g_strfreev (values);
  return NULL;
}

/* "s:rest" -> s seconds, then the action */
static gboolean
schedule_action (const gchar * spec, gboolean is_signal)
{
  gchar *end = NULL;
  gdouble at = g_ascii_strtod (spec, &end);
  Action *a;

  if (end == spec || *end != ':' || !(a = action_parse (end + 1, is_signal)))
    return FALSE;
  g_timeout_add ((guint) (at * 1000), on_action, a);
  return TRUE;
}

static gboolean
send_eos (gpointer data)
{
  gst_element_send_event (pipeline, gst_event_new_eos ());
  return G_SOURCE_REMOVE;
}

static gboolean
on_timeout (gpointer data)
{
  timed_out = TRUE;
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_bus (GstBus * bus, GstMessage * msg, gpointer data)
{
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_WARNING:{
      GError *err = NULL;
      gchar *dbg = NULL;
      GString *out = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR ? errors :
          warnings;
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
        gst_message_parse_error (msg, &err, &dbg);
      else
        gst_message_parse_warning (msg, &err, &dbg);
      if (out->len > 1)
        g_string_append_c (out, ',');
      g_string_append (out, "{\"source\":");
      json_str (out, GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)));
      g_string_append (out, ",\"message\":");
      json_str (out, err ? err->message : "");
      g_string_append (out, ",\"debug\":");
      json_str (out, dbg);
      /* which GStreamer error, e.g. gst-stream-error-quark 7 (DECODE) */
      g_string_append (out, ",\"domain\":");
      json_str (out, err ? g_quark_to_string (err->domain) : "");
      g_string_append_printf (out, ",\"code\":%d}", err ? err->code : 0);
      g_clear_error (&err);
      g_free (dbg);
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
        got_error = TRUE;
        if (!continue_after_error)
          g_main_loop_quit (loop);
      }
      break;
    }
    case GST_MESSAGE_ELEMENT:{
      const GstStructure *s = gst_message_get_structure (msg);
      gchar *str;
      if (!s)
        break;
      str = gst_structure_to_string (s);
      if (elements->len > 1)
        g_string_append_c (elements, ',');
      json_str (elements, str);
      g_free (str);
      break;
    }
    case GST_MESSAGE_STATE_CHANGED:
      if (GST_MESSAGE_SRC (msg) == GST_OBJECT (pipeline)) {
        GstState old, new;
        gst_message_parse_state_changed (msg, &old, &new, NULL);
        if (new == GST_STATE_PLAYING) {
          if (seek_to >= 0) {
            GstEvent *seek = gst_event_new_seek (1.0, GST_FORMAT_TIME,
                GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE,
                GST_SEEK_TYPE_SET, (GstClockTime) (seek_to * GST_SECOND),
                GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE);
            seek_seqnum = gst_event_get_seqnum (seek);
            seek_to = -1;
            gst_element_send_event (pipeline, seek);
          }
          query_latency ();
          if (eos_after >= 0)
            g_timeout_add ((guint) (eos_after * 1000), send_eos, NULL);
        }
      }
      break;
    case GST_MESSAGE_QOS:
      if (g_strcmp0 (GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), element_name) == 0)
        qos_messages++;
      break;
    case GST_MESSAGE_LATENCY:
      /* what gst-launch does: redistribute the pipeline's latency */
      if (g_strcmp0 (GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), element_name) == 0)
        latency_messages++;
      gst_bin_recalculate_latency (GST_BIN (pipeline));
      break;
    case GST_MESSAGE_EOS:
      got_eos = TRUE;
      g_main_loop_quit (loop);
      break;
    default:
      break;
  }
  return TRUE;
}

/* --feed-gap-event: the empty GAP-flagged buffer becomes a GAP event */
static GstPadProbeReturn
on_src_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP)
      || gst_buffer_get_size (buf) > 0)
    return GST_PAD_PROBE_OK;
  gst_pad_push_event (pad, gst_event_new_gap (GST_BUFFER_PTS (buf),
          GST_BUFFER_DURATION (buf)));
  return GST_PAD_PROBE_DROP;
}

/* --feed: real-time pusher into appsrc "src" */
static gpointer
feed_thread (gpointer data)
{
  GstAppSrc *src = data;
  gchar *contents = NULL;
  gsize len = 0, off = 0;
  const gsize block = 640 * 2;
  gint64 start = g_get_monotonic_time (), pause_us = 0;
  gboolean paused = FALSE, live = FALSE;
  GstClockTime t0 = 0;

  if (!g_file_get_contents (feed_file, &contents, &len, NULL)) {
    g_printerr ("cannot read %s\n", feed_file);
    gst_app_src_end_of_stream (src);
    return NULL;
  }
  g_object_get (src, "is-live", &live, NULL);
  if (feed_pts && live) {
    GstClock *clock = gst_element_get_clock (GST_ELEMENT (src));
    if (clock) {
      GstClockTime now = gst_clock_get_time (clock);
      GstClockTime base = gst_element_get_base_time (GST_ELEMENT (src));
      t0 = now > base ? now - base : 0;
      gst_object_unref (clock);
    }
  }
  while (off < len) {
    gsize n = MIN (block, len - off);
    GstBuffer *buf;
    gdouble at = (gdouble) off / 32000.0;

    if (!paused && gap_at >= 0 && at >= gap_at && feed_gap_event) {
      /* a GAP-flagged empty buffer, turned into a GAP event on the way out
       * (see on_src_buffer): appsrc has no API for it */
      GstBuffer *gap = gst_buffer_new ();
      paused = TRUE;
      GST_BUFFER_FLAG_SET (gap, GST_BUFFER_FLAG_GAP);
      GST_BUFFER_PTS (gap) = t0 + (GstClockTime) (off / 2) * GST_SECOND / 16000;
      GST_BUFFER_DURATION (gap) = (GstClockTime) (gap_len * GST_SECOND);
      pause_us = (gint64) (gap_len * G_USEC_PER_SEC);
      if (gst_app_src_push_buffer (src, gap) != GST_FLOW_OK)
        break;
    } else if (!paused && gap_at >= 0 && at >= gap_at) {
      paused = TRUE;
      g_usleep ((gulong) (gap_len * G_USEC_PER_SEC));
      if (!feed_stall)
        pause_us = (gint64) (gap_len * G_USEC_PER_SEC);
    }
    if (!feed_fast) {
      gint64 due = start + (feed_gap_event ? 0 : pause_us) + (gint64) (at * G_USEC_PER_SEC);
      gint64 now = g_get_monotonic_time ();
      if (due > now)
        g_usleep ((gulong) (due - now));
    }
    if (event_at >= 0 && at >= event_at) {
      event_at = -1;
      gst_element_send_event (GST_ELEMENT (src),
          gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              gst_structure_new_empty ("ditto-probe-marker")));
    }
    buf = gst_buffer_new_memdup (contents + off, n);
    if (feed_pts) {
      GST_BUFFER_PTS (buf) = t0 + (GstClockTime) (off / 2) * GST_SECOND /
          16000 + (GstClockTime) pause_us * GST_USECOND;
      GST_BUFFER_DURATION (buf) = (GstClockTime) (n / 2) * GST_SECOND / 16000;
    }
    if (gst_app_src_push_buffer (src, buf) != GST_FLOW_OK)
      break;
    off += n;
  }
  gst_app_src_end_of_stream (src);
  g_free (contents);
  return NULL;
}

static void
print_pad (GString * out, const gchar * name, PadStats * s)
{
  guint i, n = s->pts->len;
  gint64 min_d = G_MAXINT64, max_d = -1, total_dur = 0;
  guint64 bytes = 0;
  gint64 max_arrival_gap = 0;

  g_string_append_printf (out, "\"%s\":{\"count\":%u,\"eos\":%s,\"gaps\":%"
      G_GUINT64_FORMAT ",\"bad_meta\":%" G_GUINT64_FORMAT ",\"bad_map\":%"
      G_GUINT64_FORMAT ",\"marker_at\":%" G_GINT64_FORMAT ",\"segment_start\":%"
      G_GINT64_FORMAT ",\"segment_is_seek\":%s,\"segment_first_pts\":%"
      G_GINT64_FORMAT ",\"allocation_queries\":%" G_GUINT64_FORMAT
      ",\"pooled\":%" G_GUINT64_FORMAT ",\"caps\":", name, n,
      s->eos ? "true" : "false", s->gaps, s->bad_meta, s->bad_map,
      s->marker_at, s->seg_start,
      seek_seqnum && s->seg_seqnum == seek_seqnum ? "true" : "false",
      s->seg_first_pts, s->alloc_queries, s->pooled);
  json_str (out, s->caps);
  for (i = 0; i < n; i++) {
    gint64 d = g_array_index (s->dur, gint64, i);
    total_dur += d > 0 ? d : 0;
    bytes += g_array_index (s->size, guint64, i);
    if (i > 0) {
      gint64 delta = g_array_index (s->pts, gint64, i) -
          g_array_index (s->pts, gint64, i - 1);
      gint64 ag = g_array_index (s->arrival, gint64, i) -
          g_array_index (s->arrival, gint64, i - 1);
      min_d = MIN (min_d, delta);
      max_d = MAX (max_d, delta);
      max_arrival_gap = MAX (max_arrival_gap, ag);
    }
  }
  g_string_append_printf (out, ",\"bytes\":%" G_GUINT64_FORMAT
      ",\"total_duration_ns\":%" G_GINT64_FORMAT, bytes, total_dur);
  if (n > 0) {
    g_string_append_printf (out, ",\"first_pts\":%" G_GINT64_FORMAT
        ",\"last_pts\":%" G_GINT64_FORMAT ",\"last_end\":%" G_GINT64_FORMAT
        ",\"min_pts_delta\":%" G_GINT64_FORMAT ",\"max_pts_delta\":%"
        G_GINT64_FORMAT ",\"max_arrival_gap_us\":%" G_GINT64_FORMAT
        ",\"first_arrival_us\":%" G_GINT64_FORMAT ",\"last_arrival_us\":%"
        G_GINT64_FORMAT,
        g_array_index (s->pts, gint64, 0), g_array_index (s->pts, gint64,
            n - 1), g_array_index (s->pts, gint64,
            n - 1) + MAX (g_array_index (s->dur, gint64, n - 1), 0),
        n > 1 ? min_d : 0, n > 1 ? max_d : 0, max_arrival_gap,
        g_array_index (s->arrival, gint64, 0), g_array_index (s->arrival,
            gint64, n - 1));
  }
  if (n <= max_list) {
    g_string_append (out, ",\"pts\":[");
    for (i = 0; i < n; i++)
      g_string_append_printf (out, "%s%" G_GINT64_FORMAT, i ? "," : "",
          g_array_index (s->pts, gint64, i));
    g_string_append (out, "],\"durations\":[");
    for (i = 0; i < n; i++)
      g_string_append_printf (out, "%s%" G_GINT64_FORMAT, i ? "," : "",
          g_array_index (s->dur, gint64, i));
    g_string_append (out, "],\"sizes\":[");
    for (i = 0; i < n; i++)
      g_string_append_printf (out, "%s%" G_GUINT64_FORMAT, i ? "," : "",
          g_array_index (s->size, guint64, i));
    g_string_append (out, "],\"arrival_us\":[");
    for (i = 0; i < n; i++)
      g_string_append_printf (out, "%s%" G_GINT64_FORMAT, i ? "," : "",
          g_array_index (s->arrival, gint64, i));
    g_string_append (out, "]");
  }
  if (s->diff->len > 0 && s->diff->len <= max_list) {
    g_string_append (out, ",\"region_diff\":[");
    for (i = 0; i < s->diff->len; i++)
      g_string_append_printf (out, "%s%.3f", i ? "," : "",
          g_array_index (s->diff, gdouble, i));
    g_string_append (out, "],\"region_step\":[");
    for (i = 0; i < s->step->len; i++)
      g_string_append_printf (out, "%s%.3f", i ? "," : "",
          g_array_index (s->step, gdouble, i));
    g_string_append (out, "]");
  }
  g_string_append_c (out, '}');
}

int
main (int argc, char **argv)
{
  gchar *region_str = NULL, *gap_str = NULL, *toggle_str = NULL;
  gchar *stall_str = NULL, *gap_event_str = NULL;
  gchar **set_strs = NULL, **emit_strs = NULL, *accept_str = NULL;
  gdouble timeout = 60;
  Action *toggle = NULL;
  GThread *toggler = NULL;
  GOptionEntry entries[] = {
    {"region", 0, 0, G_OPTION_ARG_STRING, &region_str,
        "x,y,w,h video region for luma differences", "R"},
    {"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &timeout, "seconds", "S"},
    {"element", 0, 0, G_OPTION_ARG_STRING, &element_name,
        "element whose video pad answers the latency query", "NAME"},
    {"feed", 0, 0, G_OPTION_ARG_FILENAME, &feed_file,
        "S16LE 16 kHz mono file for the appsrc named src", "FILE"},
    {"feed-gap", 0, 0, G_OPTION_ARG_STRING, &gap_str, "at,len seconds", "G"},
    {"feed-fast", 0, 0, G_OPTION_ARG_NONE, &feed_fast, "no pacing", NULL},
    {"continue-after-error", 0, 0, G_OPTION_ARG_NONE, &continue_after_error,
        "run on after an error until EOS or the timeout", NULL},
    {"seek", 0, 0, G_OPTION_ARG_DOUBLE, &seek_to, "seek there once PLAYING",
        "S"},
    {"event-at", 0, 0, G_OPTION_ARG_DOUBLE, &event_at,
        "a serialized marker event after that much fed audio", "S"},
    {"feed-gap-event", 0, 0, G_OPTION_ARG_STRING, &gap_event_str,
        "at,len seconds: a GAP event there", "G"},
    {"feed-pts", 0, 0, G_OPTION_ARG_NONE, &feed_pts, "timestamp the feed",
        NULL},
    {"feed-stall", 0, 0, G_OPTION_ARG_STRING, &stall_str,
        "at,len seconds, then the backlog at once", "G"},
    {"eos-after", 0, 0, G_OPTION_ARG_DOUBLE, &eos_after, "seconds", "S"},
    {"max-list", 0, 0, G_OPTION_ARG_INT, &max_list, "longest lists", "N"},
    {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &set_strs,
        "set a property later", "S:ELEMENT:PROP=VALUE"},
    {"emit", 0, 0, G_OPTION_ARG_STRING_ARRAY, &emit_strs,
        "emit an action signal later", "S:ELEMENT:SIGNAL"},
    {"accept-caps", 0, 0, G_OPTION_ARG_STRING, &accept_str,
        "ACCEPT_CAPS query on the element's sink pad first", "CAPS"},
    {"toggle", 0, 0, G_OPTION_ARG_STRING, &toggle_str,
        "set a property back and forth all along", "ELEMENT:PROP=V1,V2"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("PIPELINE-DESCRIPTION");
  GError *err = NULL;
  GstBus *bus;
  GString *out;
  GThread *feeder = NULL;
  gchar *desc;
  gint64 t_start;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || argc < 2) {
    g_printerr ("usage: ditto-probe [options] 'pipeline'\n%s\n",
        err ? err->message : "");
    return 2;
  }
  g_option_context_free (ctx);
  if (region_str) {
    if (sscanf (region_str, "%d,%d,%d,%d", &region[0], &region[1], &region[2],
            &region[3]) != 4) {
      g_printerr ("bad --region\n");
      return 2;
    }
    have_region = TRUE;
  }
  if (gap_str && sscanf (gap_str, "%lf,%lf", &gap_at, &gap_len) != 2) {
    g_printerr ("bad --feed-gap\n");
    return 2;
  }

  if (gap_event_str) {
    if (sscanf (gap_event_str, "%lf,%lf", &gap_at, &gap_len) != 2) {
      g_printerr ("bad --feed-gap-event\n");
      return 2;
    }
    feed_gap_event = feed_pts = TRUE;
  }
  if (stall_str) {
    if (sscanf (stall_str, "%lf,%lf", &gap_at, &gap_len) != 2) {
      g_printerr ("bad --feed-stall\n");
      return 2;
    }
    feed_stall = TRUE;
  }
  if (toggle_str && !(toggle = action_parse (toggle_str, FALSE))) {
    g_printerr ("bad --toggle\n");
    return 2;
  }

  stats_init (&vstats);
  stats_init (&astats);
  errors = g_string_new ("[");
  warnings = g_string_new ("[");
  elements = g_string_new ("[");

  desc = g_strjoinv (" ", argv + 1);
  pipeline = gst_parse_launch_full (desc, NULL, GST_PARSE_FLAG_FATAL_ERRORS,
      &err);
  g_free (desc);
  if (pipeline == NULL) {
    out = g_string_new ("{\"parse_error\":");
    json_str (out, err ? err->message : "unknown");
    g_string_append (out, "}");
    printf ("%s\n", out->str);
    return 1;
  }
  hook_sink ("vsink", &vstats);
  hook_sink ("asink", &astats);

  loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (pipeline);
  gst_bus_add_watch (bus, on_bus, NULL);
  g_timeout_add ((guint) (timeout * 1000), on_timeout, NULL);
  for (gchar ** p = set_strs; p && *p; p++) {
    if (!schedule_action (*p, FALSE)) {
      g_printerr ("bad --set %s\n", *p);
      return 2;
    }
  }
  for (gchar ** p = emit_strs; p && *p; p++) {
    if (!schedule_action (*p, TRUE)) {
      g_printerr ("bad --emit %s\n", *p);
      return 2;
    }
  }

  if (accept_str) {
    GstElement *el = gst_bin_get_by_name (GST_BIN (pipeline), element_name);
    GstPad *pad = el ? gst_element_get_static_pad (el, "sink") : NULL;
    GstCaps *caps = gst_caps_from_string (accept_str);
    if (pad && caps) {
      GstQuery *q = gst_query_new_accept_caps (caps);
      gboolean res = FALSE;
      if (gst_pad_query (pad, q))
        gst_query_parse_accept_caps_result (q, &res);
      accept_caps_result = res ? "true" : "false";
      gst_query_unref (q);
    }
    if (caps)
      gst_caps_unref (caps);
    if (pad)
      gst_object_unref (pad);
    if (el)
      gst_object_unref (el);
  }

  t_start = g_get_monotonic_time ();
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    /* the error message on the bus says why */
    GstMessage *m;
    while ((m = gst_bus_pop (bus))) {
      on_bus (bus, m, NULL);
      gst_message_unref (m);
    }
    got_error = TRUE;
  } else {
    if (feed_file) {
      GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
      if (src) {
        if (feed_gap_event) {
          GstPad *sp = gst_element_get_static_pad (src, "src");
          gst_pad_add_probe (sp, GST_PAD_PROBE_TYPE_BUFFER, on_src_buffer,
              NULL, NULL);
          gst_object_unref (sp);
        }
        feeder = g_thread_new ("feed", feed_thread, src);
      }
    }
    if (toggle)
      toggler = g_thread_new ("toggle", toggle_thread, toggle);
    g_main_loop_run (loop);
  }
  g_atomic_int_set (&toggle_stop, 1);
  if (toggler)
    g_thread_join (toggler);
  query_latency ();
  query_final_latency ();
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (feeder) {
    g_thread_join (feeder);
  }

  out = g_string_new ("{");
  g_string_append_printf (out, "\"eos\":%s,\"error\":%s,\"timed_out\":%s,"
      "\"wall_s\":%.3f,", got_eos ? "true" : "false",
      got_error ? "true" : "false", timed_out ? "true" : "false",
      (g_get_monotonic_time () - t_start) / 1e6);
  print_pad (out, "video", &vstats);
  g_string_append_c (out, ',');
  print_pad (out, "audio", &astats);
  g_string_append_printf (out, ",\"errors\":%s],\"warnings\":%s],"
      "\"messages\":%s],\"latency\":%s,\"element_latency\":%s,"
      "\"final_element_latency\":%s,\"latency_messages\":%u,"
      "\"accept_caps\":%s,\"qos_messages\":%u}", errors->str,
      warnings->str, elements->str, latency_json ? latency_json : "null",
      element_latency_json ? element_latency_json : "null",
      final_latency_json ? final_latency_json : "null", latency_messages,
      accept_caps_result, qos_messages);
  printf ("%s\n", out->str);
  fflush (stdout);
  return 0;
}
