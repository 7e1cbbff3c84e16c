/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The built-in animator on several kinds of portrait (GLib test framework,
 * TAP with --tap): landmarks against portraits made here with known
 * geometry (the bundled photo moved, shrunk into a wide frame, tilted,
 * recoloured to a dark skin tone, made painterly, and a drawn face), the
 * mouth against the audio (opening follows the envelope, chin moves less,
 * closed in silence, lead within 20 ms), and the mesh warp's continuity.
 * Contact sheets go to $DITTO_TEST_OUTPUT (default: a new temp dir); their
 * paths are printed. Run from the repository root.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ditto-animator-media.h"
#include "ditto-face-layout.h"
#include "ditto-mesh.h"
#include "ditto-motion.h"
#include "ditto-render.h"

#define SPF 640

static DittoImage portrait;
static DittoFaceLayout portrait_layout;
static gchar *out_dir;

/* ------------------------------------------------------------------ */
/* Images                                                              */

static DittoImage
image_new (int w, int h, guint8 r, guint8 g, guint8 b)
{
  DittoImage im = { g_malloc ((gsize) w * h * 3), w, h, w * 3 };
  for (gsize i = 0; i < (gsize) w * h; i++) {
    im.rgb[3 * i] = r;
    im.rgb[3 * i + 1] = g;
    im.rgb[3 * i + 2] = b;
  }
  return im;
}

static void
sample (const DittoImage * im, float x, float y, guint8 out[3])
{
  x = CLAMP (x, 0.0f, im->width - 1.001f);
  y = CLAMP (y, 0.0f, im->height - 1.001f);
  int ix = (int) x, iy = (int) y;
  float fx = x - ix, fy = y - iy;
  const guint8 *p = im->rgb + (gsize) iy * im->stride + 3 * ix;
  for (int c = 0; c < 3; c++) {
    float top = p[c] * (1 - fx) + p[3 + c] * fx;
    float bot = p[im->stride + c] * (1 - fx) + p[im->stride + 3 + c] * fx;
    out[c] = (guint8) (top * (1 - fy) + bot * fy + 0.5f);
  }
}

/* dst(x, y) = src(A (x, y) + t): an inverse affine map. */
static DittoImage
image_warp (const DittoImage * src, int w, int h, const float A[4],
    const float t[2])
{
  DittoImage im = image_new (w, h, 120, 130, 140);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      float sx = A[0] * x + A[1] * y + t[0], sy = A[2] * x + A[3] * y + t[1];
      if (sx < 0 || sy < 0 || sx > src->width - 1 || sy > src->height - 1)
        continue;
      sample (src, sx, sy, im.rgb + (gsize) y * im.stride + 3 * x);
    }
  return im;
}

/* The forward map of image_warp's inverse one, for expected landmarks. */
static void
warp_point (const float A[4], const float t[2], float sx, float sy, float *x,
    float *y)
{
  float det = A[0] * A[3] - A[1] * A[2];
  float u = sx - t[0], v = sy - t[1];
  *x = (A[3] * u - A[1] * v) / det;
  *y = (-A[2] * u + A[0] * v) / det;
}

/* How skin-like a pixel is, 0..1: warm (red over blue), not too dark. */
static float
skin_weight (const guint8 * p)
{
  float warm = CLAMP ((p[0] - p[2] - 4.0f) / 20.0f, 0.0f, 1.0f);
  float lit = CLAMP ((p[0] - 60.0f) / 40.0f, 0.0f, 1.0f);
  float order = p[1] >= p[2] ? 1.0f : 0.3f;
  return warm * lit * order;
}

/* A darker skin tone: skin-like pixels toward a deep brown, keeping their
 * shading, with a soft mask (the rest of the image as it was). */
static DittoImage
image_dark_skin (const DittoImage * src)
{
  DittoImage im = image_new (src->width, src->height, 0, 0, 0);
  static const float k[3] = { 0.45f, 0.34f, 0.30f };
  for (int y = 0; y < src->height; y++)
    for (int x = 0; x < src->width; x++) {
      const guint8 *s = src->rgb + (gsize) y * src->stride + 3 * x;
      guint8 *d = im.rgb + (gsize) y * im.stride + 3 * x;
      float w = skin_weight (s);
      for (int c = 0; c < 3; c++)
        d[c] = (guint8) (s[c] * (1.0f - w + w * k[c]) + 0.5f);
    }
  return im;
}

