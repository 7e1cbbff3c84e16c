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
 * Input is placed by running time: a gap in its timestamps (or a GAP event)
 * becomes silence. In live mode, input whose timestamps follow its sample
 * count that arrives after its slot is dropped, so stalls do not add up to
 * latency; untimed input (or input pushed faster than real time with
 * do-timestamp) is taken in arrival order.
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

#include "gstdittotalkinghead-private.h"

#include <string.h>


GST_DEBUG_CATEGORY (gst_ditto_talking_head_debug);
#define GST_CAT_DEFAULT gst_ditto_talking_head_debug

#define DEFAULT_FRAME_SCALE 1.0
#define DEFAULT_SAMPLING_TIMESTEPS 10
#define DEFAULT_CHUNK_CONFIG "3,5,2"
#define DEFAULT_CHUNK_SLEEP 0.0
#define DEFAULT_BACKEND "builtin"
#define DEFAULT_MODE GST_DITTO_MODE_OFFLINE
#define DEFAULT_SEED 0
#define DEFAULT_WORKER_TIMEOUT 30.0
#define DEFAULT_OVERLAP_V2 0
#define DEFAULT_POST_STATS FALSE

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
  PROP_POST_STATS,
  PROP_CHUNK_PAST,
  PROP_CHUNK_CURRENT,
  PROP_CHUNK_FUTURE,
};

enum
{
  SIGNAL_INTERRUPT,
  LAST_SIGNAL
};

static guint signals[LAST_SIGNAL];

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
GST_ELEMENT_REGISTER_DEFINE (dittotalkinghead, "dittotalkinghead",
    GST_RANK_NONE, GST_TYPE_DITTO_TALKING_HEAD);

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

/* face-box: an array of 4 ints (x, y, w, h); empty or all zeros means
 * detect. The element spec already refuses negative numbers. */
static gboolean
face_box_from_value (const GValue * value, gint box[4])
{
  guint i, n = gst_value_array_get_size (value);

  memset (box, 0, 4 * sizeof (gint));
  if (n == 0)
    return TRUE;
  if (n != 4)
    return FALSE;
  for (i = 0; i < 4; i++)
    box[i] = g_value_get_int (gst_value_array_get_value (value, i));
  if (box[0] == 0 && box[1] == 0 && box[2] == 0 && box[3] == 0)
    return TRUE;
  return box[2] >= 1 && box[3] >= 1;
}

