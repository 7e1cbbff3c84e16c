/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A 512-point FFT over the middle of each 640-sample frame (Hann window).
 */
#include "ditto-audio-features.h"

#include <math.h>
#include <string.h>

#define FRAME 640
#define N 512
#define LOG2N 9
#define RATE 16000.0f
#define BIN_HZ (RATE / N)

static float hann[N];
static float cos_tab[N / 2], sin_tab[N / 2];
static guint16 bitrev[N];

static gpointer
init_tables (gpointer unused)
{
  for (int i = 0; i < N; i++) {
    hann[i] = 0.5f - 0.5f * cosf (2.0f * (float) M_PI * i / (N - 1));
    guint r = 0;
    for (int b = 0; b < LOG2N; b++)
      r |= ((i >> b) & 1) << (LOG2N - 1 - b);
    bitrev[i] = r;
  }
  for (int i = 0; i < N / 2; i++) {
    cos_tab[i] = cosf (2.0f * (float) M_PI * i / N);
    sin_tab[i] = -sinf (2.0f * (float) M_PI * i / N);
  }
  return NULL;
}

/* In-place iterative radix-2 FFT. */
static void
fft (float *re, float *im)
{
  for (int i = 0; i < N; i++) {
    int j = bitrev[i];
    if (j > i) {
      float t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  for (int len = 2; len <= N; len <<= 1) {
    int half = len >> 1, step = N / len;
    for (int i = 0; i < N; i += len) {
      for (int k = 0; k < half; k++) {
        float wr = cos_tab[k * step], wi = sin_tab[k * step];
        float xr = re[i + k + half], xi = im[i + k + half];
        float tr = xr * wr - xi * wi, ti = xr * wi + xi * wr;
        re[i + k + half] = re[i + k] - tr;
        im[i + k + half] = im[i + k] - ti;
        re[i + k] += tr;
        im[i + k] += ti;
      }
    }
  }
}

void
ditto_audio_features_compute (const float *samples, DittoAudioFeatures * out)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, init_tables, NULL);

  double sq = 0.0;
  for (int i = 0; i < FRAME; i++)
    sq += (double) samples[i] * samples[i];
  out->db = 10.0f * log10f ((float) (sq / FRAME) + 1e-10f);

  float re[N], im[N];
  const float *s = samples + (FRAME - N) / 2;
  for (int i = 0; i < N; i++) {
    re[i] = s[i] * hann[i];
    im[i] = 0.0f;
  }
  fft (re, im);

  float low = 0, low_w = 0, mid = 0, high = 0, f2 = 0, f2_hi = 0;
  for (int k = 1; k < N / 2; k++) {
    float hz = k * BIN_HZ;
    float p = re[k] * re[k] + im[k] * im[k];
    if (hz < 150.0f)
      continue;
    if (hz < 1200.0f) {
      low += p;
      low_w += p * hz;
    }
    if (hz >= 900.0f && hz < 3000.0f) {
      f2 += p;
      if (hz >= 1800.0f)
        f2_hi += p;
    }
    if (hz >= 900.0f && hz < 2800.0f)
      mid += p;
    else if (hz >= 2800.0f)
      high += p;
  }
  float tiny = 1e-12f;
  out->low_centroid = low > tiny ? low_w / low : 0.0f;
  out->mid_ratio = mid / (low + mid + tiny);
  out->hiss_ratio = high / (low + mid + high + tiny);
  out->front_ratio = f2 > tiny ? f2_hi / f2 : 0.0f;
}
