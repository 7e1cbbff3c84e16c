/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Unit tests of the built-in animator (GLib test framework, TAP output with
 * --tap). Run from the repository root (reads src/server/demo/media/portrait.jpg) or pass
 * DITTO_TEST_PORTRAIT.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include <math.h>
#include <string.h>

#include "ditto-audio-features.h"
#include "ditto-animator.h"
#include "ditto-animator-media.h"
#include "ditto-backend.h"

#define SPF DITTO_SAMPLES_PER_FRAME

static DittoImage portrait;

static void
tone (float *out, gsize n, float hz, float amp)
{
  for (gsize i = 0; i < n; i++)
    out[i] = amp * sinf (2.0f * (float) M_PI * hz * i / 16000.0f);
}

static void
test_features_spectral_balance (void)
{
  float buf[SPF];
  DittoAudioFeatures lo, mid, hi, quiet;
  tone (buf, SPF, 300.0f, 0.3f);
  ditto_audio_features_compute (buf, &lo);
  tone (buf, SPF, 2000.0f, 0.3f);
  ditto_audio_features_compute (buf, &mid);
  tone (buf, SPF, 5000.0f, 0.3f);
  ditto_audio_features_compute (buf, &hi);
  tone (buf, SPF, 300.0f, 0.003f);
  ditto_audio_features_compute (buf, &quiet);

  /* -13.5 dBFS for a 0.3 sine; 40 dB lower for 0.003. */
  g_assert_cmpfloat_with_epsilon (lo.db, -13.5f, 0.3f);
  g_assert_cmpfloat_with_epsilon (quiet.db, -53.5f, 0.3f);
  g_assert_cmpfloat_with_epsilon (lo.low_centroid, 300.0f, 40.0f);
  g_assert_cmpfloat (lo.mid_ratio, <, 0.05f);
  g_assert_cmpfloat (mid.mid_ratio, >, 0.95f);
  g_assert_cmpfloat (hi.hiss_ratio, >, 0.95f);
  g_assert_cmpfloat (lo.hiss_ratio, <, 0.05f);
}

typedef struct {
  guint past, current, future, steps;
  guint32 seed;
} MotionSetup;

static DittoMotion *
run_motion (const MotionSetup * ms, const float *audio, gsize n_samples,
    gsize * n_frames_out)
{
  return ditto_media_run_motion (ms->past, ms->current, ms->future, ms->steps,
      ms->seed, audio, n_samples, n_frames_out);
}

static void
test_motion_silence_stays_closed (void)
{
  gsize n = 16000 * 10, frames;
  float *audio = g_new0 (float, n);
  /* Faint hiss well under speech level. */
  guint32 r = 1;
  for (gsize i = 0; i < n; i++) {
    r = r * 1664525u + 1013904223u;
    audio[i] = ((r >> 9) / 4194304.0f - 1.0f) * 0.0015f;
  }
  MotionSetup ms = { 3, 5, 2, 10, 7 };
  DittoMotion *m = run_motion (&ms, audio, n, &frames);
  for (gsize k = 0; k < frames; k++) {
    g_assert_cmpfloat (m[k].jaw, <, 0.02f);
    g_assert_cmpfloat (fabsf (m[k].roll), <, 0.012f);
  }
  g_free (m);
  g_free (audio);
}

static void
test_motion_speech_opens_mouth (void)
{
  gsize n, frames;
  float *audio = ditto_media_synth_speech (6.0, &n);
  MotionSetup ms = { 3, 5, 2, 10, 7 };
  DittoMotion *m = run_motion (&ms, audio, n, &frames);
  float max_jaw = 0, min_spread = 0, max_spread = 0;
  int open = 0, closed = 0;
  for (gsize k = 0; k < frames; k++) {
    max_jaw = MAX (max_jaw, m[k].jaw);
    min_spread = MIN (min_spread, m[k].spread);
    max_spread = MAX (max_spread, m[k].spread);
    open += m[k].jaw > 0.3f;
    closed += m[k].jaw < 0.05f;
  }
  g_assert_cmpfloat (max_jaw, >, 0.5f);
  /* Syllables open and close the mouth; pauses close it. */
  g_assert_cmpint (open, >, (int) frames / 10);
  g_assert_cmpint (closed, >, (int) frames / 10);
  /* ee and oo vowels shape the lips both ways. */
  g_assert_cmpfloat (max_spread, >, 0.3f);
  g_assert_cmpfloat (min_spread, <, -0.3f);
  g_free (m);
  g_free (audio);
}

