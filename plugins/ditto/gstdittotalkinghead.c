/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-dittotalkinghead
 *
 * Turns 16 kHz mono speech plus one portrait into a talking-head video and
 * passes the audio through, frame-locked: frame k (PTS k * 40 ms) shows audio
 * samples [k * 640, (k + 1) * 640) and the audio buffer with the same PTS
 * carries exactly those samples.
 *
 * The audio is cut into chunks of (past, current, future) frames
 * (#GstDittoTalkingHead:chunk-config) and handed to an animation backend
 * (#GstDittoTalkingHead:backend, "builtin" by default). Each src pad has its
 * own streaming thread and bounded queue, so no queue elements are needed
 * after the element.
 *
 * In offline mode frames are produced as fast as audio arrives. In live mode
 * the element is a live source: it emits 25 frames per second on the pipeline
 * clock from PLAYING until upstream EOS has played out, animating silence
 * (an idle face) whenever input is missing.
 *
 * Zero-length input (EOS before any sample) is an error in offline mode (a
 * file render with no audio is a mistake); in live mode the stream simply ends.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=speech.wav ! decodebin ! audioconvert ! audioresample ! \
 *   audio/x-raw,rate=16000,channels=1 ! dittotalkinghead source-image=face.jpg name=d \
 *   d.video ! videoconvert ! x264enc ! mp4mux name=m ! filesink location=out.mp4 \
 *   d.audio ! audioconvert ! avenc_aac ! m.
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdittotalkinghead.h"

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_ditto_talking_head_debug);
#define GST_CAT_DEFAULT gst_ditto_talking_head_debug

#define SPF DITTO_SAMPLES_PER_FRAME
#define FRAME_DURATION (GST_SECOND / DITTO_FPS)

/* A src queue blocks the producer when over this many buffers, unless the
 * other queue is empty (multiqueue's rule: a starved branch never deadlocks). */
#define OUT_QUEUE_LIMIT 25
/* Live mode buffers at most this much input before blocking upstream. */
#define LIVE_FIFO_LIMIT (10 * DITTO_SAMPLE_RATE)
/* Live mode: allowance for input arriving late (one frame plus upstream's
 * own latency) and for the backend's compute time per chunk. */
#define LIVE_JITTER_ALLOWANCE FRAME_DURATION
#define LIVE_PROCESSING_ALLOWANCE FRAME_DURATION
#define STATS_INTERVAL_US G_USEC_PER_SEC

#define DEFAULT_FRAME_SCALE 1.0
#define DEFAULT_SAMPLING_TIMESTEPS 10
#define DEFAULT_CHUNK_CONFIG "3,5,2"
#define DEFAULT_CHUNK_SLEEP 0.0
#define DEFAULT_BACKEND "builtin"
#define DEFAULT_MODE GST_DITTO_MODE_OFFLINE
#define DEFAULT_SEED 0
#define DEFAULT_WORKER_TIMEOUT 30.0
#define DEFAULT_OVERLAP_V2 0

enum
{
  PROP_0,
  PROP_SOURCE_IMAGE,
  PROP_FRAME_SCALE,
  PROP_SAMPLING_TIMESTEPS,
  PROP_CHUNK_CONFIG,
  PROP_CHUNK_SLEEP,
  PROP_BACKEND,
  PROP_MODE,
  PROP_FACE_BOX,
  PROP_SEED,
  PROP_MODEL_DIR,
  PROP_WORKER_SOCKET,
  PROP_WORKER_TICKET,
  PROP_WORKER_TIMEOUT,
  PROP_OVERLAP_V2,
  PROP_FRAMES_OUT,
  PROP_FRAMES_LATE,
  PROP_SILENCE_FRAMES,
  PROP_INTERRUPT,
};

#define VIDEO_FORMATS "{ I420, RGB, RGBx }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/x-raw, format = (string) { F32LE, S16LE }, "
        "rate = (int) 16000, channels = (int) 1, layout = (string) interleaved"));

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE ("video",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format = (string) " VIDEO_FORMATS ", "
        "width = (int) [ 2, 8192 ], height = (int) [ 2, 8192 ], "
        "framerate = (fraction) 25/1, pixel-aspect-ratio = (fraction) 1/1"));

static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE ("audio",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/x-raw, format = (string) { F32LE, S16LE }, "
        "rate = (int) 16000, channels = (int) 1, layout = (string) interleaved"));

#define gst_ditto_talking_head_parent_class parent_class
G_DEFINE_TYPE (GstDittoTalkingHead, gst_ditto_talking_head, GST_TYPE_ELEMENT);

