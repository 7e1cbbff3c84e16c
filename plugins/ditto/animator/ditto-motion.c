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
/* Trajectory smoothing: sampling_timesteps diffusion iterations whose total
 * variance grows with the count, sigma^2 = 0.4 + 0.04 * steps frames^2:
 * 5 steps ~ 0.77 frames, the default 10 ~ 0.9 frames (36 ms, like real
 * articulators), 100 ~ 2.1 frames. */
#define SMOOTH_VAR0 0.4f
#define SMOOTH_VAR_PER_STEP 0.04f

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

  /* Brows (emphasis) and gaze (held targets, quick saccades). */
  float brow, gaze[2], gaze_to[2];
  int gaze_countdown;
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
  s->gaze_countdown = rng_int (s, 25, 75);
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
  s->brow = 0.0f;
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

/* The viseme set: mouth channels (jaw, spread, teeth, press) of each shape. */
enum { V_CLOSED, V_OPEN, V_NEUTRAL, V_ROUND, V_SPREAD, V_FRICATIVE, N_VISEMES };
static const float viseme_shape[N_VISEMES][DITTO_MOTION_MOUTH_CHANNELS] = {
  [V_CLOSED] = {0.0f, 0.0f, 0.0f, 1.0f},      /* m, b, p */
  [V_OPEN] = {1.0f, 0.1f, 0.35f, 0.0f},       /* aa */
  [V_NEUTRAL] = {0.5f, 0.0f, 0.3f, 0.0f},     /* schwa, most vowels */
  [V_ROUND] = {0.35f, -1.0f, 0.0f, 0.0f},     /* oo, w */
  [V_SPREAD] = {0.35f, 1.0f, 0.6f, 0.0f},     /* ee */
  [V_FRICATIVE] = {0.15f, 0.4f, 1.0f, 0.0f},  /* s, f, sh */
};

