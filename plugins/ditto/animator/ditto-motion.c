/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ditto-motion.h"
#include "ditto-audio-features.h"

#include <math.h>
#include <string.h>

#define SPF 640
#define HEAD_CHANNELS 5
#define HEAD_PARTIALS 3
/* Diffusion step of one smoothing iteration: 5 iterations barely soften the
 * per-frame targets, 100 spread them over about +-2 frames. */
#define SMOOTH_LAMBDA 0.015f

struct _DittoMotionState {
  guint past, current, future, iterations;
  guint32 rng;

  /* Mouth channels of the last `past` emitted frames (oldest first). */
  float *history;

  /* Loudness tracking for the noise gate / automatic gain. */
  float peak_db;
  /* Slow speech activity (head liveliness) and the nod envelopes. */
  float activity, emph_fast, emph_slow;

  /* Head motion: per channel a few sines; phases advance faster while speaking. */
  float head_freq[HEAD_CHANNELS][HEAD_PARTIALS];
  float head_phase[HEAD_CHANNELS][HEAD_PARTIALS];

  /* Blink schedule, counted in emitted frames. */
  int blink_countdown, blink_pos, blink_len;

  /* Scratch for one window. */
  float *target, *work;
};

static guint32
rng_next (DittoMotionState * s)
{
  /* xorshift32: tiny, reproducible from the seed. */
  guint32 x = s->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  s->rng = x;
  return x;
}

static float
rng_uniform (DittoMotionState * s, float lo, float hi)
{
  return lo + (hi - lo) * (float) (rng_next (s) >> 8) / (float) (1 << 24);
}

static int
rng_int (DittoMotionState * s, int lo, int hi)
{
  return lo + (int) (rng_next (s) % (guint32) (hi - lo + 1));
}