GType
gst_ditto_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_DITTO_MODE_OFFLINE,
        "Offline: produce frames as fast as audio arrives (file rendering)",
        "offline"},
    {GST_DITTO_MODE_LIVE,
          "Live: emit 25 fps on the pipeline clock, idle animation while input starves",
        "live"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstDittoMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void gst_ditto_talking_head_finalize (GObject * object);
static void gst_ditto_talking_head_set_property (GObject * object,
    guint prop_id, const GValue * value, GParamSpec * pspec);
static void gst_ditto_talking_head_get_property (GObject * object,
    guint prop_id, GValue * value, GParamSpec * pspec);
static GstStateChangeReturn gst_ditto_talking_head_change_state (GstElement *
    element, GstStateChange transition);
static GstFlowReturn gst_ditto_talking_head_chain (GstPad * pad,
    GstObject * parent, GstBuffer * buffer);
static gboolean gst_ditto_talking_head_sink_event (GstPad * pad,
    GstObject * parent, GstEvent * event);
static gboolean gst_ditto_talking_head_sink_query (GstPad * pad,
    GstObject * parent, GstQuery * query);
static gboolean gst_ditto_talking_head_src_query (GstPad * pad,
    GstObject * parent, GstQuery * query);
static gboolean gst_ditto_talking_head_src_event (GstPad * pad,
    GstObject * parent, GstEvent * event);
static gboolean gst_ditto_talking_head_src_activate_mode (GstPad * pad,
    GstObject * parent, GstPadMode mode, gboolean active);
static void gst_ditto_talking_head_src_loop (GstPad * pad);

/* ------------------------------------------------------------------ */
/* helpers */

static gboolean
parse_chunk_config (const gchar * str, guint * past, guint * current,
    guint * future)
{
  gchar **parts;
  guint64 v[3];
  gboolean ok = FALSE;
  guint i;

  if (str == NULL)
    return FALSE;
  parts = g_strsplit (str, ",", -1);
  if (g_strv_length (parts) == 3) {
    ok = TRUE;
    for (i = 0; i < 3 && ok; i++) {
      gchar *s = g_strstrip (parts[i]);
      ok = g_ascii_string_to_unsigned (s, 10, 1, 20, &v[i], NULL);
    }
    if (ok && (v[0] + v[1] + v[2] < 5 || v[0] + v[1] + v[2] > 20))
      ok = FALSE;
  }
  g_strfreev (parts);
  if (ok) {
    *past = (guint) v[0];
    *current = (guint) v[1];
    *future = (guint) v[2];
  }
  return ok;
}

static gboolean
parse_face_box (const gchar * str, gint box[4])
{
  gchar **parts;
  gint64 v[4];
  gboolean ok = FALSE;
  guint i;

  if (str == NULL || *str == '\0') {
    box[0] = box[1] = box[2] = box[3] = 0;
    return TRUE;
  }
  parts = g_strsplit (str, ",", -1);
  if (g_strv_length (parts) == 4) {
    ok = TRUE;
    for (i = 0; i < 4 && ok; i++) {
      gchar *s = g_strstrip (parts[i]);
      ok = g_ascii_string_to_signed (s, 10, 0, 8192, &v[i], NULL);
    }
    if (ok && (v[2] < 1 || v[3] < 1))
      ok = FALSE;
  }
  g_strfreev (parts);
  if (ok) {
    for (i = 0; i < 4; i++)
      box[i] = (gint) v[i];
  }
  return ok;
}

static gint
scaled_even (gint size, gdouble scale)
{
  gint v = 2 * (gint) floor (size * scale / 2.0 + 0.5);
  return MAX (v, 2);
}

static GstClockTime
frame_time (guint64 frames)
{
  return gst_util_uint64_scale (frames, GST_SECOND, DITTO_FPS);
}

/* Video caps at the session size, `first` preferred, then I420, RGB, RGBx. */
static GstCaps *
video_caps_for (GstDittoTalkingHead * self, GstVideoFormat first)
{
  static const GstVideoFormat order[] = { GST_VIDEO_FORMAT_I420,
    GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_RGBx
  };
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
  caps = gst_caps_new_simple ("video/x-raw",
      "width", G_TYPE_INT, GST_VIDEO_INFO_WIDTH (&self->render_info),
      "height", G_TYPE_INT, GST_VIDEO_INFO_HEIGHT (&self->render_info),
      "framerate", GST_TYPE_FRACTION, DITTO_FPS, 1,
      "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  gst_structure_take_value (gst_caps_get_structure (caps, 0), "format", &list);
  g_value_unset (&v);
  return caps;
}

static void
out_queue_clear (GstDittoOutQueue * q)
{
  GstMiniObject *obj;

  while ((obj = g_queue_pop_head (&q->items)))
    gst_mini_object_unref (obj);
  q->n_buffers = 0;
}

/* Called with the lock. */
static void
out_queue_push (GstDittoTalkingHead * self, GstDittoOutQueue * q,
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
static gboolean
out_queues_full (GstDittoTalkingHead * self)
{
  if (self->vq.n_buffers == 0 || self->aq.n_buffers == 0)
    return FALSE;
  return self->vq.n_buffers > OUT_QUEUE_LIMIT
      || self->aq.n_buffers > OUT_QUEUE_LIMIT;
}

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

/* Called with the lock: queue frame k's video and audio with PTS pts. */
static void
emit_frame (GstDittoTalkingHead * self, guint64 k, GstBuffer * video,
    GstClockTime pts)
{
  GstBuffer *audio;

  audio = make_audio_buffer (self, k * SPF, SPF);
  GST_BUFFER_PTS (audio) = pts;
  GST_BUFFER_DTS (audio) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (audio) = frame_time (k + 1) - frame_time (k);
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
    GST_BUFFER_DURATION (video) = GST_BUFFER_DURATION (audio) ? frame_time (k +
        1) - frame_time (k) : 0;
    GST_BUFFER_OFFSET (video) = k;
    GST_BUFFER_OFFSET_END (video) = k + 1;
    out_queue_push (self, &self->vq, GST_MINI_OBJECT_CAST (video));
  } else {
    /* live mode before the backend's very first frame: nothing to repeat */
    out_queue_push (self, &self->vq,
        GST_MINI_OBJECT_CAST (gst_event_new_gap (pts, FRAME_DURATION)));
  }
  out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (audio));
  ditto_chunker_trim (&self->chunker, (k + 1) * SPF);
}

static void
queue_eos (GstDittoTalkingHead * self)
{
  if (self->eos_sent)
    return;
  self->eos_sent = TRUE;
  out_queue_push (self, &self->vq, GST_MINI_OBJECT_CAST (gst_event_new_eos ()));
  out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (gst_event_new_eos ()));
}