/* A painterly version: few colour levels, then a soft blur. */
static DittoImage
image_painterly (const DittoImage * src)
{
  DittoImage q = image_new (src->width, src->height, 0, 0, 0);
  for (int y = 0; y < src->height; y++)
    for (int x = 0; x < src->width; x++)
      for (int c = 0; c < 3; c++) {
        int v = src->rgb[(gsize) y * src->stride + 3 * x + c];
        q.rgb[(gsize) y * q.stride + 3 * x + c] = (guint8) (((v + 16) / 32) * 32 > 255 ? 255 : ((v + 16) / 32) * 32);
      }
  DittoImage im = image_new (src->width, src->height, 0, 0, 0);
  for (int y = 0; y < src->height; y++)
    for (int x = 0; x < src->width; x++)
      for (int c = 0; c < 3; c++) {
        int acc = 0, n = 0;
        for (int dy = -2; dy <= 2; dy++)
          for (int dx = -2; dx <= 2; dx++) {
            int xx = CLAMP (x + dx, 0, src->width - 1), yy = CLAMP (y + dy, 0, src->height - 1);
            acc += q.rgb[(gsize) yy * q.stride + 3 * xx + c];
            n++;
          }
        im.rgb[(gsize) y * im.stride + 3 * x + c] = (guint8) (acc / n);
      }
  ditto_media_image_clear (&q);
  return im;
}

static void
blend_px (DittoImage * im, int x, int y, const float col[3], float a)
{
  if (x < 0 || y < 0 || x >= im->width || y >= im->height || a <= 0)
    return;
  guint8 *p = im->rgb + (gsize) y * im->stride + 3 * x;
  a = MIN (a, 1.0f);
  for (int c = 0; c < 3; c++)
    p[c] = (guint8) (p[c] + (col[c] - p[c]) * a + 0.5f);
}

/* A filled ellipse with a soft edge; shade darkens it toward its rim. */
static void
ellipse (DittoImage * im, float cx, float cy, float rx, float ry,
    const float col[3], float shade)
{
  for (int y = (int) (cy - ry - 2); y <= (int) (cy + ry + 2); y++)
    for (int x = (int) (cx - rx - 2); x <= (int) (cx + rx + 2); x++) {
      float dx = (x - cx) / rx, dy = (y - cy) / ry;
      float d = sqrtf (dx * dx + dy * dy);
      float a = CLAMP ((1.0f - d) * MIN (rx, ry) + 0.5f, 0.0f, 1.0f);
      float k = 1.0f - shade * d * d;
      float c[3] = { col[0] * k, col[1] * k, col[2] * k };
      blend_px (im, x, y, c, a);
    }
}

/* A thick stroke along a quadratic curve through p0, p1 (control), p2. */
static void
stroke (DittoImage * im, const float p0[2], const float p1[2],
    const float p2[2], float width, const float col[3])
{
  for (int i = 0; i <= 200; i++) {
    float t = i / 200.0f, u = 1 - t;
    float x = u * u * p0[0] + 2 * u * t * p1[0] + t * t * p2[0];
    float y = u * u * p0[1] + 2 * u * t * p1[1] + t * t * p2[1];
    float w = width * (0.6f + 0.4f * sinf (t * (float) M_PI));
    ellipse (im, x, y, 0.5f * w, 0.5f * w, col, 0.0f);
  }
}

/* A drawn (illustrated) face, 512x512: eyes at (212, 232) and (300, 232),
 * mouth line centre at (256, 334). */
static DittoImage
image_drawn_face (void)
{
  DittoImage im = image_new (512, 512, 196, 206, 214);
  static const float hair[3] = { 70, 45, 30 }, skin[3] = { 228, 184, 152 };
  static const float white[3] = { 245, 242, 238 }, iris[3] = { 80, 55, 35 };
  static const float dark[3] = { 30, 20, 18 }, lip[3] = { 176, 86, 84 };
  static const float brow[3] = { 60, 40, 28 }, shadow[3] = { 190, 140, 112 };
  ellipse (&im, 256, 215, 150, 170, hair, 0.3f);
  ellipse (&im, 256, 470, 70, 110, skin, 0.2f);      /* neck */
  ellipse (&im, 256, 262, 112, 140, skin, 0.28f);
  for (int e = 0; e < 2; e++) {
    float x = e ? 300 : 212, y = 232;
    ellipse (&im, x, y, 24, 11, white, 0.1f);
    ellipse (&im, x, y, 10, 10, iris, 0.2f);
    ellipse (&im, x, y, 4.5f, 4.5f, dark, 0.0f);
    float a[2] = { x - 25, y + 1 }, c[2] = { x, y - 20 }, b[2] = { x + 25, y + 1 };
    stroke (&im, a, c, b, 3.5f, dark);          /* upper lid and lashes */
    float ba[2] = { x - 30, y - 24 }, bc[2] = { x, y - 40 }, bb[2] = { x + 30, y - 26 };
    stroke (&im, ba, bc, bb, 7.0f, brow);
  }
  float n0[2] = { 250, 240 }, n1[2] = { 246, 275 }, n2[2] = { 250, 298 };
  stroke (&im, n0, n1, n2, 5.0f, shadow);
  ellipse (&im, 243, 300, 6, 3.5f, shadow, 0.0f);
  ellipse (&im, 269, 300, 6, 3.5f, shadow, 0.0f);
  /* Lips: upper and lower, the line between them dark. */
  ellipse (&im, 256, 328, 40, 9, lip, 0.1f);
  ellipse (&im, 256, 342, 34, 11, lip, 0.15f);
  float m0[2] = { 214, 333 }, m1[2] = { 256, 338 }, m2[2] = { 298, 333 };
  stroke (&im, m0, m1, m2, 3.0f, (const float[3]) { 110, 45, 45 });
  return im;
}