static void
face_box_to_value (const gint box[4], GValue * value)
{
  GValue v = G_VALUE_INIT;
  guint i;

  if (box[2] == 0)
    return;                     /* automatic: the empty array */
  g_value_init (&v, G_TYPE_INT);
  for (i = 0; i < 4; i++) {
    g_value_set_int (&v, box[i]);
    gst_value_array_append_value (value, &v);
  }
  g_value_unset (&v);
}

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
  /**
   * GstDittoTalkingHead:face-box:
   *
   * The face in source image pixels as an array of four ints
   * `<x,y,width,height>` (gst-launch: `face-box="<120,80,200,200>"`),
   * overriding face detection. The empty array or all zeros: detect.
   */
  g_object_class_install_property (gobject_class, PROP_FACE_BOX,
      gst_param_spec_array ("face-box", "Face box",
          "Face box <x,y,width,height> in source image pixels overriding "
          "detection; <> (or all zeros) to detect",
          g_param_spec_int ("face-box-value", "Face box value",
              "x, y, width or height", 0, 8192, 0, G_PARAM_READWRITE |
              G_PARAM_STATIC_STRINGS), session));
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
          "backend=ditto: frames two motion windows of 80 share (40..79 "
          "except 55 and 56, which upstream's setup rejects; more is lower "
          "latency and costlier); 0: the worker's default (70)", 0, 79,
          DEFAULT_OVERLAP_V2, session));
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

  g_object_class_install_property (gobject_class, PROP_CHUNK_PAST,
      g_param_spec_uint ("chunk-past", "Chunk past",
          "Frames of audio context before each chunk (chunk-config's first "
          "number; the three must sum to 5..20)", 1, 20, 3, session));
  g_object_class_install_property (gobject_class, PROP_CHUNK_CURRENT,
      g_param_spec_uint ("chunk-current", "Chunk current",
          "Frames animated per chunk (chunk-config's second number)", 1, 20, 5,
          session));
  g_object_class_install_property (gobject_class, PROP_CHUNK_FUTURE,
      g_param_spec_uint ("chunk-future", "Chunk future",
          "Frames of lookahead per chunk; they add latency (chunk-config's "
          "third number)", 1, 20, 2, session));
  g_object_class_install_property (gobject_class, PROP_POST_STATS,
      g_param_spec_boolean ("post-stats", "Post stats",
          "Post a \"ditto-stats\" element message (frames-out, frames-late, "
          "silence-frames, late-samples, frames-dropped, fps, video-pts, "
          "audio-pts) once a second and at the end of the stream",
          DEFAULT_POST_STATS,
          rw | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDittoTalkingHead::interrupt:
   *
   * Action signal, the same as writing TRUE to
   * #GstDittoTalkingHead:interrupt: barge-in. Safe to emit from any
   * application thread at any time, also during a state change.
   */
  signals[SIGNAL_INTERRUPT] = g_signal_new_class_handler ("interrupt",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (ditto_live_interrupt), NULL, NULL, NULL, G_TYPE_NONE, 0);

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
  self->post_stats = DEFAULT_POST_STATS;
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
  g_queue_init (&self->pending_events);
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
  ditto_out_queue_clear (&self->vq);
  ditto_out_queue_clear (&self->aq);
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

static void
gst_ditto_talking_head_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (object);

  if (prop_id == PROP_INTERRUPT) {
    if (g_value_get_boolean (value))
      ditto_live_interrupt (self);
    return;
  }
  if (prop_id == PROP_POST_STATS) {
    g_mutex_lock (&self->lock);
    self->post_stats = g_value_get_boolean (value);
    g_mutex_unlock (&self->lock);
    return;
  }
  if (prop_id == PROP_CHUNK_SLEEP) {
    /* Under the element lock only: the feed path reads it holding that
     * lock, so taking the object lock as well here would invert the order. */
    g_mutex_lock (&self->lock);
    self->chunk_sleep = g_value_get_double (value);
    self->sleep_epoch++;        /* a shorter sleep takes effect at once */
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    return;
  }
  if (!check_mutable (self, pspec))
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
    case PROP_BACKEND:
      g_free (self->backend_name);
      self->backend_name = g_value_dup_string (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_FACE_BOX:{
      gint box[4];
      if (face_box_from_value (value, box)) {
        memcpy (self->face_box, box, sizeof (box));
      } else {
        GString *str = g_string_new ("<");
        guint i;
        for (i = 0; i < gst_value_array_get_size (value); i++)
          g_string_append_printf (str, "%s%d", i ? "," : "",
              g_value_get_int (gst_value_array_get_value (value, i)));
        g_string_append_c (str, '>');
        g_warning ("dittotalkinghead: invalid face-box '%s': expected "
            "<x,y,width,height> in source pixels (width, height >= 1) or "
            "<> to detect; keeping the old value", str->str);
        g_string_free (str, TRUE);
      }
      break;
    }
    case PROP_SEED:
      self->seed = g_value_get_uint (value);
      break;
    case PROP_CHUNK_PAST:
      self->chunk_past = g_value_get_uint (value);
      break;
    case PROP_CHUNK_CURRENT:
      self->chunk_current = g_value_get_uint (value);
      break;
    case PROP_CHUNK_FUTURE:
      self->chunk_future = g_value_get_uint (value);
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
    case PROP_CHUNK_SLEEP:
      g_mutex_lock (&self->lock);
      g_value_set_double (value, self->chunk_sleep);
      g_mutex_unlock (&self->lock);
      return;
    case PROP_POST_STATS:
      g_mutex_lock (&self->lock);
      g_value_set_boolean (value, self->post_stats);
      g_mutex_unlock (&self->lock);
      return;
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
    case PROP_BACKEND:
      g_value_set_string (value, self->backend_name);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_FACE_BOX:
      face_box_to_value (self->face_box, value);
      break;
    case PROP_SEED:
      g_value_set_uint (value, self->seed);
      break;
    case PROP_CHUNK_PAST:
      g_value_set_uint (value, self->chunk_past);
      break;
    case PROP_CHUNK_CURRENT:
      g_value_set_uint (value, self->chunk_current);
      break;
    case PROP_CHUNK_FUTURE:
      g_value_set_uint (value, self->chunk_future);
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

static GstStateChangeReturn
gst_ditto_talking_head_change_state (GstElement * element,
    GstStateChange transition)
{
  GstDittoTalkingHead *self = GST_DITTO_TALKING_HEAD (element);
  GstStateChangeReturn ret;
  gboolean live;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!ditto_session_open (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ditto_live_stop (self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      self->vq.flushing = self->aq.flushing = TRUE;
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      ditto_live_stop (self);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
      ditto_session_close (self);
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
        ditto_live_start (self);
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      if (live)
        ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      ditto_session_close (self);
      break;
    default:
      break;
  }
  return ret;
}