static void
post_stats (GstDittoTalkingHead * self, gboolean force)
{
  gint64 now = g_get_monotonic_time ();
  guint64 out, late, silence;
  GstClockTime vpts, apts;
  gdouble fps = 0.0;
  GstStructure *s;

  g_mutex_lock (&self->lock);
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
  vpts = self->vq.last_pts;
  apts = self->aq.last_pts;
  if (now > self->stats_last_time)
    fps = (gdouble) (out - self->stats_last_frames) * G_USEC_PER_SEC /
        (gdouble) (now - self->stats_last_time);
  self->stats_last_time = now;
  self->stats_last_frames = out;
  g_mutex_unlock (&self->lock);

  s = gst_structure_new ("ditto-stats",
      "frames-out", G_TYPE_UINT64, out,
      "frames-late", G_TYPE_UINT64, late,
      "silence-frames", G_TYPE_UINT64, silence, "fps", G_TYPE_DOUBLE, fps, NULL);
  /* Last PTS pushed on each pad: their difference is the element's A/V drift. */
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

/* ------------------------------------------------------------------ */
/* backend callbacks (any thread) */

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
  emit_frame (self, frame_index, buffer, frame_time (frame_index));
  self->next_out_frame++;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
on_backend_error (const GError * error, gpointer user_data)
{
  GstDittoTalkingHead *self = user_data;

  GST_ELEMENT_ERROR (self, STREAM, FAILED,
      ("Animation backend '%s' failed: %s", self->bclass->name,
          error ? error->message : "unknown error"), (NULL));
  g_mutex_lock (&self->lock);
  self->fatal = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
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

/* ------------------------------------------------------------------ */
/* class */

static void
gst_ditto_talking_head_class_init (GstDittoTalkingHeadClass * klass)
{
  GObjectClass *gobject_class = (GObjectClass *) klass;
  GstElementClass *element_class = (GstElementClass *) klass;
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags session = rw | GST_PARAM_MUTABLE_READY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  GST_DEBUG_CATEGORY_INIT (gst_ditto_talking_head_debug, "dittotalkinghead", 0,
      "Ditto talking-head animation");

  gobject_class->set_property = gst_ditto_talking_head_set_property;
  gobject_class->get_property = gst_ditto_talking_head_get_property;
  gobject_class->finalize = gst_ditto_talking_head_finalize;

  g_object_class_install_property (gobject_class, PROP_SOURCE_IMAGE,
      g_param_spec_string ("source-image", "Source image",
          "Path of the portrait to animate (PNG, JPEG or WebP; at most 8192 "
          "pixels per side and 40 megapixels)", NULL, session));
  g_object_class_install_property (gobject_class, PROP_FRAME_SCALE,
      g_param_spec_double ("frame-scale", "Frame scale",
          "Output size as a fraction of the source image size (rounded to even "
          "numbers)", 0.1, 1.0, DEFAULT_FRAME_SCALE, session));
  g_object_class_install_property (gobject_class, PROP_SAMPLING_TIMESTEPS,
      g_param_spec_uint ("sampling-timesteps", "Sampling timesteps",
          "Smoothing iterations of the motion trajectory per chunk (more is "
          "smoother and costlier)", 5, 100, DEFAULT_SAMPLING_TIMESTEPS,
          session));
  g_object_class_install_property (gobject_class, PROP_CHUNK_CONFIG,
      g_param_spec_string ("chunk-config", "Chunk configuration",
          "Audio frames of context per chunk as \"past,current,future\" (each "
          ">= 1, sum 5..20); future frames are lookahead and add latency",
          DEFAULT_CHUNK_CONFIG, session));
  g_object_class_install_property (gobject_class, PROP_CHUNK_SLEEP,
      g_param_spec_double ("chunk-sleep", "Chunk sleep",
          "Seconds to pause after each chunk in offline mode (pacing when audio "
          "arrives faster than real time)", 0.0, 3600.0, DEFAULT_CHUNK_SLEEP,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_string ("backend", "Backend",
          "Animation backend by name (\"builtin\": the CPU animator; \"ditto\": "
          "the Ditto model in a worker process, see worker-socket)",
          DEFAULT_BACKEND, session));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "offline: as fast as audio arrives; live: 25 fps on the pipeline "
          "clock with idle animation while input starves",
          GST_TYPE_DITTO_MODE, DEFAULT_MODE, session));
  g_object_class_install_property (gobject_class, PROP_FACE_BOX,
      g_param_spec_string ("face-box", "Face box",
          "Face box \"x,y,w,h\" in source image pixels overriding detection; "
          "empty to detect", "", session));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint ("seed", "Seed",
          "Seed of the idle motion (blinks, head sway): equal seeds give equal "
          "renders", 0, G_MAXUINT32, DEFAULT_SEED, session));
  g_object_class_install_property (gobject_class, PROP_MODEL_DIR,
      g_param_spec_string ("model-dir", "Model directory",
          "Directory with the model files of a model backend (unused by "
          "builtin)", NULL, session));
  g_object_class_install_property (gobject_class, PROP_WORKER_SOCKET,
      g_param_spec_string ("worker-socket", "Worker socket",
          "backend=ditto: unix socket of the Ditto worker pool (python3 -m "
          "ditto_worker.pool) or of a single worker; unset: $DITTO_WORKER_SOCKET",
          NULL, session));
  g_object_class_install_property (gobject_class, PROP_WORKER_TICKET,
      g_param_spec_string ("worker-ticket", "Worker ticket",
          "backend=ditto: a worker reservation from the pool (the server "
          "reserves one per offer); unset: any idle worker", NULL, session));
  g_object_class_install_property (gobject_class, PROP_WORKER_TIMEOUT,
      g_param_spec_double ("worker-timeout", "Worker timeout",
          "backend=ditto: seconds without an answer from the worker, while "
          "audio or the end of stream is outstanding, before the session fails",
          0.1, 3600.0, DEFAULT_WORKER_TIMEOUT, session));
  g_object_class_install_property (gobject_class, PROP_OVERLAP_V2,
      g_param_spec_uint ("overlap-v2", "Overlap",
          "backend=ditto: frames two motion windows of 80 share (40..79 in "
          "streaming; more is lower latency and costlier); 0: the model "
          "config's value", 0, 79, DEFAULT_OVERLAP_V2, session));
  g_object_class_install_property (gobject_class, PROP_FRAMES_OUT,
      g_param_spec_uint64 ("frames-out", "Frames out",
          "Video frames pushed so far", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_FRAMES_LATE,
      g_param_spec_uint64 ("frames-late", "Frames late",
          "Live mode: frames the backend missed the deadline for (the previous "
          "frame was repeated)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_SILENCE_FRAMES,
      g_param_spec_uint64 ("silence-frames", "Silence frames",
          "Live mode: frames animated from silence because input starved", 0,
          G_MAXUINT64, 0, ro));
  /**
   * GstDittoTalkingHead:interrupt:
   *
   * Write TRUE to drop every input sample not yet on the timeline (live
   * mode) and return the face to idle at once: frames animated ahead of the
   * clock (all but the next two due) are dropped and re-animated from
   * silence, their audio becomes silence with the same timestamps (A/V
   * lockstep holds), and the backend is reset. The stream goes on with
   * silence. Reads FALSE. Posts a "ditto-interrupt" element message with
   * the samples ("dropped-samples") and frames ("dropped-frames") dropped.
   */
  g_object_class_install_property (gobject_class, PROP_INTERRUPT,
      g_param_spec_boolean ("interrupt", "Interrupt",
          "Live mode: write TRUE to drop queued input audio at once (barge-in)",
          FALSE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_set_static_metadata (element_class,
      "Ditto talking head", "Filter/Effect/Converter/Video/Audio",
      "Animates a portrait from 16 kHz speech and passes the audio through "
      "frame-locked", "ditto-gst developers");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_ditto_talking_head_change_state);

  gst_type_mark_as_plugin_api (GST_TYPE_DITTO_MODE, 0);
}

static GstPad *
make_src_pad (GstDittoTalkingHead * self, GstStaticPadTemplate * templ)
{
  GstPad *pad = gst_pad_new_from_static_template (templ, templ->name_template);

  gst_pad_set_query_function (pad,
      GST_DEBUG_FUNCPTR (gst_ditto_talking_head_src_query));
  gst_pad_set_event_function (pad,
      GST_DEBUG_FUNCPTR (gst_ditto_talking_head_src_event));
  gst_pad_set_activatemode_function (pad,
      GST_DEBUG_FUNCPTR (gst_ditto_talking_head_src_activate_mode));
  gst_pad_use_fixed_caps (pad);
  gst_element_add_pad (GST_ELEMENT_CAST (self), pad);
  return pad;
}

static void
gst_ditto_talking_head_init (GstDittoTalkingHead * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_ditto_talking_head_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_ditto_talking_head_sink_event));
  gst_pad_set_query_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_ditto_talking_head_sink_query));
  gst_element_add_pad (GST_ELEMENT_CAST (self), self->sinkpad);

  self->video_srcpad = make_src_pad (self, &video_template);
  self->audio_srcpad = make_src_pad (self, &audio_template);
  self->vq.pad = self->video_srcpad;
  self->aq.pad = self->audio_srcpad;
  self->vq.flushing = self->aq.flushing = TRUE;

  self->frame_scale = DEFAULT_FRAME_SCALE;
  self->sampling_timesteps = DEFAULT_SAMPLING_TIMESTEPS;
  parse_chunk_config (DEFAULT_CHUNK_CONFIG, &self->chunk_past,
      &self->chunk_current, &self->chunk_future);
  self->chunk_sleep = DEFAULT_CHUNK_SLEEP;
  self->backend_name = g_strdup (DEFAULT_BACKEND);
  self->mode = DEFAULT_MODE;
  self->seed = DEFAULT_SEED;
  self->worker_timeout = DEFAULT_WORKER_TIMEOUT;
  self->overlap_v2 = DEFAULT_OVERLAP_V2;

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->vq.items);
  g_queue_init (&self->aq.items);
  g_queue_init (&self->ready);
  self->fifo = g_array_new (FALSE, FALSE, sizeof (gfloat));
  self->flushing = TRUE;
  self->flow_combiner = gst_flow_combiner_new ();
  gst_flow_combiner_add_pad (self->flow_combiner, self->video_srcpad);
  gst_flow_combiner_add_pad (self->flow_combiner, self->audio_srcpad);
  self->live_start = GST_CLOCK_TIME_NONE;
}