static gchar *
save_png (const char *name, const DittoImage * im)
{
  gchar *path = g_build_filename (out_dir, name, NULL);
  GError *err = NULL;
  if (!ditto_media_save_png (path, im->rgb, im->width, im->height, im->stride,
          3, &err))
    g_error ("%s: %s", path, err->message);
  g_test_message ("contact sheet: %s", path);
  return path;
}

/* ------------------------------------------------------------------ */
/* Landmarks                                                           */

typedef struct {
  float eye[2][2], mouth[2];
} Anchors;

static void
anchors_of (const DittoFaceLayout * l, Anchors * a)
{
  for (int e = 0; e < 2; e++) {
    a->eye[e][0] = l->eye_x[e];
    a->eye[e][1] = l->eye_y[e];
  }
  a->mouth[0] = l->mouth_x;
  a->mouth[1] = l->mouth_y;
}

/* Every anchor within tol eye distances of the expected place. */
static void
check_anchors (const char *what, const DittoFaceLayout * l, const Anchors * want,
    float tol)
{
  Anchors got;
  anchors_of (l, &got);
  float eye_d = hypotf (want->eye[1][0] - want->eye[0][0],
      want->eye[1][1] - want->eye[0][1]);
  float worst = 0;
  for (int e = 0; e < 2; e++)
    worst = MAX (worst, hypotf (got.eye[e][0] - want->eye[e][0],
            got.eye[e][1] - want->eye[e][1]));
  worst = MAX (worst, hypotf (got.mouth[0] - want->mouth[0],
          got.mouth[1] - want->mouth[1]));
  g_test_message ("%s: face source %d, eyes (%.0f,%.0f) (%.0f,%.0f), mouth "
      "(%.0f,%.0f); worst error %.2f eye distances", what, l->source,
      got.eye[0][0], got.eye[0][1], got.eye[1][0], got.eye[1][1],
      got.mouth[0], got.mouth[1], worst / eye_d);
  g_assert_true (l->detected);
  g_assert_cmpfloat (worst / eye_d, <, tol);
}

static void
detect (const DittoImage * im, DittoFaceLayout * l)
{
  gchar *note = NULL;
  ditto_face_detect (im->rgb, im->width, im->height, im->stride, NULL,
      DITTO_CASCADE_DIR, l, &note);
  if (note)
    g_test_message ("detector note: %s", note);
  g_free (note);
}

/* Hand-checked on the bundled photo (see its contact sheet). */
static void
test_landmarks_photo (void)
{
  Anchors want = { {{203, 101}, {247, 104}}, {222, 147} };
  check_anchors ("photo", &portrait_layout, &want, 0.12f);
  g_assert_cmpint (portrait_layout.source, ==, DITTO_FACE_SOURCE_DLIB);
  /* The jaw line runs below the mouth and the brows above the eyes. */
  g_assert_cmpfloat (portrait_layout.lm[8][1], >, portrait_layout.mouth_y + 15);
  g_assert_cmpfloat (portrait_layout.lm[19][1], <, portrait_layout.eye_y[0] - 5);
}

static void
expect_warped (const Anchors * base, const float A[4], const float t[2],
    Anchors * want)
{
  for (int e = 0; e < 2; e++)
    warp_point (A, t, base->eye[e][0], base->eye[e][1], &want->eye[e][0],
        &want->eye[e][1]);
  warp_point (A, t, base->mouth[0], base->mouth[1], &want->mouth[0],
      &want->mouth[1]);
}

/* The photo at 75 % in a 1600x900 frame: a small face (4 % of the width)
 * in a wide picture. */
static void
test_landmarks_small_face_wide_frame (void)
{
  float A[4] = { 1 / 0.75f, 0, 0, 1 / 0.75f }, t[2] = { -1000 / 0.75f, -380 / 0.75f };
  DittoImage im = image_warp (&portrait, 1600, 900, A, t);
  DittoFaceLayout l;
  detect (&im, &l);
  Anchors base, want;
  anchors_of (&portrait_layout, &base);
  expect_warped (&base, A, t, &want);
  check_anchors ("small face in a wide frame", &l, &want, 0.15f);
  ditto_media_image_clear (&im);
}

/* The photo turned by 22 degrees about the face. */
static void
test_landmarks_tilted (void)
{
  float a = 22.0f * (float) M_PI / 180.0f, c = cosf (a), s = sinf (a);
  float cx = 225, cy = 125;
  float A[4] = { c, -s, s, c };
  float t[2] = { cx - (c * cx - s * cy), cy - (s * cx + c * cy) };
  DittoImage im = image_warp (&portrait, 512, 512, A, t);
  DittoFaceLayout l;
  detect (&im, &l);
  Anchors base, want;
  anchors_of (&portrait_layout, &base);
  expect_warped (&base, A, t, &want);
  check_anchors ("tilted 22 degrees", &l, &want, 0.15f);
  ditto_media_image_clear (&im);
}

