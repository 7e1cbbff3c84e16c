/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * ditto-animator-bench: figures for the built-in animator.
 *   face detection time; per-frame render cost (I420 and RGB) and the share
 *   of one core it takes live at 25 fps; offline speed (features + motion +
 *   render through the backend, as the element drives it) in x real time.
 * With --dump DIR it also writes chosen frames as PNG for a visual check.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ditto-backend.h"
#include "ditto-animator.h"
#include "ditto-animator-media.h"

static gchar *opt_image = NULL, *opt_audio = NULL, *opt_dump = NULL;
static gchar *opt_frames = NULL, *opt_chunk = NULL, *opt_format = NULL;
static gchar *opt_face_box = NULL;
static gdouble opt_seconds = 0.0, opt_scale = 1.0;
static gint opt_timesteps = 10, opt_render_frames = 250, opt_seed = 42;
static gboolean opt_trace = FALSE;

static GOptionEntry entries[] = {
  {"image", 'i', 0, G_OPTION_ARG_FILENAME, &opt_image,
      "Portrait (default src/server/demo/media/portrait.jpg)", "PATH"},
  {"audio", 'a', 0, G_OPTION_ARG_FILENAME, &opt_audio,
      "16 kHz mono PCM16 WAV (default src/server/demo/media/speech.wav, else synthetic speech)", "PATH"},
  {"seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds,
      "Seconds of audio for the offline run (default: whole file, looped as needed; 20 s minimum)", "S"},
  {"scale", 0, 0, G_OPTION_ARG_DOUBLE, &opt_scale, "frame-scale (default 1.0)", "F"},
  {"timesteps", 't', 0, G_OPTION_ARG_INT, &opt_timesteps,
      "sampling-timesteps (default 10)", "N"},
  {"chunk", 'c', 0, G_OPTION_ARG_STRING, &opt_chunk,
      "chunk-config past,current,future (default 3,5,2)", "P,C,F"},
  {"face-box", 0, 0, G_OPTION_ARG_STRING, &opt_face_box,
      "Face box x,y,w,h in source pixels instead of detection", "X,Y,W,H"},
  {"seed", 0, 0, G_OPTION_ARG_INT, &opt_seed, "motion seed (default 42)", "N"},
  {"render-frames", 'n', 0, G_OPTION_ARG_INT, &opt_render_frames,
      "Frames timed per format (default 250)", "N"},
  {"dump", 'd', 0, G_OPTION_ARG_FILENAME, &opt_dump,
      "Write PNGs of --frames here and exit", "DIR"},
  {"frames", 'f', 0, G_OPTION_ARG_STRING, &opt_frames,
      "Frames to dump: a,b,c or first-last (default 0-49)", "LIST"},
  {"format", 0, 0, G_OPTION_ARG_STRING, &opt_format,
      "Format of dumped frames: RGB (default) or I420", "FMT"},
  {"trace", 0, 0, G_OPTION_ARG_NONE, &opt_trace,
      "Print the motion of every dumped frame", NULL},
  {NULL}
};

typedef struct {
  float *samples;
  gsize n;
} Audio;

static void
make_config (DittoBackendConfig * c, const DittoImage * img, GstVideoFormat fmt)
{
  memset (c, 0, sizeof *c);
  c->source_rgb = img->rgb;
  c->source_width = img->width;
  c->source_height = img->height;
  c->source_stride = img->stride;
  c->source_path = opt_image;
  int w = MAX (2, ((int) (img->width * opt_scale + 0.5)) & ~1);
  int h = MAX (2, ((int) (img->height * opt_scale + 0.5)) & ~1);
  gst_video_info_set_format (&c->out_info, fmt, w, h);
  GST_VIDEO_INFO_FPS_N (&c->out_info) = 25;
  GST_VIDEO_INFO_FPS_D (&c->out_info) = 1;
  c->chunk_past = 3;
  c->chunk_current = 5;
  c->chunk_future = 2;
  if (opt_chunk)
    sscanf (opt_chunk, "%u,%u,%u", &c->chunk_past, &c->chunk_current,
        &c->chunk_future);
  c->sampling_timesteps = opt_timesteps;
  c->seed = (guint32) opt_seed;
  if (opt_face_box)
    sscanf (opt_face_box, "%d,%d,%d,%d", &c->face_box[0], &c->face_box[1],
        &c->face_box[2], &c->face_box[3]);
}