static inline float
clampf (float v, float lo, float hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

DittoMotionState *
ditto_motion_new (guint past, guint current, guint future,
    guint smoothing_iterations, guint32 seed)
{
  DittoMotionState *s = g_new0 (DittoMotionState, 1);
  guint window = past + current + future;
  s->past = past;
  s->current = current;
  s->future = future;
  s->iterations = smoothing_iterations;
  s->rng = seed * 2654435761u + 0x9e3779b9u;
  if (s->rng == 0)
    s->rng = 1;
  for (int i = 0; i < 4; i++)
    rng_next (s);
  s->history = g_new0 (float, (gsize) MAX (past, 1) * DITTO_MOTION_MOUTH_CHANNELS);
  s->target = g_new0 (float, (gsize) window * DITTO_MOTION_MOUTH_CHANNELS);
  s->work = g_new0 (float, (gsize) window * DITTO_MOTION_MOUTH_CHANNELS);
  for (int c = 0; c < HEAD_CHANNELS; c++)
    for (int p = 0; p < HEAD_PARTIALS; p++) {
      s->head_freq[c][p] = rng_uniform (s, 0.07f, 0.45f);
      s->head_phase[c][p] = rng_uniform (s, 0.0f, 2.0f * (float) M_PI);
    }
  s->blink_countdown = rng_int (s, 25, 100);
  s->blink_pos = -1;
  ditto_motion_reset (s);
  return s;
}

void
ditto_motion_free (DittoMotionState * s)
{
  if (!s)
    return;
  g_free (s->history);
  g_free (s->target);
  g_free (s->work);
  g_free (s);
}

void
ditto_motion_reset (DittoMotionState * s)
{
  memset (s->history, 0,
      sizeof (float) * MAX (s->past, 1) * DITTO_MOTION_MOUTH_CHANNELS);
  s->peak_db = -26.0f;
  s->activity = 0.0f;
  s->emph_fast = s->emph_slow = 0.0f;
}

/* Speech level 0..1: a noise gate below the tracked speech peak, so silence
 * and background hiss keep the mouth closed whatever the recording level. */
static float
speech_level (const DittoMotionState * s, float db)
{
  float ref = MAX (s->peak_db, -32.0f) - 4.0f;
  float gate = MAX (-52.0f, ref - 26.0f);
  float t = clampf ((db - gate) / (ref - gate), 0.0f, 1.0f);
  return t * t * (1.6f - 0.6f * t);
}

void
ditto_motion_mouth_targets (DittoMotionState * s, float db,
    float low_centroid, float mid_ratio, float hiss_ratio, float out[3])
{
  float lev = speech_level (s, db);
  /* Calibrated on speech: a typical vowel is neutral; high F1 opens the
   * jaw (aa), F2 energy stretches the lips (ee), low F1 with little F2
   * rounds them (oo, w), hiss shows the teeth (s, f). */
  float open = clampf ((low_centroid - 300.0f) / 400.0f, 0.0f, 1.0f);
  float hiss = clampf ((hiss_ratio - 0.2f) / 0.5f, 0.0f, 1.0f);
  float round = clampf ((0.08f - mid_ratio) / 0.08f, 0.0f, 1.0f) * (1.0f - open);
  float voiced = sqrtf (lev);

  out[0] = lev * (0.45f + 0.55f * open) * (1.0f - 0.6f * hiss);
  out[1] = voiced * clampf (1.8f * (mid_ratio - 0.15f) + 0.6f * hiss
      - 0.8f * round, -1.0f, 1.0f);
  out[2] = voiced * clampf (1.2f * (mid_ratio - 0.1f) + 0.9f * hiss
      + 0.4f * open, 0.0f, 1.0f);
}

static float
blink_step (DittoMotionState * s)
{
  if (s->blink_pos < 0) {
    if (--s->blink_countdown > 0)
      return 0.0f;
    s->blink_pos = 0;
    s->blink_len = rng_int (s, 4, 6);   /* 160..240 ms */
  }
  /* Fast close (40 %), slower open. */
  float p = (s->blink_pos + 0.5f) / s->blink_len;
  float v = p < 0.4f ? sinf (p / 0.4f * (float) M_PI_2)
      : cosf ((p - 0.4f) / 0.6f * (float) M_PI_2);
  if (++s->blink_pos >= s->blink_len) {
    s->blink_pos = -1;
    /* Natural 2..6 s intervals, now and then a quick double blink. */
    s->blink_countdown = rng_int (s, 0, 99) < 12 ? rng_int (s, 6, 9)
        : rng_int (s, 50, 150);
  }
  return clampf (1.08f * v, 0.0f, 1.0f);
}

static void
head_step (DittoMotionState * s, float lev, float jaw, DittoMotion * m)
{
  s->activity += (lev - s->activity) * (lev > s->activity ? 0.12f : 0.025f);
  s->emph_fast += (jaw - s->emph_fast) * 0.35f;
  s->emph_slow += (jaw - s->emph_slow) * 0.06f;
  float a = s->activity;
  float speed = 1.0f + 0.9f * a;
  float n[HEAD_CHANNELS];
  static const float weight[HEAD_PARTIALS] = { 0.55f, 0.3f, 0.15f };
  for (int c = 0; c < HEAD_CHANNELS; c++) {
    n[c] = 0.0f;
    for (int p = 0; p < HEAD_PARTIALS; p++) {
      s->head_phase[c][p] += 2.0f * (float) M_PI * s->head_freq[c][p] * speed
          / 25.0f;
      if (s->head_phase[c][p] > 2.0f * (float) M_PI)
        s->head_phase[c][p] -= 2.0f * (float) M_PI;
      n[c] += weight[p] * sinf (s->head_phase[c][p]);
    }
  }
  float nod = clampf (s->emph_fast - s->emph_slow, -0.5f, 0.5f);
  m->roll = (0.006f + 0.02f * a) * n[0];
  m->head_dx = (0.006f + 0.012f * a) * n[1];
  m->head_dy = (0.004f + 0.008f * a) * n[2];
  m->yaw = (0.008f + 0.02f * a) * n[3];
  m->pitch = (0.005f + 0.012f * a) * n[4] + 0.03f * nod;
}

void
ditto_motion_chunk (DittoMotionState * s, const float *samples,
    guint n_current, guint n_real_future, gboolean is_last, DittoMotion * out)
{
  const guint C = DITTO_MOTION_MOUTH_CHANNELS;
  guint P = s->past;
  guint N = s->past + s->current + s->future;
  /* Frames that exist in this window: at the end fewer current frames come. */
  guint real_end = P + n_current + MIN (n_real_future, s->future);
  float *lev_cur = g_newa (float, N);
  float *db_cur = g_newa (float, N);
  float *t = s->target, *w = s->work;

  if (n_current == 0)
    return;

  /* Raw per-frame targets of the current and future frames. */
  float raw[3];
  for (guint i = P; i < N; i++) {
    if (i < real_end || is_last || i == P) {
      DittoAudioFeatures f;
      ditto_audio_features_compute (samples + (gsize) i * SPF, &f);
      ditto_motion_mouth_targets (s, f.db, f.low_centroid, f.mid_ratio,
          f.hiss_ratio, raw);
      lev_cur[i - P] = speech_level (s, f.db);
      db_cur[i - P] = f.db;
      for (guint c = 0; c < C; c++)
        t[i * C + c] = raw[c];
    } else {
      /* Live mode, audio still to come: hold the last real frame. */
      for (guint c = 0; c < C; c++)
        t[i * C + c] = t[(i - 1) * C + c];
      lev_cur[i - P] = lev_cur[i - P - 1];
      db_cur[i - P] = db_cur[i - P - 1];
    }
  }
  /* Anticipation: the mouth shapes a sound slightly before it is heard. */
  for (guint i = P; i + 1 < N; i++)
    for (guint c = 0; c < C; c++)
      t[i * C + c] = 0.55f * t[i * C + c] + 0.45f * t[(i + 1) * C + c];
  /* The past is what was shown: fixed, so chunk borders stay continuous. */
  memcpy (t, s->history, sizeof (float) * P * C);

  /* sampling_timesteps diffusion iterations over the whole window. */
  for (guint it = 0; it < s->iterations; it++) {
    memcpy (w, t, sizeof (float) * N * C);
    for (guint i = MAX (P, 1); i < N; i++) {
      guint next = i + 1 < N ? i + 1 : i;
      for (guint c = 0; c < C; c++)
        t[i * C + c] = w[i * C + c] + SMOOTH_LAMBDA * (w[(i - 1) * C + c]
            - 2.0f * w[i * C + c] + w[next * C + c]);
    }
  }

  for (guint k = 0; k < n_current; k++) {
    const float *v = t + (P + k) * C;
    DittoMotion *m = &out[k];
    m->jaw = clampf (v[0], 0.0f, 1.0f);
    m->spread = clampf (v[1], -1.0f, 1.0f);
    m->teeth = clampf (v[2], 0.0f, 1.0f);
    m->press = m->brow = m->gaze_x = m->gaze_y = 0.0f;
    m->blink = blink_step (s);
    head_step (s, lev_cur[k], m->jaw, m);
    /* Track the speech peak with what was actually heard. */
    float db = db_cur[k];
    if (db > s->peak_db)
      s->peak_db += (db - s->peak_db) * 0.5f;
    else
      s->peak_db = MAX (s->peak_db - 0.05f, -60.0f);
  }

  /* Remember the emitted frames as the next window's past. */
  if (P > 0) {
    float *all = g_newa (float, (P + n_current) * C);
    memcpy (all, s->history, sizeof (float) * P * C);
    for (guint k = 0; k < n_current; k++) {
      all[(P + k) * C + 0] = out[k].jaw;
      all[(P + k) * C + 1] = out[k].spread;
      all[(P + k) * C + 2] = out[k].teeth;
    }
    memcpy (s->history, all + n_current * C, sizeof (float) * P * C);
  }
}