static void
test_landmarks_dark_skin (void)
{
  DittoImage im = image_dark_skin (&portrait);
  DittoFaceLayout l;
  detect (&im, &l);
  Anchors want;
  anchors_of (&portrait_layout, &want);
  check_anchors ("dark skin tone", &l, &want, 0.12f);
  ditto_media_image_clear (&im);
}

static void
test_landmarks_painterly (void)
{
  DittoImage im = image_painterly (&portrait);
  DittoFaceLayout l;
  detect (&im, &l);
  Anchors want;
  anchors_of (&portrait_layout, &want);
  check_anchors ("painterly", &l, &want, 0.15f);
  ditto_media_image_clear (&im);
}

static void
test_landmarks_drawn (void)
{
  DittoImage im = image_drawn_face ();
  DittoFaceLayout l;
  detect (&im, &l);
  Anchors want = { {{212, 232}, {300, 232}}, {256, 334} };
  check_anchors ("drawn face", &l, &want, 0.2f);
  ditto_media_image_clear (&im);
}

/* No face at all: the centred default, and a note saying so. */
static void
test_landmarks_none (void)
{
  DittoImage im = image_new (320, 240, 90, 120, 150);
  DittoFaceLayout l;
  gchar *note = NULL;
  g_assert_false (ditto_face_detect (im.rgb, im.width, im.height, im.stride,
          NULL, DITTO_CASCADE_DIR, &l, &note));
  g_assert_nonnull (note);
  g_assert_false (l.detected);
  g_assert_cmpint (l.source, ==, DITTO_FACE_SOURCE_DEFAULT);
  /* The default still has a whole face shape to animate. */
  g_assert_cmpfloat (l.eye_x[0], <, l.eye_x[1]);
  g_assert_cmpfloat (l.mouth_y, >, l.eye_y[0]);
  g_free (note);
  ditto_media_image_clear (&im);
}

/* Without the landmark model (libdlib-data missing): the face is still
 * found, the average shape goes into its box, and a note says why. */
static void
test_landmarks_without_model (void)
{
  g_setenv ("DITTO_LANDMARK_MODEL", "/nonexistent/shape_predictor_68.dat", TRUE);
  DittoFaceLayout l;
  gchar *note = NULL;
  g_assert_true (ditto_face_detect (portrait.rgb, portrait.width,
          portrait.height, portrait.stride, NULL, DITTO_CASCADE_DIR, &l, &note));
  g_unsetenv ("DITTO_LANDMARK_MODEL");
  g_assert_nonnull (note);
  g_assert_nonnull (strstr (note, "libdlib-data"));
  g_assert_cmpint (l.source, ==, DITTO_FACE_SOURCE_TEMPLATE);
  Anchors want;
  anchors_of (&portrait_layout, &want);
  check_anchors ("without the landmark model", &l, &want, 0.35f);
  g_free (note);
}

/* ------------------------------------------------------------------ */
/* Rendering helpers                                                   */

typedef struct {
  DittoRenderer *r;
  GstVideoInfo info;
  guint8 *frame;
  int stride;
} Canvas;

static void
canvas_init (Canvas * c, const DittoImage * im, const DittoFaceLayout * l)
{
  gst_video_info_set_format (&c->info, GST_VIDEO_FORMAT_RGB, im->width,
      im->height);
  GError *err = NULL;
  c->r = ditto_renderer_new (im->rgb, im->width, im->height, im->stride, l,
      &c->info, &err);
  g_assert_no_error (err);
  c->stride = GST_VIDEO_INFO_PLANE_STRIDE (&c->info, 0);
  c->frame = g_malloc (GST_VIDEO_INFO_SIZE (&c->info));
}

static void
canvas_draw (Canvas * c, const DittoMotion * m)
{
  guint8 *data[GST_VIDEO_MAX_PLANES] = { c->frame };
  gint stride[GST_VIDEO_MAX_PLANES] = { c->stride };
  ditto_renderer_draw (c->r, m, data, stride);
}

static void
canvas_clear (Canvas * c)
{
  ditto_renderer_free (c->r);
  g_free (c->frame);
}

/* The drawn inner lips' distance at the mouth's middle, px. */
static float
drawn_gap (Canvas * c)
{
  const float (*dst)[2];
  ditto_renderer_get_mesh (c->r, &dst);
  return hypotf (dst[66][0] - dst[62][0], dst[66][1] - dst[62][1]);
}

static float
luma (const guint8 * p)
{
  return 0.3f * p[0] + 0.59f * p[1] + 0.11f * p[2];
}

/* Mean |frame - still| in a box. */
static float
box_change (const Canvas * c, const guint8 * still, float x0, float y0,
    float x1, float y1)
{
  double acc = 0;
  int n = 0;
  for (int y = MAX (0, (int) y0); y < MIN (c->info.height, (int) y1); y++)
    for (int x = MAX (0, (int) x0); x < MIN (c->info.width, (int) x1); x++) {
      acc += fabsf (luma (c->frame + y * c->stride + 3 * x)
          - luma (still + y * c->stride + 3 * x));
      n++;
    }
  return n ? (float) (acc / n) : 0.0f;
}