/* Slices audio into chunks exactly like the element: zero past before the
 * start, zero future past the end. Calls fn per chunk. */
typedef void (*ChunkFn) (const DittoChunk * chunk, gpointer data);

static void
for_each_chunk (const DittoBackendConfig * c, const Audio * a, ChunkFn fn,
    gpointer data)
{
  const gsize spf = DITTO_SAMPLES_PER_FRAME;
  guint win = c->chunk_past + c->chunk_current + c->chunk_future;
  gsize n_frames = (a->n + spf - 1) / spf;
  float *buf = g_new0 (float, win * spf);
  for (gsize first = 0; first < n_frames; first += c->chunk_current) {
    gint64 start = (gint64) (first - c->chunk_past) * (gint64) spf;
    if (first < c->chunk_past)
      start = -(gint64) ((c->chunk_past - first) * spf);
    for (gsize i = 0; i < win * spf; i++) {
      gint64 s = start + (gint64) i;
      buf[i] = (s >= 0 && (gsize) s < a->n) ? a->samples[s] : 0.0f;
    }
    DittoChunk chunk = { 0 };
    chunk.samples = buf;
    chunk.first_frame = first;
    chunk.n_current = MIN (c->chunk_current, n_frames - first);
    gsize after = first + chunk.n_current;
    chunk.n_real_future = after >= n_frames ? 0 : MIN (c->chunk_future,
        n_frames - after);
    chunk.is_last = after >= n_frames;
    fn (&chunk, data);
  }
  g_free (buf);
}

typedef struct {
  DittoAnimator *anim;
  DittoMotion *motion;
  gsize n;
} MotionCollect;

static void
collect_motion (const DittoChunk * chunk, gpointer data)
{
  MotionCollect *mc = data;
  ditto_animator_motion (mc->anim, chunk, mc->motion + chunk->first_frame);
  mc->n = chunk->first_frame + chunk->n_current;
}

static guint64 frames_out;

static void
on_frame (guint64 k, GstBuffer * buf, gpointer user_data)
{
  frames_out++;
  gst_buffer_unref (buf);
}

static void
on_error (const GError * e, gpointer user_data)
{
  g_printerr ("backend error: %s\n", e->message);
}

static void
on_warning (const gchar * msg, gpointer user_data)
{
  g_printerr ("backend warning: %s\n", msg);
}

typedef struct {
  const DittoBackendClass *klass;
  DittoBackend *be;
} FeedData;

static void
feed_chunk (const DittoChunk * chunk, gpointer data)
{
  FeedData *fd = data;
  GError *err = NULL;
  if (!fd->klass->feed (fd->be, chunk, &err)) {
    g_printerr ("feed failed: %s\n", err->message);
    exit (1);
  }
}

static Audio
audio_of_length (const Audio * src, double seconds)
{
  Audio a;
  a.n = (gsize) (seconds * DITTO_SAMPLE_RATE);
  a.samples = g_new (float, a.n);
  for (gsize i = 0; i < a.n; i++)
    a.samples[i] = src->samples[i % src->n];
  return a;
}

static gboolean
want_frame (gsize k)
{
  const char *spec = opt_frames ? opt_frames : "0-49";
  gchar **parts = g_strsplit (spec, ",", -1);
  gboolean yes = FALSE;
  for (int i = 0; parts[i] && !yes; i++) {
    guint a, b;
    if (sscanf (parts[i], "%u-%u", &a, &b) == 2)
      yes = k >= a && k <= b;
    else if (sscanf (parts[i], "%u", &a) == 1)
      yes = k == a;
  }
  g_strfreev (parts);
  return yes;
}

