/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ditto-animator-media.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <math.h>
#include <string.h>

#define SPF 640                 /* samples per 25 fps frame at 16 kHz */

gboolean
ditto_media_load_image (const char *path, DittoImage * image, GError ** error)
{
  GdkPixbuf *pb = gdk_pixbuf_new_from_file (path, error);
  if (!pb)
    return FALSE;
  int w = gdk_pixbuf_get_width (pb), h = gdk_pixbuf_get_height (pb);
  int n = gdk_pixbuf_get_n_channels (pb), rs = gdk_pixbuf_get_rowstride (pb);
  const guint8 *px = gdk_pixbuf_read_pixels (pb);
  image->width = w;
  image->height = h;
  image->stride = w * 3;
  image->rgb = g_malloc ((gsize) w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      memcpy (image->rgb + (gsize) y * image->stride + 3 * x,
          px + (gsize) y * rs + n * x, 3);
  g_object_unref (pb);
  return TRUE;
}

void
ditto_media_image_clear (DittoImage * image)
{
  g_clear_pointer (&image->rgb, g_free);
}

float *
ditto_media_load_wav (const char *path, gsize * n_samples, GError ** error)
{
  gchar *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  const guint8 *d = (const guint8 *) data;
  int channels = 0, rate = 0, bits = 0;
  const guint8 *pcm = NULL;
  gsize pcm_len = 0;
  if (len >= 12 && !memcmp (d, "RIFF", 4) && !memcmp (d + 8, "WAVE", 4)) {
    gsize pos = 12;
    while (pos + 8 <= len) {
      guint32 size = GUINT32_FROM_LE (*(const guint32 *) (d + pos + 4));
      if (!memcmp (d + pos, "fmt ", 4) && pos + 24 <= len) {
        channels = GUINT16_FROM_LE (*(const guint16 *) (d + pos + 10));
        rate = GUINT32_FROM_LE (*(const guint32 *) (d + pos + 12));
        bits = GUINT16_FROM_LE (*(const guint16 *) (d + pos + 22));
      } else if (!memcmp (d + pos, "data", 4)) {
        pcm = d + pos + 8;
        pcm_len = MIN ((gsize) size, len - pos - 8);
        break;
      }
      pos += 8 + size + (size & 1);
    }
  }
  if (!pcm || channels != 1 || rate != 16000 || bits != 16) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: need a 16 kHz mono 16-bit PCM WAV", path);
    g_free (data);
    return NULL;
  }
  gsize n = pcm_len / 2;
  float *out = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    out[i] = (gint16) GUINT16_FROM_LE (*(const guint16 *) (pcm + 2 * i)) / 32768.0f;
  g_free (data);
  *n_samples = n;
  return out;
}

/* Two-pole resonator. */
typedef struct {
  float a1, a2, g, y1, y2;
} Reso;

static void
reso_set (Reso * r, float hz, float bw)
{
  float rad = expf (-(float) M_PI * bw / 16000.0f);
  r->a1 = 2.0f * rad * cosf (2.0f * (float) M_PI * hz / 16000.0f);
  r->a2 = -rad * rad;
  r->g = 1.0f - rad;
}

static float
reso_run (Reso * r, float x)
{
  float y = r->g * x + r->a1 * r->y1 + r->a2 * r->y2;
  r->y2 = r->y1;
  r->y1 = y;
  return y;
}

float *
ditto_media_synth_speech (double seconds, gsize * n_samples)
{
  static const float formants[3][2] = {
    {750.0f, 1200.0f},          /* aa */
    {300.0f, 2300.0f},          /* ee */
    {320.0f, 800.0f},           /* oo */
  };
  gsize n = (gsize) (seconds * 16000.0);
  float *out = g_new0 (float, n);
  Reso f1 = { 0 }, f2 = { 0 }, hp = { 0 };
  guint32 noise = 12345;
  double phase = 0.0;
  reso_set (&hp, 5000.0f, 2500.0f);
  for (gsize i = 0; i < n; i++) {
    double t = i / 16000.0;
    double cycle = fmod (t, 2.6);       /* 2 s of talk, 0.6 s pause */
    float env = 0.0f, fric = 0.0f;
    int syl = (int) (t * 4.2);
    if (cycle < 2.0) {
      double p = fmod (t * 4.2, 1.0);
      env = (float) (p < 0.7 ? sin (p / 0.7 * M_PI) : 0.0);
      if (syl % 3 == 1 && p > 0.72)
        fric = (float) sin ((p - 0.72) / 0.28 * M_PI);
    }
    int v = syl % 3;
    reso_set (&f1, formants[v][0], 90.0f);
    reso_set (&f2, formants[v][1], 120.0f);
    phase += (115.0 + 20.0 * sin (t * 2.0)) / 16000.0;
    float pulse = 0.0f;
    if (phase >= 1.0) {
      phase -= 1.0;
      pulse = 1.0f;
    }
    float src = pulse * 40.0f;
    float voiced = reso_run (&f1, src) + reso_run (&f2, src);
    noise = noise * 1664525u + 1013904223u;
    float white = ((noise >> 9) / 4194304.0f) - 1.0f;
    float hiss = reso_run (&hp, white) * 3.0f;
    out[i] = 0.5f * env * voiced + 0.12f * fric * hiss;
  }
  *n_samples = n;
  return out;
}

gboolean
ditto_media_save_png (const char *path, const guint8 * rgb, int width,
    int height, int stride, int bpp, GError ** error)
{
  guint8 *packed = g_malloc ((gsize) width * height * 3);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      memcpy (packed + ((gsize) y * width + x) * 3,
          rgb + (gsize) y * stride + x * bpp, 3);
  GdkPixbuf *pb = gdk_pixbuf_new_from_data (packed, GDK_COLORSPACE_RGB, FALSE,
      8, width, height, width * 3, NULL, NULL);
  gboolean ok = gdk_pixbuf_save (pb, path, "png", error, NULL);
  g_object_unref (pb);
  g_free (packed);
  return ok;
}

DittoMotion *
ditto_media_run_motion (guint past, guint current, guint future, guint steps,
    guint32 seed, const float *audio, gsize n_samples, gsize * n_frames_out)
{
  DittoMotionState *st = ditto_motion_new (past, current, future, steps, seed);
  guint win = past + current + future;
  gsize n_frames = (n_samples + SPF - 1) / SPF;
  DittoMotion *out = g_new0 (DittoMotion, n_frames + current);
  float *buf = g_new0 (float, win * SPF);
  for (gsize first = 0; first < n_frames; first += current) {
    for (gsize i = 0; i < win * SPF; i++) {
      gint64 s = (gint64) first * SPF - (gint64) past * SPF + (gint64) i;
      buf[i] = s >= 0 && (gsize) s < n_samples ? audio[s] : 0.0f;
    }
    guint cur = MIN (current, n_frames - first);
    gsize after = first + cur;
    guint real_future = after >= n_frames ? 0 : MIN (future, n_frames - after);
    ditto_motion_chunk (st, buf, cur, real_future, after >= n_frames,
        out + first);
  }
  g_free (buf);
  ditto_motion_free (st);
  *n_frames_out = n_frames;
  return out;
}