static double
pearson (const float *a, const float *b, gsize n)
{
  double ma = 0, mb = 0;
  for (gsize i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (gsize i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / sqrt (saa * sbb + 1e-12);
}

/* Level of the audio around time t (seconds), a 20 ms window: dB above
 * -50 dBFS (loudness, as the ear and the mouth follow it). */
static float
envelope_at (const float *audio, gsize n, double t)
{
  gint64 c = (gint64) (t * 16000.0), h = 160;
  double acc = 0;
  int k = 0;
  for (gint64 i = c - h; i < c + h; i++)
    if (i >= 0 && (gsize) i < n) {
      acc += audio[i] * audio[i];
      k++;
    }
  return k ? (float) MAX (0.0, 10.0 * log10 (acc / k + 1e-12) + 50.0) : 0.0f;
}

/* ------------------------------------------------------------------ */
/* Mouth and audio                                                     */

/* Speech: the mouth's rendered opening follows the sound's envelope, and
 * the chin moves less than the lips. */
static void
test_mouth_follows_audio (void)
{
  gsize n, frames;
  float *audio = ditto_media_synth_speech (6.0, &n);
  DittoMotion *m = ditto_media_run_motion (3, 5, 2, 10, 7, audio, n, &frames);
  Canvas c;
  canvas_init (&c, &portrait, &portrait_layout);
  const DittoFaceLayout *l = ditto_renderer_get_layout (c.r);
  DittoMotion still = { 0 };
  canvas_draw (&c, &still);
  guint8 *closed = g_memdup2 (c.frame, GST_VIDEO_INFO_SIZE (&c.info));
  float *open = g_new (float, frames), *env = g_new (float, frames);
  double lip_move = 0, chin_move = 0;
  float mhw = l->mouth_half_w;
  for (gsize k = 0; k < frames; k++) {
    DittoMotion f = m[k];
    /* The mouth alone: the head holds still for this measure. */
    f.roll = f.head_dx = f.head_dy = f.yaw = f.pitch = 0.0f;
    canvas_draw (&c, &f);
    open[k] = box_change (&c, closed, l->mouth_x - 0.6f * mhw, l->mouth_y - 0.15f * mhw,
        l->mouth_x + 0.6f * mhw, l->mouth_y + 0.5f * mhw);
    env[k] = envelope_at (audio, n, k * 0.04);
    const float (*dst)[2];
    const DittoMesh *mesh = ditto_renderer_get_mesh (c.r, &dst);
    lip_move += hypotf (dst[57][0] - mesh->rest[57][0], dst[57][1] - mesh->rest[57][1]);
    chin_move += hypotf (dst[8][0] - mesh->rest[8][0], dst[8][1] - mesh->rest[8][1]);
  }
  double r = pearson (open, env, frames);
  g_test_message ("mouth opening vs audio envelope: r = %.2f; lower lip moves "
      "%.2f px, chin %.2f px on average", r, lip_move / frames, chin_move / frames);
  g_assert_cmpfloat (r, >, 0.6);
  g_assert_cmpfloat (chin_move, <, 0.95 * lip_move);
  g_assert_cmpfloat (chin_move, >, 0.3 * lip_move);      /* the jaw does move */
  g_free (closed);
  g_free (open);
  g_free (env);
  canvas_clear (&c);
  g_free (m);
  g_free (audio);
}

/* Silence (with faint room noise): lips closed, the face still alive. */
static void
test_mouth_closed_in_silence (void)
{
  gsize n = 16000 * 6, frames;
  float *audio = g_new0 (float, n);
  guint32 s = 9;
  for (gsize i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    audio[i] = ((s >> 9) / 4194304.0f - 1.0f) * 0.001f;
  }
  DittoMotion *m = ditto_media_run_motion (3, 5, 2, 10, 7, audio, n, &frames);
  Canvas c;
  canvas_init (&c, &portrait, &portrait_layout);
  float worst_gap = 0, nose_min = 1e9f, nose_max = -1e9f;
  for (gsize k = 0; k < frames; k++) {
    canvas_draw (&c, &m[k]);
    worst_gap = MAX (worst_gap, drawn_gap (&c));
    const float (*dst)[2];
    ditto_renderer_get_mesh (c.r, &dst);
    nose_min = MIN (nose_min, dst[30][0]);
    nose_max = MAX (nose_max, dst[30][0]);
  }
  g_test_message ("silence: widest lip gap %.2f px; nose sways %.2f px",
      worst_gap, nose_max - nose_min);
  /* The portrait smiles with parted lips: they close. */
  g_assert_cmpfloat (portrait_layout.mouth_gap, >, 1.0f);
  g_assert_cmpfloat (worst_gap, <, 0.5f);
  g_assert_cmpfloat (nose_max - nose_min, >, 0.5f);
  canvas_clear (&c);
  g_free (m);
  g_free (audio);
}

/* Lead of the mouth's opening over the sound: the lag of the best
 * cross-correlation between the opening (at the frames' timestamps) and the
 * audio envelope, at 5 ms resolution. Must be within 20 ms. */
static void
test_mouth_lead_within_20ms (void)
{
  gsize n, frames;
  float *audio = ditto_media_synth_speech (12.0, &n);
  DittoMotion *m = ditto_media_run_motion (3, 5, 2, 10, 7, audio, n, &frames);
  Canvas c;
  canvas_init (&c, &portrait, &portrait_layout);
  float *gap = g_new (float, frames);
  for (gsize k = 0; k < frames; k++) {
    canvas_draw (&c, &m[k]);
    gap[k] = drawn_gap (&c);
  }
  g_assert_cmpuint (frames, >, 100);
  /* Both signals on a 5 ms grid. */
  gsize steps = (frames - 1) * 8;
  float *g5 = g_new (float, steps), *e5 = g_new (float, steps);
  for (gsize i = 0; i < steps; i++) {
    double f = i / 8.0;
    gsize k = (gsize) f;
    g5[i] = gap[k] + (float) (f - k) * (gap[k + 1] - gap[k]);
    e5[i] = envelope_at (audio, n, i * 0.005);
  }
  int best_lag = 0;
  double best = -2;
  for (int lag = -20; lag <= 20; lag++) {       /* +-100 ms */
    /* mouth(t) against sound(t + lag): lag > 0 is the mouth leading. */
    gsize lo = lag < 0 ? (gsize) - lag : 0, hi = steps - (lag > 0 ? (gsize) lag : 0);
    double r = pearson (g5 + lo, e5 + lo + lag, hi - lo);
    if (r > best) {
      best = r;
      best_lag = lag;
    }
  }
  g_test_message ("mouth leads the sound by %d ms (r = %.2f)", best_lag * 5, best);
  g_assert_cmpint (abs (best_lag * 5), <=, 20);
  g_assert_cmpfloat (best, >, 0.6);
  g_free (g5);
  g_free (e5);
  g_free (gap);
  canvas_clear (&c);
  g_free (m);
  g_free (audio);
}

/* ------------------------------------------------------------------ */
/* Mesh continuity                                                     */

static gboolean
in_triangle (const float a[2], const float b[2], const float c[2], float x,
    float y, float grow)
{
  /* Inside the triangle grown by `grow` px (edge distances). */
  const float *p[3] = { a, b, c };
  float area = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]);
  if (fabsf (area) < 1e-6f)
    return FALSE;
  float sgn = area > 0 ? 1.0f : -1.0f;
  for (int k = 0; k < 3; k++) {
    const float *u = p[k], *v = p[(k + 1) % 3];
    float ex = v[0] - u[0], ey = v[1] - u[1], len = hypotf (ex, ey);
    float e = sgn * (ex * (y - u[1]) - ey * (x - u[0])) / MAX (len, 1e-6f);
    if (e < -grow)
      return FALSE;
  }
  return TRUE;
}