static int
dump_frames (const DittoImage * img, const Audio * audio)
{
  GstVideoFormat fmt = opt_format && !g_ascii_strcasecmp (opt_format, "I420")
      ? GST_VIDEO_FORMAT_I420 : GST_VIDEO_FORMAT_RGB;
  DittoBackendConfig c;
  make_config (&c, img, fmt);
  GError *err = NULL;
  gchar *warning = NULL;
  DittoAnimator *anim = ditto_animator_new (&c, &warning, &err);
  if (!anim) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  if (warning)
    g_printerr ("warning: %s\n", warning);
  g_free (warning);
  const DittoFaceLayout *l = ditto_animator_get_layout (anim);
  printf ("layout: face %.0f,%.0f %.0fx%.0f eyes (%.0f,%.0f) (%.0f,%.0f) "
      "half %.1fx%.1f mouth (%.0f,%.0f) half-width %.1f curve %.1f%s chin %.0f %s\n",
      l->face_x, l->face_y, l->face_w, l->face_h, l->eye_x[0], l->eye_y[0],
      l->eye_x[1], l->eye_y[1], l->eye_half_w, l->eye_half_h, l->mouth_x,
      l->mouth_y, l->mouth_half_w, l->mouth_curve,
      l->teeth_visible ? " teeth" : "", l->chin_y,
      l->detected ? "detected" : "DEFAULT");

  gsize n_frames = audio->n / DITTO_SAMPLES_PER_FRAME + 1;
  MotionCollect mc = { anim, g_new0 (DittoMotion, n_frames + 8), 0 };
  for_each_chunk (&c, audio, collect_motion, &mc);
  g_mkdir_with_parents (opt_dump, 0755);
  GstVideoConverter *conv = NULL;
  GstVideoInfo rgb_info;
  gst_video_info_set_format (&rgb_info, GST_VIDEO_FORMAT_RGB,
      GST_VIDEO_INFO_WIDTH (&c.out_info), GST_VIDEO_INFO_HEIGHT (&c.out_info));
  GST_VIDEO_INFO_FPS_N (&rgb_info) = GST_VIDEO_INFO_FPS_N (&c.out_info);
  GST_VIDEO_INFO_FPS_D (&rgb_info) = GST_VIDEO_INFO_FPS_D (&c.out_info);
  if (fmt != GST_VIDEO_FORMAT_RGB)
    conv = gst_video_converter_new (&c.out_info, &rgb_info, NULL);
  for (gsize k = 0; k < mc.n; k++) {
    const DittoMotion *m = &mc.motion[k];
    if (opt_trace)
      printf ("%4" G_GSIZE_FORMAT " jaw %.2f spread %+.2f teeth %.2f blink %.2f "
          "roll %+.3f dx %+.3f dy %+.3f yaw %+.3f pitch %+.3f\n", k, m->jaw,
          m->spread, m->teeth, m->blink, m->roll, m->head_dx, m->head_dy,
          m->yaw, m->pitch);
    if (!want_frame (k))
      continue;
    GstBuffer *buf = ditto_animator_render (anim, m);
    GstVideoFrame in, out;
    GstBuffer *rgb_buf = buf;
    if (conv) {
      rgb_buf = gst_buffer_new_allocate (NULL, rgb_info.size, NULL);
      gst_video_frame_map (&in, &c.out_info, buf, GST_MAP_READ);
      gst_video_frame_map (&out, &rgb_info, rgb_buf, GST_MAP_WRITE);
      gst_video_converter_frame (conv, &in, &out);
      gst_video_frame_unmap (&in);
      gst_video_frame_unmap (&out);
    }
    GstMapInfo map;
    gst_buffer_map (rgb_buf, &map, GST_MAP_READ);
    gchar *path = g_strdup_printf ("%s/frame-%04" G_GSIZE_FORMAT ".png",
        opt_dump, k);
    if (!ditto_media_save_png (path, map.data, rgb_info.width, rgb_info.height,
            rgb_info.stride[0], 3, &err)) {
      g_printerr ("%s\n", err->message);
      return 1;
    }
    g_free (path);
    gst_buffer_unmap (rgb_buf, &map);
    if (rgb_buf != buf)
      gst_buffer_unref (rgb_buf);
    gst_buffer_unref (buf);
  }
  if (conv)
    gst_video_converter_free (conv);
  g_free (mc.motion);
  ditto_animator_free (anim);
  return 0;
}