static void
test_motion_lookahead_leads_sound (void)
{
  /* Silence, then a vowel from frame 50 on. */
  gsize n = 16000 * 4, frames;
  float *audio = g_new0 (float, n);
  tone (audio + 50 * SPF, n - 50 * SPF, 600.0f, 0.3f);
  MotionSetup ms = { 3, 5, 2, 10, 7 };
  DittoMotion *m = run_motion (&ms, audio, n, &frames);
  g_assert_cmpfloat (m[45].jaw, <, 0.01f);
  /* The mouth starts moving before the sound... */
  g_assert_cmpfloat (m[49].jaw, >, 0.05f);
  /* ...and is open while it sounds. */
  g_assert_cmpfloat (m[52].jaw, >, 0.4f);
  g_free (m);
  g_free (audio);
}

/* "aba": a vowel, 120 ms of stop closure, the vowel again. The lips press
 * shut during the closure and the jaw comes up. */
static void
test_motion_stop_closes_lips (void)
{
  gsize n = 16000 * 3, frames;
  float *audio = g_new0 (float, n);
  for (gsize i = 0; i < n; i++) {
    double t = i / 16000.0;
    gboolean voiced = (t >= 0.6 && t < 1.2) || (t >= 1.32 && t < 1.9);
    /* A buzzy vowel: harmonics of 120 Hz under an F1-like bump at 700 Hz. */
    float v = 0;
    for (int h = 1; h <= 20; h++) {
      float f = 120.0f * h, g = 1.0f / (1.0f + powf ((f - 700.0f) / 250.0f, 2.0f));
      v += g * sinf (2.0f * (float) M_PI * f * (float) t);
    }
    audio[i] = voiced ? 0.08f * v : 0.0f;
  }
  MotionSetup ms = { 3, 5, 2, 10, 7 };
  DittoMotion *m = run_motion (&ms, audio, n, &frames);
  /* Frames 30..33 hold the closure (1.20..1.32 s), 25 and 38 the vowel. */
  float press = 0, jaw_in = 1;
  for (int k = 30; k <= 33; k++) {
    press = MAX (press, m[k].press);
    jaw_in = MIN (jaw_in, m[k].jaw);
  }
  g_test_message ("closure: press %.2f, jaw %.2f; vowel jaw %.2f %.2f", press,
      jaw_in, m[25].jaw, m[38].jaw);
  g_assert_cmpfloat (press, >, 0.4f);
  g_assert_cmpfloat (jaw_in, <, 0.5f * MIN (m[25].jaw, m[38].jaw));
  /* No pressing inside the vowels. */
  g_assert_cmpfloat (m[25].press, <, 0.1f);
  g_assert_cmpfloat (m[38].press, <, 0.1f);
  g_free (m);
  g_free (audio);
}

static float
jaw_variation (guint steps)
{
  gsize n, frames;
  float *audio = ditto_media_synth_speech (6.0, &n);
  MotionSetup ms = { 3, 5, 2, steps, 7 };
  DittoMotion *m = run_motion (&ms, audio, n, &frames);
  float tv = 0;
  for (gsize k = 1; k < frames; k++)
    tv += fabsf (m[k].jaw - m[k - 1].jaw);
  g_free (m);
  g_free (audio);
  return tv;
}

static void
test_motion_timesteps_smooth (void)
{
  float tv5 = jaw_variation (5), tv30 = jaw_variation (30),
      tv100 = jaw_variation (100);
  g_assert_cmpfloat (tv30, <, tv5);
  g_assert_cmpfloat (tv100, <, 0.9f * tv30);
  /* Still talking at the smoothest setting. */
  g_assert_cmpfloat (tv100, >, 0.3f * tv5);
}

/* Chunk borders are invisible: the jaw jumps no more from the last frame of
 * one chunk to the first of the next than between frames inside a chunk. */
static void
test_motion_continuous_at_chunk_borders (void)
{
  gsize n, frames;
  float *audio = ditto_media_synth_speech (20.0, &n);
  MotionSetup ms = { 3, 5, 2, 10, 7 };
  DittoMotion *m = run_motion (&ms, audio, n, &frames);
  double border = 0, inner = 0;
  int nb = 0, ni = 0;
  for (gsize k = 1; k < frames; k++) {
    double d = fabs (m[k].jaw - m[k - 1].jaw) + fabs (m[k].spread - m[k - 1].spread);
    if (k % 5 == 0) {
      border += d;
      nb++;
    } else {
      inner += d;
      ni++;
    }
  }
  g_assert_cmpfloat (border / nb, <, 1.5 * inner / ni);
  g_free (m);
  g_free (audio);
}