static void
gst_ditto_talking_head_finalize (GObject * object)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (object);

  g_free (self->source_image);
  g_free (self->backend_name);
  g_free (self->model_dir);
  g_free (self->worker_socket);
  g_free (self->worker_ticket);
  out_queue_clear (&self->vq);
  out_queue_clear (&self->aq);
  g_queue_clear_full (&self->ready, (GDestroyNotify) gst_buffer_unref);
  g_array_unref (self->fifo);
  gst_flow_combiner_free (self->flow_combiner);
  ditto_chunker_clear (&self->chunker);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* Session properties can only change in NULL or READY. */
static gboolean
check_mutable (GstDittoTalkingHead * self, GParamSpec * pspec)
{
  GstState state;

  GST_OBJECT_LOCK (self);
  state = GST_STATE (self);
  if (GST_STATE_PENDING (self) != GST_STATE_VOID_PENDING)
    state = MAX (state, GST_STATE_PENDING (self));
  GST_OBJECT_UNLOCK (self);
  if (state > GST_STATE_READY) {
    g_warning ("dittotalkinghead: property '%s' can only be changed in the "
        "NULL or READY state; keeping the current value", pspec->name);
    return FALSE;
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
static void
interrupt_input (GstDittoTalkingHead * self)
{
  guint dropped = 0;
  guint64 from = 0, frames = 0;
  gboolean rewind;

  g_mutex_lock (&self->lock);
  if (self->fifo != NULL) {
    dropped = self->fifo->len;
    g_array_set_size (self->fifo, 0);
    g_cond_broadcast (&self->cond);     /* a chain blocked on a full fifo */
  }
  rewind = self->session_mode == GST_DITTO_MODE_LIVE && self->backend
      && self->live_thread && !self->chunker.eos && !self->live_drained
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

  GST_INFO_OBJECT (self, "interrupt: dropped %u queued samples and %"
      G_GUINT64_FORMAT " frames animated ahead", dropped, frames);
  gst_element_post_message (GST_ELEMENT_CAST (self),
      gst_message_new_element (GST_OBJECT_CAST (self),
          gst_structure_new ("ditto-interrupt", "dropped-samples",
              G_TYPE_UINT, dropped, "dropped-frames", G_TYPE_UINT64, frames,
              NULL)));
}

static void
gst_ditto_talking_head_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (object);

  if (prop_id == PROP_INTERRUPT) {
    if (g_value_get_boolean (value))
      interrupt_input (self);
    return;
  }
  if (prop_id != PROP_CHUNK_SLEEP && !check_mutable (self, pspec))
    return;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_SOURCE_IMAGE:
      g_free (self->source_image);
      self->source_image = g_value_dup_string (value);
      break;
    case PROP_FRAME_SCALE:
      self->frame_scale = g_value_get_double (value);
      break;
    case PROP_SAMPLING_TIMESTEPS:
      self->sampling_timesteps = g_value_get_uint (value);
      break;
    case PROP_CHUNK_CONFIG:{
      const gchar *str = g_value_get_string (value);
      guint p, c, f;
      if (parse_chunk_config (str, &p, &c, &f)) {
        self->chunk_past = p;
        self->chunk_current = c;
        self->chunk_future = f;
      } else {
        g_warning ("dittotalkinghead: invalid chunk-config '%s': expected "
            "\"past,current,future\" with each >= 1 and a sum of 5..20; "
            "keeping %u,%u,%u", str ? str : "(null)", self->chunk_past,
            self->chunk_current, self->chunk_future);
      }
      break;
    }
    case PROP_CHUNK_SLEEP:
      g_mutex_lock (&self->lock);
      self->chunk_sleep = g_value_get_double (value);
      self->sleep_epoch++;      /* a shorter sleep takes effect at once */
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      break;
    case PROP_BACKEND:
      g_free (self->backend_name);
      self->backend_name = g_value_dup_string (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_FACE_BOX:{
      const gchar *str = g_value_get_string (value);
      gint box[4];
      if (parse_face_box (str, box)) {
        memcpy (self->face_box, box, sizeof (box));
      } else {
        g_warning ("dittotalkinghead: invalid face-box '%s': expected "
            "\"x,y,w,h\" in source pixels (w, h >= 1) or an empty string; "
            "keeping the old value", str);
      }
      break;
    }
    case PROP_SEED:
      self->seed = g_value_get_uint (value);
      break;
    case PROP_MODEL_DIR:
      g_free (self->model_dir);
      self->model_dir = g_value_dup_string (value);
      break;
    case PROP_WORKER_SOCKET:
      g_free (self->worker_socket);
      self->worker_socket = g_value_dup_string (value);
      break;
    case PROP_WORKER_TICKET:
      g_free (self->worker_ticket);
      self->worker_ticket = g_value_dup_string (value);
      break;
    case PROP_WORKER_TIMEOUT:
      self->worker_timeout = g_value_get_double (value);
      break;
    case PROP_OVERLAP_V2:
      self->overlap_v2 = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ditto_talking_head_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (object);

  if (prop_id == PROP_INTERRUPT) {
    g_value_set_boolean (value, FALSE);
    return;
  }
  switch (prop_id) {
    case PROP_FRAMES_OUT:
    case PROP_FRAMES_LATE:
    case PROP_SILENCE_FRAMES:
      g_mutex_lock (&self->lock);
      g_value_set_uint64 (value, prop_id == PROP_FRAMES_OUT ? self->frames_out :
          prop_id == PROP_FRAMES_LATE ? self->frames_late :
          self->silence_frames);
      g_mutex_unlock (&self->lock);
      return;
    default:
      break;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_SOURCE_IMAGE:
      g_value_set_string (value, self->source_image);
      break;
    case PROP_FRAME_SCALE:
      g_value_set_double (value, self->frame_scale);
      break;
    case PROP_SAMPLING_TIMESTEPS:
      g_value_set_uint (value, self->sampling_timesteps);
      break;
    case PROP_CHUNK_CONFIG:
      g_value_take_string (value, g_strdup_printf ("%u,%u,%u",
              self->chunk_past, self->chunk_current, self->chunk_future));
      break;
    case PROP_CHUNK_SLEEP:
      g_value_set_double (value, self->chunk_sleep);
      break;
    case PROP_BACKEND:
      g_value_set_string (value, self->backend_name);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_FACE_BOX:
      if (self->face_box[2] > 0)
        g_value_take_string (value, g_strdup_printf ("%d,%d,%d,%d",
                self->face_box[0], self->face_box[1], self->face_box[2],
                self->face_box[3]));
      else
        g_value_set_string (value, "");
      break;
    case PROP_SEED:
      g_value_set_uint (value, self->seed);
      break;
    case PROP_MODEL_DIR:
      g_value_set_string (value, self->model_dir);
      break;
    case PROP_WORKER_SOCKET:
      g_value_set_string (value, self->worker_socket);
      break;
    case PROP_WORKER_TICKET:
      g_value_set_string (value, self->worker_ticket);
      break;
    case PROP_WORKER_TIMEOUT:
      g_value_set_double (value, self->worker_timeout);
      break;
    case PROP_OVERLAP_V2:
      g_value_set_uint (value, self->overlap_v2);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------ */
/* latency */

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
  GstClockTime up_min = 0, up_max = 0;
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
  lookahead = frame_time ((up_live ? cur + fut : 0) + self->extra_latency_frames);
  return lookahead + jitter + LIVE_PROCESSING_ALLOWANCE;
}

static gboolean
handle_latency_query (GstDittoTalkingHead * self, GstQuery * query)
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

  ours = frame_time (cur + fut + self->extra_latency_frames);
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

/* ------------------------------------------------------------------ */
/* session open / close */

static gboolean
choose_render_format (GstDittoTalkingHead * self, gint width, gint height)
{
  GstCaps *filter, *peer;
  GstVideoFormat fmt = GST_VIDEO_FORMAT_I420;
  GstStructure *s;
  const gchar *name;

  gst_video_info_set_format (&self->render_info, fmt, width, height);
  filter = video_caps_for (self, GST_VIDEO_FORMAT_I420);
  peer = gst_pad_peer_query_caps (self->video_srcpad, filter);
  gst_caps_unref (filter);
  if (gst_caps_is_empty (peer)) {
    gst_caps_unref (peer);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream of the video pad accepts none of I420, RGB or RGBx at "
            "%dx%d, 25/1", width, height), (NULL));
    return FALSE;
  }
  peer = gst_caps_fixate (peer);
  s = gst_caps_get_structure (peer, 0);
  name = gst_structure_get_string (s, "format");
  if (name)
    fmt = gst_video_format_from_string (name);
  if (fmt != GST_VIDEO_FORMAT_I420 && fmt != GST_VIDEO_FORMAT_RGB
      && fmt != GST_VIDEO_FORMAT_RGBx)
    fmt = GST_VIDEO_FORMAT_I420;
  gst_caps_unref (peer);
  gst_video_info_set_format (&self->render_info, fmt, width, height);
  GST_VIDEO_INFO_FPS_N (&self->render_info) = DITTO_FPS;
  GST_VIDEO_INFO_FPS_D (&self->render_info) = 1;
  GST_INFO_OBJECT (self, "rendering %s %dx%d", gst_video_format_to_string (fmt),
      width, height);
  return TRUE;
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
  out_queue_push (self, &self->vq, GST_MINI_OBJECT_CAST (ev));

  id = gst_pad_create_stream_id (self->audio_srcpad, GST_ELEMENT_CAST (self),
      "audio");
  ev = gst_event_new_stream_start (id);
  gst_event_set_group_id (ev, group);
  g_free (id);
  out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (ev));

  /* video caps are negotiated by the video task before this segment */
  gst_segment_init (&seg, GST_FORMAT_TIME);
  out_queue_push (self, &self->vq,
      GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
}

static gboolean
session_open (GstDittoTalkingHead * self)
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
        ("face-box %d,%d,%d,%d lies outside the %dx%d source image",
            self->config.face_box[0], self->config.face_box[1],
            self->config.face_box[2], self->config.face_box[3],
            self->image->width, self->image->height), (NULL));
    goto fail;
  }

  width = scaled_even (self->image->width, scale);
  height = scaled_even (self->image->height, scale);
  if (!choose_render_format (self, width, height))
    goto fail;

  self->config.source_rgb = self->image->rgb;
  self->config.source_width = self->image->width;
  self->config.source_height = self->image->height;
  self->config.source_stride = self->image->stride;
  self->config.source_path = path;      /* freed in session_close */
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
  self->eos_posted = FALSE;
  self->frames_out = self->frames_late = self->silence_frames = 0;
  self->stats_last_time = 0;
  self->video_negotiated = FALSE;
  self->live_start = GST_CLOCK_TIME_NONE;
  self->live_base_frame = 0;
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
  g_free ((gchar *) self->config.worker_socket);
  g_free ((gchar *) self->config.worker_ticket);
  self->config.worker_socket = self->config.worker_ticket = NULL;
  ditto_image_free (self->image);
  self->image = NULL;
  return FALSE;
}