/* CPU time of this process, microseconds: on a shared machine it says
 * what the work costs where wall time also counts the neighbours. */
static gint64
cpu_time (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void
bench_render (const DittoImage * img, const Audio * audio, GstVideoFormat fmt,
    double *ms_motion, double *ms_render, double *ms_cpu, double *ms_open)
{
  DittoBackendConfig c;
  make_config (&c, img, fmt);
  GError *err = NULL;
  gint64 t0 = g_get_monotonic_time ();
  DittoAnimator *anim = ditto_animator_new (&c, NULL, &err);
  *ms_open = (g_get_monotonic_time () - t0) / 1000.0;
  if (!anim) {
    g_printerr ("%s\n", err->message);
    exit (1);
  }
  gsize n_frames = audio->n / DITTO_SAMPLES_PER_FRAME + 1;
  MotionCollect mc = { anim, g_new0 (DittoMotion, n_frames + 8), 0 };
  t0 = g_get_monotonic_time ();
  for_each_chunk (&c, audio, collect_motion, &mc);
  *ms_motion = (g_get_monotonic_time () - t0) / 1000.0 / MAX (mc.n, 1);

  /* Warm up, then time rendering of speaking frames. */
  gsize n = MIN ((gsize) opt_render_frames, mc.n);
  for (gsize k = 0; k < MIN (n, 10); k++)
    gst_buffer_unref (ditto_animator_render (anim, &mc.motion[k]));
  t0 = g_get_monotonic_time ();
  gint64 c0 = cpu_time ();
  for (gsize k = 0; k < n; k++)
    gst_buffer_unref (ditto_animator_render (anim, &mc.motion[k]));
  *ms_render = (g_get_monotonic_time () - t0) / 1000.0 / MAX (n, 1);
  *ms_cpu = (cpu_time () - c0) / 1000.0 / MAX (n, 1);
  g_free (mc.motion);
  ditto_animator_free (anim);
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  GOptionContext *ctx = g_option_context_new ("- benchmark the built-in animator");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);

  if (!opt_image)
    opt_image = g_strdup ("src/server/demo/media/portrait.jpg");
  DittoImage img = { 0 };
  if (!ditto_media_load_image (opt_image, &img, &err)) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  Audio src = { 0 };
  const char *audio_name = "synthetic speech";
  if (!opt_audio && g_file_test ("src/server/demo/media/speech.wav", G_FILE_TEST_EXISTS))
    opt_audio = g_strdup ("src/server/demo/media/speech.wav");
  if (opt_audio) {
    src.samples = ditto_media_load_wav (opt_audio, &src.n, &err);
    if (!src.samples) {
      g_printerr ("%s\n", err->message);
      return 1;
    }
    audio_name = opt_audio;
  } else {
    src.samples = ditto_media_synth_speech (10.0, &src.n);
  }

  if (opt_dump) {
    Audio a = src;
    if (opt_seconds > 0)
      a = audio_of_length (&src, opt_seconds);
    return dump_frames (&img, &a);
  }

  double seconds = opt_seconds > 0 ? opt_seconds
      : MAX (20.0, (double) src.n / DITTO_SAMPLE_RATE);
  Audio audio = audio_of_length (&src, seconds);
  int ow = MAX (2, ((int) (img.width * opt_scale + 0.5)) & ~1);
  int oh = MAX (2, ((int) (img.height * opt_scale + 0.5)) & ~1);

  printf ("ditto-animator-bench: %s (%dx%d -> %dx%d), %s, %.1f s, "
      "sampling-timesteps %d, chunk %s\n", opt_image, img.width, img.height,
      ow, oh, audio_name, seconds, opt_timesteps, opt_chunk ? opt_chunk : "3,5,2");

  /* Face detection: the first call also loads the models. */
  DittoFaceLayout layout;
  const char *dir = g_getenv ("DITTO_CASCADE_DIR");
  if (!dir)
    dir = DITTO_CASCADE_DIR;
  gint64 t0 = g_get_monotonic_time ();
  gboolean found = ditto_face_detect (img.rgb, img.width, img.height,
      img.stride, NULL, dir, &layout, NULL);
  double ms_first = (g_get_monotonic_time () - t0) / 1000.0;
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < 5; i++)
    ditto_face_detect (img.rgb, img.width, img.height, img.stride, NULL, dir,
        &layout, NULL);
  double ms_detect = (g_get_monotonic_time () - t0) / 5000.0;
  printf ("face detection: %s; %.1f ms first call (loads the models), %.1f ms "
      "per detection after\n", found ? "face found" : "NO FACE", ms_first,
      ms_detect);

  static const GstVideoFormat fmts[] = { GST_VIDEO_FORMAT_I420,
    GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_RGBx
  };
  for (guint i = 0; i < G_N_ELEMENTS (fmts); i++) {
    double ms_motion, ms_render, ms_cpu, ms_open;
    bench_render (&img, &audio, fmts[i], &ms_motion, &ms_render, &ms_cpu,
        &ms_open);
    double per_frame = ms_motion + ms_cpu;
    printf ("%-4s %dx%d: session open %.1f ms; render %.2f ms/frame (CPU %.2f "
        "ms), features+motion %.3f ms/frame; live at 25 fps: %.1f %% of one "
        "core\n", gst_video_format_to_string (fmts[i]), ow, oh, ms_open,
        ms_render, ms_cpu, ms_motion, per_frame * 25.0 / 10.0);
  }

  /* Offline: the whole path through the backend contract. */
  for (guint i = 0; i < 2; i++) {
    DittoBackendConfig c;
    make_config (&c, &img, fmts[i]);
    const DittoBackendClass *klass = ditto_backend_lookup ("builtin");
    DittoBackendCallbacks cb = { .on_frame = on_frame, .on_error = on_error,
    .on_warning = on_warning, .user_data = NULL };
    DittoBackend *be = klass->open (&c, &cb, &err);
    if (!be) {
      g_printerr ("open failed: %s\n", err->message);
      return 1;
    }
    frames_out = 0;
    FeedData fd = { klass, be };
    t0 = g_get_monotonic_time ();
    gint64 c0 = cpu_time ();
    for_each_chunk (&c, &audio, feed_chunk, &fd);
    klass->drain (be, NULL);
    double s = (g_get_monotonic_time () - t0) / 1e6;
    double cpu = (cpu_time () - c0) / 1e6;
    klass->close (be);
    printf ("offline %-4s: %" G_GUINT64_FORMAT " frames (%.1f s of audio) in "
        "%.2f s = %.1fx real time, %.2f ms/frame (features + motion + render "
        "+ buffer); CPU %.2f s = %.1fx real time per core\n",
        gst_video_format_to_string (fmts[i]), frames_out, seconds, s,
        seconds / s, s * 1000.0 / MAX (frames_out, 1), cpu, seconds / MAX (cpu, 1e-6));
  }
  g_free (audio.samples);
  g_free (src.samples);
  ditto_media_image_clear (&img);
  return 0;
}