void
ditto_motion_mouth_targets (DittoMotionState * s, const DittoAudioFeatures * f,
    float out[DITTO_MOTION_MOUTH_CHANNELS])
{
  float lev = speech_level (s, f->db);
  /* Spectral cues, calibrated on speech: a high F1 (low-band centroid)
   * opens the jaw (aa); energy at a high F2 spreads the lips (ee); low F1
   * and F2 round them (oo, w), or, quieter, are a nasal murmur behind
   * closed lips (m); hiss is a fricative (s, f). */
  float open = clampf ((f->low_centroid - 450.0f) / 300.0f, 0.0f, 1.0f);
  float hiss = clampf ((f->hiss_ratio - 0.2f) / 0.5f, 0.0f, 1.0f);
  float front = clampf ((f->front_ratio - 0.35f) / 0.35f, 0.0f, 1.0f);
  float low_f2 = clampf ((0.12f - f->mid_ratio) / 0.08f, 0.0f, 1.0f)
      * (1.0f - open) * (1.0f - front);
  float spread = (1.0f - open) * front;
  float murmur = clampf ((0.55f - lev) / 0.35f, 0.0f, 1.0f);
  float w[N_VISEMES];
  w[V_FRICATIVE] = hiss;
  float voiced = 1.0f - hiss;
  w[V_CLOSED] = voiced * low_f2 * murmur;
  w[V_ROUND] = voiced * low_f2 * (1.0f - murmur);
  w[V_SPREAD] = voiced * spread;
  float rest = MAX (0.0f, voiced - w[V_CLOSED] - w[V_ROUND] - w[V_SPREAD]);
  w[V_OPEN] = rest * open;
  w[V_NEUTRAL] = rest * (1.0f - open);
  /* Sound level scales how far the shape is reached; silence is the rest
   * pose (all channels 0: lips closed and relaxed). */
  float reach[DITTO_MOTION_MOUTH_CHANNELS] = { lev, sqrtf (lev), sqrtf (lev), sqrtf (lev) };
  for (int c = 0; c < DITTO_MOTION_MOUTH_CHANNELS; c++) {
    float v = 0.0f;
    for (int k = 0; k < N_VISEMES; k++)
      v += w[k] * viseme_shape[k][c];
    out[c] = v * reach[c];
  }
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

  /* Brows lift on a stressed syllable and settle slowly. */
  float lift = clampf ((nod - 0.08f) * 4.0f, 0.0f, 1.0f);
  s->brow += (lift - s->brow) * (lift > s->brow ? 0.4f : 0.08f);
  m->brow = s->brow;

  /* Gaze: mostly at the viewer, now and then a glance held for a while;
   * saccades take about two frames. */
  if (--s->gaze_countdown <= 0) {
    gboolean away = rng_int (s, 0, 99) < 45;
    s->gaze_to[0] = away ? rng_uniform (s, -0.7f, 0.7f) : rng_uniform (s, -0.15f, 0.15f);
    s->gaze_to[1] = away ? rng_uniform (s, -0.4f, 0.3f) : rng_uniform (s, -0.1f, 0.1f);
    s->gaze_countdown = away ? rng_int (s, 12, 40) : rng_int (s, 25, 100);
  }
  for (int i = 0; i < 2; i++)
    s->gaze[i] += (s->gaze_to[i] - s->gaze[i]) * 0.6f;
  m->gaze_x = s->gaze[0];
  m->gaze_y = s->gaze[1];
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
  float raw[DITTO_MOTION_MOUTH_CHANNELS];
  for (guint i = P; i < N; i++) {
    if (i < real_end || is_last || i == P) {
      DittoAudioFeatures f;
      /* Centred on the frame's start (its timestamp), not its middle: the
       * mouth shown at time t is the sound at t. */
      gsize at = (gsize) i * SPF;
      ditto_audio_features_compute (samples + (at >= SPF / 2 ? at - SPF / 2 : at), &f);
      ditto_motion_mouth_targets (s, &f, raw);
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
  /* Stop closures (p, b): a short dip of the level inside speech is the
   * lips pressed shut before the release. */
  for (guint i = P + 1; i + 1 < N; i++) {
    float d = db_cur[i - P];
    float around = MIN (MAX (db_cur[i - P - 1], i >= P + 2 ? db_cur[i - P - 2] : -99.0f),
        MAX (db_cur[i - P + 1], i + 2 < N ? db_cur[i - P + 2] : -99.0f));
    float dip = clampf ((around - d - 8.0f) / 6.0f, 0.0f, 1.0f)
        * clampf (speech_level (s, around) * 2.0f, 0.0f, 1.0f);
    if (dip > 0.0f) {
      t[i * C + 0] *= 1.0f - dip;
      t[i * C + 3] = MAX (t[i * C + 3], dip);
    }
  }
  /* Coarticulation from the chunk's future frames: lip shape (spread,
   * round, press) anticipates the next sound by about a frame, as
   * speakers' lips do; the jaw only slightly (about 10 ms), so the mouth's
   * opening stays in sync with the sound. */
  static const float ahead[DITTO_MOTION_MOUTH_CHANNELS] = { 0.25f, 0.5f, 0.35f, 0.4f };
  for (guint i = P; i + 1 < N; i++)
    for (guint c = 0; c < C; c++)
      t[i * C + c] = (1.0f - ahead[c]) * t[i * C + c] + ahead[c] * t[(i + 1) * C + c];
  /* The past is what was shown: fixed, so chunk borders stay continuous. */
  memcpy (t, s->history, sizeof (float) * P * C);

  /* sampling_timesteps diffusion iterations over the whole window. */
  float lambda = (SMOOTH_VAR0 + SMOOTH_VAR_PER_STEP * s->iterations)
      / (2.0f * MAX (s->iterations, 1));
  for (guint it = 0; it < s->iterations; it++) {
    memcpy (w, t, sizeof (float) * N * C);
    for (guint i = MAX (P, 1); i < N; i++) {
      guint next = i + 1 < N ? i + 1 : i;
      for (guint c = 0; c < C; c++)
        t[i * C + c] = w[i * C + c] + lambda * (w[(i - 1) * C + c]
            - 2.0f * w[i * C + c] + w[next * C + c]);
    }
  }

  for (guint k = 0; k < n_current; k++) {
    const float *v = t + (P + k) * C;
    DittoMotion *m = &out[k];
    m->jaw = clampf (v[0], 0.0f, 1.0f);
    m->spread = clampf (v[1], -1.0f, 1.0f);
    m->teeth = clampf (v[2], 0.0f, 1.0f);
    m->press = clampf (v[3], 0.0f, 1.0f);
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
      all[(P + k) * C + 3] = out[k].press;
    }
    memcpy (s->history, all + n_current * C, sizeof (float) * P * C);
  }
}