static void
session_close (GstDittoTalkingHead * self)
{
  if (self->backend) {
    self->bclass->close (self->backend);
    self->backend = NULL;
  }
  ditto_image_free (self->image);
  self->image = NULL;
  g_free ((gchar *) self->config.source_path);
  g_free ((gchar *) self->config.model_dir);
  g_free ((gchar *) self->config.worker_socket);
  g_free ((gchar *) self->config.worker_ticket);
  memset (&self->config, 0, sizeof (self->config));

  g_mutex_lock (&self->lock);
  out_queue_clear (&self->vq);
  out_queue_clear (&self->aq);
  g_queue_clear_full (&self->ready, (GDestroyNotify) gst_buffer_unref);
  g_queue_init (&self->ready);
  g_array_set_size (self->fifo, 0);
  gst_buffer_replace (&self->last_video, NULL);
  ditto_chunker_clear (&self->chunker);
  g_mutex_unlock (&self->lock);

  if (self->converter) {
    gst_video_converter_free (self->converter);
    self->converter = NULL;
  }
  self->extra_latency_frames = 0;
}

/* ------------------------------------------------------------------ */
/* feeding */

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
    while (!self->flushing && !self->fatal && out_queues_full (self))
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

/* The first input buffer is the first moment upstream's liveness is certain
 * (decodebin exposes its pad late). A non-live, already buffered source needs
 * no real-time wait for the lookahead: shorten the schedule if nothing has
 * gone out yet, so the first frame is not held back for (current + future)
 * frames. */