static void
test_motion_blinks_natural (void)
{
  gsize n = 16000 * 120, frames;
  float *audio = g_new0 (float, n);
  MotionSetup ms = { 3, 5, 2, 10, 3 };
  DittoMotion *m = run_motion (&ms, audio, n, &frames);
  int blinks = 0, in_blink = 0, len = 0, max_len = 0;
  float peak = 0;
  for (gsize k = 0; k < frames; k++) {
    if (m[k].blink > 0.0f) {
      if (!in_blink)
        blinks++;
      in_blink = 1;
      len++;
      peak = MAX (peak, m[k].blink);
    } else {
      if (in_blink)
        max_len = MAX (max_len, len);
      in_blink = 0;
      len = 0;
    }
  }
  /* 2..6 s apart (plus a few double blinks): 20..70 in two minutes. */
  g_assert_cmpint (blinks, >=, 20);
  g_assert_cmpint (blinks, <=, 70);
  g_assert_cmpint (max_len, <=, 6);       /* <= 240 ms */
  g_assert_cmpfloat (peak, >, 0.95f);     /* the eye really closes */

  /* Same seed, same motion; another seed, other blinks. */
  DittoMotion *again = run_motion (&ms, audio, n, &frames);
  g_assert_true (memcmp (m, again, sizeof (DittoMotion) * frames) == 0);
  ms.seed = 4;
  DittoMotion *other = run_motion (&ms, audio, n, &frames);
  gboolean differ = FALSE;
  for (gsize k = 0; k < frames; k++)
    differ |= (m[k].blink > 0) != (other[k].blink > 0);
  g_assert_true (differ);
  g_free (other);
  g_free (again);
  g_free (m);
  g_free (audio);
}

static DittoBackendConfig
config_for (const DittoImage * img, GstVideoFormat fmt, int w, int h)
{
  DittoBackendConfig c;
  memset (&c, 0, sizeof c);
  c.source_rgb = img->rgb;
  c.source_width = img->width;
  c.source_height = img->height;
  c.source_stride = img->stride;
  gst_video_info_set_format (&c.out_info, fmt, w, h);
  c.chunk_past = 3;
  c.chunk_current = 5;
  c.chunk_future = 2;
  c.sampling_timesteps = 10;
  c.seed = 1;
  return c;
}

/* Largest per-pixel difference between two mapped frames in a box. */
static int
max_diff (const GstVideoInfo * info, GstBuffer * a, GstBuffer * b, int x0,
    int y0, int x1, int y1)
{
  GstVideoFrame fa, fb;
  gst_video_frame_map (&fa, info, a, GST_MAP_READ);
  gst_video_frame_map (&fb, info, b, GST_MAP_READ);
  int ps = GST_VIDEO_FRAME_COMP_PSTRIDE (&fa, 0), d = 0;
  for (int y = y0; y < y1; y++) {
    const guint8 *pa = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&fa, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&fa, 0);
    const guint8 *pb = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&fb, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&fb, 0);
    for (int x = x0 * ps; x < x1 * ps; x++)
      d = MAX (d, abs (pa[x] - pb[x]));
  }
  gst_video_frame_unmap (&fa);
  gst_video_frame_unmap (&fb);
  return d;
}