/* A smooth image warped by a strong pose: no seams, tears or holes
 * anywhere (the discrete Laplacian stays as small as a smooth image's),
 * outside the painted mouth opening. */
static void
test_mesh_no_seams (void)
{
  DittoImage smooth = image_new (512, 512, 0, 0, 0);
  for (int y = 0; y < 512; y++)
    for (int x = 0; x < 512; x++) {
      guint8 *p = smooth.rgb + (gsize) y * smooth.stride + 3 * x;
      p[0] = (guint8) (128 + 90 * sinf (x / 23.0f) * cosf (y / 31.0f));
      p[1] = (guint8) (128 + 90 * cosf ((x + y) / 37.0f));
      p[2] = (guint8) (60 + 0.3f * x);
    }
  Canvas c;
  canvas_init (&c, &smooth, &portrait_layout);
  DittoMotion m = { 0 };
  m.jaw = 0.9f;
  m.spread = -0.6f;
  m.blink = 0.6f;
  m.brow = 1.0f;
  m.gaze_x = 0.8f;
  m.roll = 0.035f;
  m.head_dx = 0.02f;
  m.yaw = 0.03f;
  m.pitch = -0.02f;
  canvas_draw (&c, &m);
  const float (*dst)[2];
  const DittoMesh *mesh = ditto_renderer_get_mesh (c.r, &dst);
  /* No triangle turns over (that would tear the image). */
  int folded = 0;
  for (int t = 0; t < mesh->n_tris; t++) {
    const int *v = mesh->tris[t];
    double ra = (mesh->rest[v[1]][0] - mesh->rest[v[0]][0]) * (mesh->rest[v[2]][1] - mesh->rest[v[0]][1])
        - (mesh->rest[v[2]][0] - mesh->rest[v[0]][0]) * (mesh->rest[v[1]][1] - mesh->rest[v[0]][1]);
    double da = (dst[v[1]][0] - dst[v[0]][0]) * (dst[v[2]][1] - dst[v[0]][1])
        - (dst[v[2]][0] - dst[v[0]][0]) * (dst[v[1]][1] - dst[v[0]][1]);
    if (fabs (ra) > 1.0 && ra * da < 0) {
      g_test_message ("triangle %d (%d %d %d) folds: area %.1f -> %.1f", t,
          v[0], v[1], v[2], ra / 2, da / 2);
      folded++;
    }
  }
  g_assert_cmpint (folded, ==, 0);
  float worst = 0, smooth_worst = 0;
  int wx = 0, wy = 0;
  for (int y = 1; y < 511; y++)
    for (int x = 1; x < 511; x++) {
      gboolean mouth = FALSE;
      for (int t = 0; t < mesh->n_tris && !mouth; t++)
        if (mesh->kind[t] == DITTO_MESH_TRI_MOUTH)
          mouth = in_triangle (dst[mesh->tris[t][0]], dst[mesh->tris[t][1]],
              dst[mesh->tris[t][2]], x, y, 2.5f);
      if (mouth)
        continue;
      for (int ch = 0; ch < 3; ch++) {
        const guint8 *p = c.frame + y * c.stride + 3 * x + ch;
        const guint8 *q = smooth.rgb + (gsize) y * smooth.stride + 3 * x + ch;
        float lap = fabsf (4.0f * p[0] - p[-3] - p[3] - p[-c.stride] - p[c.stride]);
        float lq = fabsf (4.0f * q[0] - q[-3] - q[3] - q[-smooth.stride] - q[smooth.stride]);
        if (lap > worst) {
          worst = lap;
          wx = x;
          wy = y;
        }
        smooth_worst = MAX (smooth_worst, lq);
      }
    }
  g_test_message ("largest Laplacian: warped %.0f at %d,%d; the smooth image %.0f",
      worst, wx, wy, smooth_worst);
  DittoImage shot = { c.frame, 512, 512, c.stride };
  g_free (save_png ("mesh-smooth-warp.png", &shot));
  g_assert_cmpfloat (worst, <=, smooth_worst + 8.0f);
  canvas_clear (&c);
  ditto_media_image_clear (&smooth);
}