static void
live_refine_latency (GstDittoTalkingHead * self)
{
  GstClockTime latency = live_latency (self);
  gboolean changed = FALSE;

  g_mutex_lock (&self->lock);
  self->live_latency_checked = TRUE;
  if (self->live_thread && latency < self->live_latency
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
  }
  g_mutex_unlock (&self->lock);
  if (changed)
    gst_element_post_message (GST_ELEMENT_CAST (self),
        gst_message_new_latency (GST_OBJECT_CAST (self)));
}

static GstFlowReturn
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
      && self->live_thread) {
    g_mutex_unlock (&self->lock);
    live_refine_latency (self);
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
    queue_eos (self);
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
    queue_eos (self);
  }
  g_mutex_unlock (&self->lock);
}

/* ------------------------------------------------------------------ */
/* live mode producer */

/* Called with the lock: put input on the timeline up to sample `upto`,
 * silence where the input starved. */
static void
live_assign (GstDittoTalkingHead * self, guint64 upto)
{
  guint64 end = ditto_chunker_end (&self->chunker);
  gsize need, take, pad;

  if (self->chunker.eos || upto <= end)
    return;
  need = upto - end;
  take = MIN (need, self->fifo->len);
  if (take > 0) {
    ditto_chunker_append (&self->chunker, (gfloat *) self->fifo->data, take,
        TRUE);
    g_array_remove_range (self->fifo, 0, take);
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

static void send_audio_caps (GstDittoTalkingHead * self,
    GstAudioFormat format);

static void
live_emit (GstDittoTalkingHead * self)
{
  guint64 k = self->next_out_frame;

  /* Input whose caps come late (the viewer's microphone arrives after the
   * connection) must not stop the idle stream: S16LE until then; later
   * input in another format is converted to it. */
  if (!self->audio_caps_sent)
    send_audio_caps (self, GST_AUDIO_FORMAT_S16LE);

  GstBuffer *video = NULL, *head;
  GstClockTime pts = self->live_start + frame_time (k - self->live_base_frame);

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
  emit_frame (self, k, video, pts);
  self->next_out_frame++;
}

static gpointer
live_thread_func (gpointer data)
{
  GstDittoTalkingHead *self = data;
  GstClock *clock = gst_element_get_clock (GST_ELEMENT_CAST (self));
  GstClockTime base_time = gst_element_get_base_time (GST_ELEMENT_CAST (self));
  GError *err = NULL;

  if (clock == NULL)
    clock = gst_system_clock_obtain ();

  g_mutex_lock (&self->lock);
  while (self->live_running && !self->fatal) {
    guint64 feed_from, total;
    GstClockTime t_feed, t_out;
    gboolean do_feed;

    if (self->flushing) {
      g_cond_wait (&self->cond, &self->lock);
      continue;
    }
    if (!GST_CLOCK_TIME_IS_VALID (self->live_start)) {
      GstClockTime now = gst_clock_get_time (clock);
      self->live_start = now > base_time ? now - base_time : 0;
      self->live_base_frame = self->next_out_frame;
      GST_INFO_OBJECT (self, "live output starts at running time %"
          GST_TIME_FORMAT ", latency %" GST_TIME_FORMAT,
          GST_TIME_ARGS (self->live_start), GST_TIME_ARGS (self->live_latency));
    }

    if (self->chunker.eos) {
      total = ditto_chunker_total_frames (&self->chunker);
      if (self->next_out_frame >= total && self->live_drained) {
        queue_eos (self);
        break;
      }
    }

    /* A chunk starting at frame f is fed when frame f - extra must go out,
     * less the compute allowance; for live input live_latency makes that the
     * moment its lookahead has arrived (see live_latency()). */
    feed_from = self->chunker.next_frame;
    t_feed = self->live_start + frame_time (feed_from - self->live_base_frame) +
        (self->live_latency - LIVE_PROCESSING_ALLOWANCE -
        frame_time (self->extra_latency_frames));
    t_out = self->live_start + frame_time (self->next_out_frame -
        self->live_base_frame) + self->live_latency;
    do_feed = !self->live_drained && t_feed <= t_out;

    if (live_wait (self, clock, base_time,
            do_feed ? t_feed : t_out) == GST_CLOCK_UNSCHEDULED)
      continue;
    if (!self->live_running || self->flushing || self->fatal)
      continue;

    if (do_feed) {
      DittoChunk chunk;
      live_assign (self, (feed_from + self->session_current +
              self->session_future) * SPF);
      if (ditto_chunker_next (&self->chunker, &chunk)) {
        gboolean ok;
        g_mutex_unlock (&self->lock);
        ok = self->bclass->feed (self->backend, &chunk, &err);
        if (ok && chunk.is_last)
          ok = self->bclass->drain (self->backend, &err);
        g_mutex_lock (&self->lock);
        if (chunk.is_last)
          self->live_drained = TRUE;
        if (!ok) {
          g_mutex_unlock (&self->lock);
          GST_ELEMENT_ERROR (self, STREAM, FAILED,
              ("Animation backend '%s' failed: %s", self->bclass->name,
                  err ? err->message : "unknown error"), (NULL));
          g_clear_error (&err);
          g_mutex_lock (&self->lock);
          self->fatal = TRUE;
        }
      } else if (self->chunker.eos) {
        /* nothing left to feed (e.g. no audio ever arrived) */
        self->live_drained = TRUE;
      }
    } else {
      live_emit (self);
    }
  }
  g_mutex_unlock (&self->lock);
  gst_object_unref (clock);
  return NULL;
}

static void
live_start_thread (GstDittoTalkingHead * self)
{
  GstClockTime latency = live_latency (self);

  g_mutex_lock (&self->lock);
  if (self->live_thread == NULL) {
    self->live_latency = latency;
    self->live_latency_checked = FALSE;
    self->live_start = GST_CLOCK_TIME_NONE;
    self->live_running = TRUE;
    self->live_thread = g_thread_new ("dittolive", live_thread_func, self);
  }
  g_mutex_unlock (&self->lock);
}

static void
live_stop_thread (GstDittoTalkingHead * self)
{
  GThread *thread;

  g_mutex_lock (&self->lock);
  self->live_running = FALSE;
  if (self->live_clock_id)
    gst_clock_id_unschedule (self->live_clock_id);
  g_cond_broadcast (&self->cond);
  thread = self->live_thread;
  self->live_thread = NULL;
  g_mutex_unlock (&self->lock);
  if (thread)
    g_thread_join (thread);
}

/* ------------------------------------------------------------------ */
/* events and queries */

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
    send_audio_caps (self, self->in_format);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* Called with the lock: the audio src keeps the first format: the timeline
 * is float and any later input format is converted back to it. */
static void
send_audio_caps (GstDittoTalkingHead * self, GstAudioFormat format)
{
  GstCaps *out;
  GstSegment seg;

  self->out_format = format;
  self->audio_caps_sent = TRUE;
  out = gst_caps_new_simple ("audio/x-raw",
      "format", G_TYPE_STRING, gst_audio_format_to_string (format),
      "rate", G_TYPE_INT, DITTO_SAMPLE_RATE, "channels", G_TYPE_INT, 1,
      "layout", G_TYPE_STRING, "interleaved", NULL);
  out_queue_push (self, &self->aq,
      GST_MINI_OBJECT_CAST (gst_event_new_caps (out)));
  gst_caps_unref (out);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  out_queue_push (self, &self->aq,
      GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
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
  out_queue_clear (&self->vq);
  out_queue_clear (&self->aq);
  g_queue_clear_full (&self->ready, (GDestroyNotify) gst_buffer_unref);
  g_queue_init (&self->ready);
  g_array_set_size (self->fifo, 0);
  ditto_chunker_reset (&self->chunker);
  self->next_out_frame = 0;
  self->eos_received = self->eos_sent = FALSE;
  self->live_start = GST_CLOCK_TIME_NONE;
  self->live_base_frame = 0;
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
  out_queue_push (self, &self->vq,
      GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)));
  if (self->audio_caps_sent)
    out_queue_push (self, &self->aq,
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

static gboolean
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
          out_queue_push (self, &self->vq,
              GST_MINI_OBJECT_CAST (gst_event_ref (event)));
        out_queue_push (self, &self->aq, GST_MINI_OBJECT_CAST (event));
        g_mutex_unlock (&self->lock);
        return TRUE;
      }
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
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

static gboolean
gst_ditto_talking_head_src_query (GstPad * pad, GstObject * parent,
    GstQuery * query)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:
      return handle_latency_query (self, query);
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps;
      gst_query_parse_caps (query, &filter);
      if (pad == self->video_srcpad && self->image) {
        caps = video_caps_for (self,
            GST_VIDEO_INFO_FORMAT (&self->render_info));
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

static gboolean
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

/* ------------------------------------------------------------------ */
/* src tasks */

/* (Re)negotiate the video caps; converts frames when downstream wants a
 * format other than the one the backend renders. */
static gboolean
negotiate_video (GstDittoTalkingHead * self)
{
  GstCaps *filter, *peer;
  GstVideoInfo info;

  filter = video_caps_for (self, GST_VIDEO_INFO_FORMAT (&self->render_info));
  peer = gst_pad_peer_query_caps (self->video_srcpad, filter);
  gst_caps_unref (filter);
  if (gst_caps_is_empty (peer)) {
    gst_caps_unref (peer);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream of the video pad accepts none of I420, RGB or RGBx at "
            "%dx%d, 25/1", GST_VIDEO_INFO_WIDTH (&self->render_info),
            GST_VIDEO_INFO_HEIGHT (&self->render_info)), (NULL));
    return FALSE;
  }
  peer = gst_caps_fixate (peer);
  if (!gst_video_info_from_caps (&info, peer)) {
    gst_caps_unref (peer);
    return FALSE;
  }
  if (!self->video_negotiated || !gst_video_info_is_equal (&info,
          &self->out_info)) {
    GST_INFO_OBJECT (self, "video caps %" GST_PTR_FORMAT, peer);
    if (self->converter) {
      gst_video_converter_free (self->converter);
      self->converter = NULL;
    }
    if (GST_VIDEO_INFO_FORMAT (&info) !=
        GST_VIDEO_INFO_FORMAT (&self->render_info))
      self->converter = gst_video_converter_new (&self->render_info, &info,
          NULL);
    self->out_info = info;
    gst_pad_push_event (self->video_srcpad, gst_event_new_caps (peer));
    self->video_negotiated = TRUE;
  }
  gst_caps_unref (peer);
  return TRUE;
}

static GstBuffer *
convert_video (GstDittoTalkingHead * self, GstBuffer * in)
{
  GstVideoFrame src, dst;
  GstBuffer *out;

  if (self->converter == NULL)
    return in;
  out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&self->out_info),
      NULL);
  gst_buffer_copy_into (out, in, GST_BUFFER_COPY_METADATA, 0, -1);
  if (gst_video_frame_map (&src, &self->render_info, in, GST_MAP_READ)) {
    if (gst_video_frame_map (&dst, &self->out_info, out, GST_MAP_WRITE)) {
      gst_video_converter_frame (self->converter, &src, &dst);
      gst_video_frame_unmap (&dst);
    }
    gst_video_frame_unmap (&src);
  }
  gst_buffer_unref (in);
  return out;
}