static void
check_render_format (GstVideoFormat fmt)
{
  DittoBackendConfig c = config_for (&portrait, fmt, 256, 256);
  GError *err = NULL;
  DittoAnimator *a = ditto_animator_new (&c, NULL, &err);
  g_assert_no_error (err);
  const DittoFaceLayout *l = ditto_animator_get_layout (a);
  g_assert_true (l->detected);

  DittoMotion still = { 0 }, talk = { 0 };
  talk.jaw = 0.8f;
  talk.spread = 0.3f;
  talk.teeth = 0.5f;
  GstBuffer *b0 = ditto_animator_render (a, &still);
  GstBuffer *b1 = ditto_animator_render (a, &talk);
  g_assert_nonnull (gst_buffer_get_video_meta (b0));
  g_assert_cmpuint (gst_buffer_get_size (b0), ==, GST_VIDEO_INFO_SIZE (&c.out_info));

  int mx0 = (int) (l->mouth_x - l->mouth_half_w), mx1 = (int) (l->mouth_x + l->mouth_half_w);
  int my0 = (int) l->mouth_y - 2, my1 = (int) (l->mouth_y + 0.1f * l->face_h);
  /* The mouth opens: a strong change between the lips... */
  g_assert_cmpint (max_diff (&c.out_info, b0, b1, mx0, my0, mx1, my1), >, 40);
  /* ...nothing changes far from the head (top corners). */
  g_assert_cmpint (max_diff (&c.out_info, b0, b1, 0, 0, 16, 16), ==, 0);
  /* The eyes stay as they are without a blink. */
  int ex0 = (int) (l->eye_x[0] - l->eye_half_w), ey0 = (int) (l->eye_y[0] - l->eye_half_h);
  int ex1 = (int) (l->eye_x[0] + l->eye_half_w), ey1 = (int) (l->eye_y[0] + l->eye_half_h);
  g_assert_cmpint (max_diff (&c.out_info, b0, b1, ex0, ey0, ex1, ey1), <=, 2);
  /* A blink changes the eyes. */
  DittoMotion blink = { 0 };
  blink.blink = 1.0f;
  GstBuffer *b2 = ditto_animator_render (a, &blink);
  g_assert_cmpint (max_diff (&c.out_info, b0, b2, ex0, ey0, ex1, ey1), >, 30);

  gst_buffer_unref (b0);
  gst_buffer_unref (b1);
  gst_buffer_unref (b2);
  ditto_animator_free (a);
}

static void
test_render_rgb (void)
{
  check_render_format (GST_VIDEO_FORMAT_RGB);
}

static void
test_render_i420 (void)
{
  check_render_format (GST_VIDEO_FORMAT_I420);
}

static void
test_render_rgbx (void)
{
  check_render_format (GST_VIDEO_FORMAT_RGBx);
}

/* A still face renders exactly the portrait (no drift, no blur), except
 * that a mouth open in the portrait closes (jaw 0 is closed lips). */
static void
test_render_still_is_portrait (void)
{
  DittoBackendConfig c = config_for (&portrait, GST_VIDEO_FORMAT_RGB,
      portrait.width, portrait.height);
  DittoAnimator *a = ditto_animator_new (&c, NULL, NULL);
  const DittoFaceLayout *l = ditto_animator_get_layout (a);
  int mx0 = (int) (l->mouth_x - 1.6f * l->mouth_half_w);
  int mx1 = (int) (l->mouth_x + 1.6f * l->mouth_half_w) + 1;
  int my0 = (int) l->lm[33][1], my1 = (int) l->lm[8][1] + 1;
  DittoMotion still = { 0 };
  GstBuffer *b = ditto_animator_render (a, &still);
  GstVideoFrame f;
  gst_video_frame_map (&f, &c.out_info, b, GST_MAP_READ);
  int worst = 0;
  for (int y = 0; y < portrait.height; y++) {
    const guint8 *p = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0);
    const guint8 *s = portrait.rgb + y * portrait.stride;
    for (int x = 0; x < portrait.width; x++) {
      if (y >= my0 && y < my1 && x >= mx0 && x < mx1)
        continue;
      for (int k = 0; k < 3; k++)
        worst = MAX (worst, abs (p[3 * x + k] - s[3 * x + k]));
    }
  }
  gst_video_frame_unmap (&f);
  g_assert_cmpint (worst, ==, 0);
  gst_buffer_unref (b);
  ditto_animator_free (a);
}

typedef struct {
  guint64 next;
  guint count, warnings;
} Sink;

static void
sink_frame (guint64 k, GstBuffer * buf, gpointer data)
{
  Sink *s = data;
  g_assert_cmpuint (k, ==, s->next);
  s->next++;
  s->count++;
  gst_buffer_unref (buf);
}

static void
sink_error (const GError * e, gpointer data)
{
  g_assert_not_reached ();
}

static void
sink_warning (const gchar * msg, gpointer data)
{
  ((Sink *) data)->warnings++;
}

static void
feed_silence (const DittoBackendClass * k, DittoBackend * be, guint chunks,
    guint64 first)
{
  float *buf = g_new0 (float, 10 * SPF);
  for (guint i = 0; i < chunks; i++) {
    DittoChunk ch = { buf, first + i * 5, 5, 2, FALSE };
    GError *err = NULL;
    g_assert_true (k->feed (be, &ch, &err));
    g_assert_no_error (err);
  }
  g_free (buf);
}