/* Every pixel of the head is drawn by exactly one triangle at rest: the
 * triangles' areas add up to the outer ring's (an overlap or a fold would
 * add more, a hole less). */
static void
test_mesh_covers_once (void)
{
  DittoMesh mesh;
  ditto_mesh_build (&portrait_layout, &mesh);
  double sum = 0;
  for (int t = 0; t < mesh.n_tris; t++) {
    const float *a = mesh.rest[mesh.tris[t][0]], *b = mesh.rest[mesh.tris[t][1]],
        *c = mesh.rest[mesh.tris[t][2]];
    double area = 0.5 * ((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]));
    sum += fabs (area);
  }
  double ring = 0;
  for (int i = 0; i < 16; i++) {
    const float *a = mesh.rest[DITTO_MESH_RING_OUT + i],
        *b = mesh.rest[DITTO_MESH_RING_OUT + (i + 1) % 16];
    ring += 0.5 * (a[0] * b[1] - b[0] * a[1]);
  }
  g_test_message ("%d triangles, area %.0f vs outer ring %.0f", mesh.n_tris,
      sum, fabs (ring));
  g_assert_cmpint (mesh.n_tris, >, 150);
  g_assert_cmpfloat (fabs (sum - fabs (ring)), <, 1e-5 * fabs (ring));
}

/* ------------------------------------------------------------------ */
/* Contact sheets                                                      */

static void
paste (DittoImage * sheet, int ox, int oy, const guint8 * src, int stride,
    int sx, int sy, int w, int h, int zoom)
{
  for (int y = 0; y < h * zoom; y++)
    for (int x = 0; x < w * zoom; x++) {
      int px = CLAMP (sx + x / zoom, 0, 1 << 20), py = sy + y / zoom;
      guint8 *d = sheet->rgb + (gsize) (oy + y) * sheet->stride + 3 * (ox + x);
      if (py < 0 || px < 0)
        continue;
      memcpy (d, src + (gsize) py * stride + 3 * px, 3);
    }
}

/* Frames of one portrait: landmarks, then rest, aa, oo, ee, m, blink with a
 * glance and raised brows, a turned head; its face enlarged. */