static void
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
  if (q->flushing || self->fatal) {
    g_mutex_unlock (&self->lock);
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
      if (!negotiate_video (self)) {
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
      if (gst_pad_check_reconfigure (pad) || !self->video_negotiated) {
        if (!negotiate_video (self)) {
          gst_pad_mark_reconfigure (pad);
          gst_buffer_unref (buf);
          ret = GST_FLOW_NOT_NEGOTIATED;
          goto flow;
        }
      }
      buf = convert_video (self, buf);
    }
    {
      GstClockTime pts = GST_BUFFER_PTS (buf);

      ret = gst_pad_push (pad, buf);
      if (ret == GST_FLOW_OK) {
        g_mutex_lock (&self->lock);
        q->last_pts = pts;
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

static gboolean
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
    g_mutex_unlock (&self->lock);
    return gst_pad_start_task (pad,
        (GstTaskFunction) gst_ditto_talking_head_src_loop, pad, NULL);
  }
  g_mutex_lock (&self->lock);
  q->flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return gst_pad_stop_task (pad);
}

/* ------------------------------------------------------------------ */
/* state */

static GstStateChangeReturn
gst_ditto_talking_head_change_state (GstElement * element,
    GstStateChange transition)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (element);
  GstStateChangeReturn ret;
  gboolean live;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!session_open (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      live_stop_thread (self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      self->vq.flushing = self->aq.flushing = TRUE;
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      live_stop_thread (self);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
      session_close (self);
    return ret;
  }

  live = self->session_mode == GST_DITTO_MODE_LIVE;
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (live)
        ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      if (live)
        live_start_thread (self);
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      if (live)
        ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      session_close (self);
      break;
    default:
      break;
  }
  return ret;
}