static void
test_backend_contract (void)
{
  const DittoBackendClass *k = ditto_backend_lookup ("builtin");
  g_assert_true (k == &ditto_backend_builtin);
  DittoBackendConfig c = config_for (&portrait, GST_VIDEO_FORMAT_I420, 128, 128);
  Sink s = { 0 };
  DittoBackendCallbacks cb = { .on_frame = sink_frame, .on_error = sink_error,
    .on_warning = sink_warning, .user_data = &s };
  GError *err = NULL;
  DittoBackend *be = k->open (&c, &cb, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (k->extra_latency_frames (be), ==, 0);
  feed_silence (k, be, 4, 0);
  g_assert_cmpuint (s.count, ==, 20);   /* synchronous: all out during feed */
  g_assert_true (k->drain (be, NULL));
  k->reset (be);
  feed_silence (k, be, 1, 20);
  g_assert_cmpuint (s.count, ==, 25);
  g_assert_cmpuint (s.warnings, ==, 0);
  k->close (be);

  /* Unsupported output format: a settings error, no crash. */
  c = config_for (&portrait, GST_VIDEO_FORMAT_NV12, 128, 128);
  g_assert_null (k->open (&c, &cb, &err));
  g_assert_error (err, DITTO_BACKEND_ERROR, DITTO_BACKEND_ERROR_SETTINGS);
  g_clear_error (&err);
}

static void
test_backend_no_face_warns (void)
{
  DittoImage flat = { g_malloc (64 * 64 * 3), 64, 64, 64 * 3 };
  memset (flat.rgb, 128, 64 * 64 * 3);
  DittoBackendConfig c = config_for (&flat, GST_VIDEO_FORMAT_RGB, 64, 64);
  Sink s = { 0 };
  DittoBackendCallbacks cb = { .on_frame = sink_frame, .on_error = sink_error,
    .on_warning = sink_warning, .user_data = &s };
  GError *err = NULL;
  const DittoBackendClass *k = &ditto_backend_builtin;
  DittoBackend *be = k->open (&c, &cb, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (s.warnings, ==, 1);
  feed_silence (k, be, 2, 0);
  g_assert_cmpuint (s.count, ==, 10);
  k->close (be);
  ditto_media_image_clear (&flat);
}

static void
test_face_box_override (void)
{
  int box[4] = { 100, 120, 200, 220 };
  DittoFaceLayout l;
  g_assert_true (ditto_face_detect (portrait.rgb, portrait.width,
          portrait.height, portrait.stride, box, DITTO_CASCADE_DIR, &l, NULL));
  g_assert_cmpfloat (l.face_x, ==, 100.0f);
  g_assert_cmpfloat (l.face_w, ==, 200.0f);
  g_assert_cmpfloat (l.mouth_y, >, 120.0f + 0.5f * 220.0f);
  g_assert_cmpfloat (l.mouth_y, <, 120.0f + 220.0f);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  const char *path = g_getenv ("DITTO_TEST_PORTRAIT");
  GError *err = NULL;
  if (!ditto_media_load_image (path ? path : "src/server/demo/media/portrait.jpg", &portrait, &err))
    g_error ("portrait: %s", err->message);

  g_test_add_func ("/animator/features/spectral-balance", test_features_spectral_balance);
  g_test_add_func ("/animator/motion/silence-stays-closed", test_motion_silence_stays_closed);
  g_test_add_func ("/animator/motion/speech-opens-mouth", test_motion_speech_opens_mouth);
  g_test_add_func ("/animator/motion/lookahead-leads-sound", test_motion_lookahead_leads_sound);
  g_test_add_func ("/animator/motion/timesteps-smooth", test_motion_timesteps_smooth);
  g_test_add_func ("/animator/motion/stop-closes-lips", test_motion_stop_closes_lips);
  g_test_add_func ("/animator/motion/blinks-natural", test_motion_blinks_natural);
  g_test_add_func ("/animator/motion/continuous-at-chunk-borders", test_motion_continuous_at_chunk_borders);
  g_test_add_func ("/animator/render/still-is-portrait", test_render_still_is_portrait);
  g_test_add_func ("/animator/render/rgb", test_render_rgb);
  g_test_add_func ("/animator/render/i420", test_render_i420);
  g_test_add_func ("/animator/render/rgbx", test_render_rgbx);
  g_test_add_func ("/animator/face/box-override", test_face_box_override);
  g_test_add_func ("/animator/backend/contract", test_backend_contract);
  g_test_add_func ("/animator/backend/no-face-warns", test_backend_no_face_warns);
  int rc = g_test_run ();
  ditto_media_image_clear (&portrait);
  return rc;
}