static void
contact_sheet (const char *name, const DittoImage * im)
{
  DittoFaceLayout l;
  detect (im, &l);
  gchar *source = g_strdup_printf ("portrait-%s.png", name);
  g_free (save_png (source, im));
  g_free (source);
  Canvas c;
  canvas_init (&c, im, &l);
  const DittoFaceLayout *L = ditto_renderer_get_layout (c.r);
  float S = hypotf (L->eye_x[1] - L->eye_x[0], L->eye_y[1] - L->eye_y[0]) / 0.411f;
  int side = (int) (1.3f * S), zoom = MAX (1, (int) ceilf (220.0f / MAX (side, 1)));
  int cx = (int) (0.5f * (L->eye_x[0] + L->eye_x[1])), cy = (int) (L->eye_y[0] + 0.25f * S);
  int x0 = CLAMP (cx - side / 2, 0, MAX (0, im->width - side));
  int y0 = CLAMP (cy - side / 2, 0, MAX (0, im->height - side));
  side = MIN (side, MIN (im->width, im->height));
  int tile = side * zoom;
  DittoMotion poses[8] = { {0} };
  poses[2].jaw = 1.0f, poses[2].teeth = 0.4f;                   /* aa */
  poses[3].jaw = 0.4f, poses[3].spread = -1.0f;                  /* oo */
  poses[4].jaw = 0.35f, poses[4].spread = 1.0f, poses[4].teeth = 0.7f;  /* ee */
  poses[5].press = 1.0f;                                         /* m */
  poses[6].blink = 0.7f, poses[6].brow = 1.0f, poses[6].gaze_x = 0.9f;
  poses[7].jaw = 0.6f, poses[7].roll = 0.05f, poses[7].yaw = 0.03f, poses[7].head_dx = 0.02f;
  DittoImage sheet = image_new (4 * tile, 2 * tile, 0, 0, 0);
  for (int k = 0; k < 8; k++) {
    canvas_draw (&c, &poses[k]);
    if (k == 0) {
      /* Landmarks in green, mesh vertices in blue. */
      const float (*dst)[2];
      const DittoMesh *mesh = ditto_renderer_get_mesh (c.r, &dst);
      DittoImage f = { c.frame, im->width, im->height, c.stride };
      static const float green[3] = { 40, 255, 60 }, blue[3] = { 60, 120, 255 };
      for (int i = 0; i < DITTO_MESH_N_VERTS; i++)
        ellipse (&f, mesh->rest[i][0], mesh->rest[i][1], 1.2f, 1.2f,
            i < DITTO_FACE_N_LANDMARKS ? green : blue, 0.0f);
    }
    paste (&sheet, (k % 4) * tile, (k / 4) * tile, c.frame, c.stride, x0, y0,
        side, side, zoom);
  }
  gchar *file = g_strdup_printf ("faces-%s.png", name);
  g_free (save_png (file, &sheet));
  g_free (file);
  ditto_media_image_clear (&sheet);
  canvas_clear (&c);
}

static void
test_contact_sheets (void)
{
  contact_sheet ("photo", &portrait);
  DittoImage dark = image_dark_skin (&portrait);
  contact_sheet ("dark-skin", &dark);
  ditto_media_image_clear (&dark);
  DittoImage paint = image_painterly (&portrait);
  contact_sheet ("painterly", &paint);
  ditto_media_image_clear (&paint);
  DittoImage drawn = image_drawn_face ();
  contact_sheet ("drawn", &drawn);
  ditto_media_image_clear (&drawn);
  float a = 22.0f * (float) M_PI / 180.0f, co = cosf (a), si = sinf (a);
  float A[4] = { co, -si, si, co };
  float t[2] = { 225 - (co * 225 - si * 125), 125 - (si * 225 + co * 125) };
  DittoImage tilted = image_warp (&portrait, 512, 512, A, t);
  contact_sheet ("tilted", &tilted);
  ditto_media_image_clear (&tilted);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  const char *path = g_getenv ("DITTO_TEST_PORTRAIT");
  GError *err = NULL;
  if (!ditto_media_load_image (path ? path : "src/server/demo/media/portrait.jpg",
          &portrait, &err))
    g_error ("portrait: %s", err->message);
  detect (&portrait, &portrait_layout);
  const char *dir = g_getenv ("DITTO_TEST_OUTPUT");
  if (dir && *dir) {
    g_mkdir_with_parents (dir, 0755);
    out_dir = g_strdup (dir);
  } else {
    out_dir = g_dir_make_tmp ("ditto-animator-XXXXXX", &err);
    g_assert_no_error (err);
  }
  printf ("# contact sheets in %s\n", out_dir);

  g_test_add_func ("/animator/landmarks/photo", test_landmarks_photo);
  g_test_add_func ("/animator/landmarks/small-face-wide-frame", test_landmarks_small_face_wide_frame);
  g_test_add_func ("/animator/landmarks/tilted", test_landmarks_tilted);
  g_test_add_func ("/animator/landmarks/dark-skin", test_landmarks_dark_skin);
  g_test_add_func ("/animator/landmarks/painterly", test_landmarks_painterly);
  g_test_add_func ("/animator/landmarks/drawn", test_landmarks_drawn);
  g_test_add_func ("/animator/landmarks/none", test_landmarks_none);
  g_test_add_func ("/animator/mouth/follows-audio", test_mouth_follows_audio);
  g_test_add_func ("/animator/mouth/closed-in-silence", test_mouth_closed_in_silence);
  g_test_add_func ("/animator/mouth/lead-within-20ms", test_mouth_lead_within_20ms);
  g_test_add_func ("/animator/mesh/covers-once", test_mesh_covers_once);
  g_test_add_func ("/animator/mesh/no-seams", test_mesh_no_seams);
  g_test_add_func ("/animator/contact-sheets", test_contact_sheets);
  /* Last: it unloads the model, the next detection loads it again. */
  g_test_add_func ("/animator/without-model/average-shape", test_landmarks_without_model);
  int rc = g_test_run ();
  ditto_media_image_clear (&portrait);
  g_free (out_dir);
  return rc;
}
