/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Piecewise-affine mesh warp. The face mesh (ditto-mesh.h) is fixed per
 * portrait; each frame moves its vertices (head pose, turn parallax, jaw
 * about its hinge, lip shapes, eyelids, brows) and gives the eye centres a
 * shifted source point (gaze). Every triangle whose vertices moved is then
 * rasterised in the output with an exact integer edge test (top-left rule:
 * each pixel belongs to exactly one triangle, so there are no seams or
 * double-drawn edges) and sampled bilinearly from the still portrait through
 * its own affine map. A matte interpolated over the mesh (1 on the head and
 * hair, 0 on the outer ring) blends the moving head over the unmoved
 * background, so head motion never stretches the background. The mouth's
 * opening (between the two copies of the inner mouth's middle line) is
 * painted: a dark cavity, upper teeth under the upper lip, a tongue low in a
 * wide mouth; a portrait that shows its own teeth keeps them, hung from the
 * lips.
 */
#include "ditto-render.h"
#include "ditto-mesh.h"

#include <math.h>
#include <string.h>

#define NV DITTO_MESH_N_VERTS

struct _DittoRenderer {
  GstVideoInfo info;
  int W, H;
  DittoFaceLayout L;            /* in output pixels */
  DittoMesh mesh;
  guint8 *cache;                /* the still portrait in the output format */
  gboolean yuv;
  int bpp;                      /* RGB / RGBx */

  /* Colour conversion (YUV output). */
  float kr, kb, yoff, yscale, coff, cscale;

  /* Mouth interior colours (RGB), from the portrait's lips and lighting. */
  float cavity[3], teeth[3], tongue[3];
  gboolean own_teeth;           /* the portrait's open mouth shows teeth */
  float mouth_u[NV];            /* across the mouth: -1 .. 1 corner to corner */

  /* This frame's vertices: where they are drawn and where they sample. */
  float dst[NV][2], src[NV][2];
  float teeth_amount;
};

static inline float
clampf (float v, float lo, float hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

static inline float
smooth01 (float t)
{
  t = clampf (t, 0.0f, 1.0f);
  return t * t * (3.0f - 2.0f * t);
}

static inline guint8
clamp_u8 (float v)
{
  return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (guint8) (v + 0.5f);
}

static void
rgb_to_yuv (const DittoRenderer * r, const float rgb[3], float yuv[3])
{
  float y = r->kr * rgb[0] + (1.0f - r->kr - r->kb) * rgb[1] + r->kb * rgb[2];
  yuv[0] = r->yoff + r->yscale * y / 255.0f;
  yuv[1] = r->coff + r->cscale * (rgb[2] - y) / (2.0f * (1.0f - r->kb)) / 255.0f;
  yuv[2] = r->coff + r->cscale * (rgb[0] - y) / (2.0f * (1.0f - r->kr)) / 255.0f;
}

/* ------------------------------------------------------------------ */
/* Vertex motion                                                       */

static inline float
down_of (const DittoMesh * m, const float p[2])
{
  return p[0] * m->down[0] + p[1] * m->down[1];
}

/* Moves vertex i by a along the face's right axis and b along its down axis. */
static inline void
nudge (DittoRenderer * r, int i, float a, float b)
{
  const DittoMesh *m = &r->mesh;
  r->dst[i][0] += a * m->right[0] + b * m->down[0];
  r->dst[i][1] += a * m->right[1] + b * m->down[1];
}

/* Moves vertex i toward point t by fraction f. */
static inline void
pull (DittoRenderer * r, int i, const float t[2], float f)
{
  r->dst[i][0] += f * (t[0] - r->dst[i][0]);
  r->dst[i][1] += f * (t[1] - r->dst[i][1]);
}

static void
deform (DittoRenderer * r, const DittoMotion * mo)
{
  const DittoMesh *m = &r->mesh;
  const float (*rest)[2] = m->rest;
  const float S = m->scale;
  memcpy (r->dst, rest, sizeof r->dst);
  memcpy (r->src, rest, sizeof r->src);

  /* Mouth. The jaw turns about its hinge (near the ears): seen from the
   * front, jaw points drop in proportion to their distance below it; the
   * lower lip drops further (its own muscles), so the mouth moves more than
   * the chin. */
  float J = clampf (mo->jaw, 0.0f, 1.0f) * 0.09f * S;
  float hinge = down_of (m, rest[2]), chin = down_of (m, rest[8]);
  for (int k = 0; k <= 16; k++) {
    float t = clampf ((down_of (m, rest[k]) - hinge) / MAX (chin - hinge, 1.0f),
        0.0f, 1.0f);
    nudge (r, k, 0.0f, 0.8f * J * powf (t, 1.3f));
  }
  float mhw = MAX (r->L.mouth_half_w, 1.0f);
  float round = clampf (-mo->spread, 0.0f, 1.0f), wide = clampf (mo->spread, 0.0f, 1.0f);
  float press = clampf (mo->press, 0.0f, 1.0f);
  float mx = 0.5f * (rest[48][0] + rest[54][0]);
  float my = 0.5f * (rest[48][1] + rest[54][1]);
  float mcx = mx * m->right[0] + my * m->right[1];
  /* Portrait's own opening, closed when the mouth should be (silence); a
   * gap under 2 % of the face is the lips' line, not an opening. */
  float g0c = down_of (m, rest[66]) - down_of (m, rest[62]);
  float close = g0c > 0.02f * S ? clampf (1.0f - 3.0f * mo->jaw, 0.0f, 1.0f) : 0.0f;
  static const int upper_in[3] = { 61, 62, 63 }, lower_in[3] = { 67, 66, 65 };
  for (int c = 0; c < 3; c++) {
    float g0 = down_of (m, rest[lower_in[c]]) - down_of (m, rest[upper_in[c]]);
    float shut = close * g0;
    float side = c == 1 ? 1.0f : 0.9f;
    nudge (r, upper_in[c], 0.0f, 0.4f * shut - (c == 1 ? 0.13f : 0.1f) * J
        - 0.04f * round * mhw);
    nudge (r, lower_in[c], 0.0f, -0.6f * shut + 1.1f * side * J + (c == 1 ? 0.0f : 0.12f * round * J));
  }
  /* Lower lip with the jaw, upper lip a little up. */
  static const float lower_out_w[5] = { 0.7f, 0.95f, 1.05f, 0.95f, 0.7f };
  for (int i = 0; i < 5; i++)
    nudge (r, 55 + i, 0.0f, lower_out_w[i] * J + (i > 0 && i < 4 ? 0.05f * round * mhw
            - 0.03f * wide * mhw - 0.05f * press * mhw : 0.0f));
  for (int i = 49; i <= 53; i++)
    nudge (r, i, 0.0f, -0.06f * J + (i > 49 && i < 53 ? -0.05f * round * mhw
            + 0.03f * wide * mhw + 0.05f * press * mhw : 0.0f));
  /* Corners: down with the jaw, in for oo, out and up for ee. */
  static const int corners[4] = { 48, 54, 60, 64 };
  for (int i = 0; i < 4; i++) {
    int v = corners[i];
    float side = (rest[v][0] * m->right[0] + rest[v][1] * m->right[1]) < mcx ? -1.0f : 1.0f;
    float in = (v >= 60 ? 0.25f : 0.22f) * round * mhw + 0.05f * J;
    nudge (r, v, side * (0.12f * wide * mhw - in), 0.35f * J - 0.04f * wide * mhw);
  }
  static const int beside[4] = { 49, 53, 55, 59 };
  for (int i = 0; i < 4; i++) {
    int v = beside[i];
    float side = (rest[v][0] * m->right[0] + rest[v][1] * m->right[1]) < mcx ? -1.0f : 1.0f;
    nudge (r, v, side * (0.06f * wide - 0.12f * round) * mhw, 0.0f);
  }
  /* The inner mouth's middle line, twice: the portrait's upper half of the
   * inside hangs from the upper lip, its lower half from the lower lip; the
   * gap between the copies is the painted opening. */
  for (int c = 0; c < 3; c++) {
    int u = upper_in[c], l = lower_in[c];
    int mu = DITTO_MESH_MOUTH_UP + c, ml = DITTO_MESH_MOUTH_LOW + c;
    float g0 = down_of (m, rest[l]) - down_of (m, rest[u]);
    float gd = down_of (m, r->dst[l]) - down_of (m, r->dst[u]);
    float k = g0 > 1e-3f ? clampf (gd / g0, 0.0f, 1.0f) : 0.0f;
    for (int a = 0; a < 2; a++) {
      r->dst[mu][a] = r->dst[u][a] + k * (rest[mu][a] - rest[u][a]);
      r->dst[ml][a] = r->dst[l][a] + k * (rest[ml][a] - rest[l][a]);
    }
  }
  r->teeth_amount = clampf (mo->teeth, 0.0f, 1.0f);

  /* Eyes: the upper lid follows its contour down to the lower one; the
   * crease above stretches after it; the eye centre goes along so no
   * triangle folds. Gaze: the eye centre samples a shifted point. */
  float b = clampf (mo->blink, 0.0f, 1.0f);
  static const int lids[2][4] = { {37, 38, 41, 40}, {43, 44, 47, 46} };
  for (int e = 0; e < 2; e++) {
    float travel = 0.0f;
    for (int j = 0; j < 2; j++) {
      int up = lids[e][j], lo = lids[e][2 + j];
      float t[2] = { rest[lo][0] + 0.1f * (rest[up][0] - rest[lo][0]),
        rest[lo][1] + 0.1f * (rest[up][1] - rest[lo][1])
      };
      travel += 0.5f * b * (down_of (m, t) - down_of (m, rest[up]));
      pull (r, up, t, b);
      nudge (r, lo, 0.0f, -0.08f * b * (down_of (m, rest[lo]) - down_of (m, rest[up])));
    }
    for (int j = 0; j < 2; j++)
      nudge (r, DITTO_MESH_CREASE + 2 * e + j, 0.0f, 0.45f * travel);
    int c = DITTO_MESH_EYE_CENTRE + e;
    float lm[2] = { 0.5f * (rest[lids[e][2]][0] + rest[lids[e][3]][0]),
      0.5f * (rest[lids[e][2]][1] + rest[lids[e][3]][1])
    };
    float t[2] = { lm[0] + 0.05f * (rest[c][0] - lm[0]), lm[1] + 0.05f * (rest[c][1] - lm[1]) };
    pull (r, c, t, b);
    float ew = MAX (r->L.eye_half_w, 1.0f);
    float gx = clampf (mo->gaze_x, -1.0f, 1.0f) * 0.22f * ew * (1.0f - b);
    float gy = clampf (mo->gaze_y, -1.0f, 1.0f) * 0.12f * ew * (1.0f - b);
    r->src[c][0] -= gx * m->right[0] + gy * m->down[0];
    r->src[c][1] -= gx * m->right[1] + gy * m->down[1];
  }

  /* Brows up on emphasis; the forehead takes part of it. */
  float lift = clampf (mo->brow, 0.0f, 1.0f) * 0.035f * S;
  for (int i = 17; i <= 26; i++)
    nudge (r, i, 0.0f, -lift);
  for (int i = 0; i < 4; i++)
    nudge (r, DITTO_MESH_CREASE + i, 0.0f, -0.35f * lift);
  for (int i = 0; i < 7; i++)
    nudge (r, DITTO_MESH_FOREHEAD + i, 0.0f, -0.3f * lift);

  /* Turn and nod: the face's relief shifts with its depth. */
  for (int i = 0; i < NV; i++)
    nudge (r, i, mo->yaw * S * m->depth[i], mo->pitch * S * m->depth[i]);

  /* Head pose: a turn about the neck and a shift, for the whole mesh (the
   * matte decides how much of it shows over the background). */
  float c = cosf (mo->roll), s = sinf (mo->roll);
  float px = rest[8][0] + 0.3f * S * m->down[0], py = rest[8][1] + 0.3f * S * m->down[1];
  float tx = mo->head_dx * S, ty = mo->head_dy * S;
  for (int i = 0; i < NV; i++) {
    float x = r->dst[i][0] - px, y = r->dst[i][1] - py;
    r->dst[i][0] = px + c * x - s * y + tx;
    r->dst[i][1] = py + s * x + c * y + ty;
  }
}

/* ------------------------------------------------------------------ */
/* Rasterisation                                                       */

typedef struct {
  double a, b, c;               /* value = a x + b y + c */
} Aff;

/* The affine function through three values at three points. */
static gboolean
affine (const double x[3], const double y[3], const double f[3], Aff * o)
{
  double det = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0]);
  if (fabs (det) < 1e-9)
    return FALSE;
  o->a = ((f[1] - f[0]) * (y[2] - y[0]) - (f[2] - f[0]) * (y[1] - y[0])) / det;
  o->b = ((x[1] - x[0]) * (f[2] - f[0]) - (x[2] - x[0]) * (f[1] - f[0])) / det;
  o->c = f[0] - o->a * x[0] - o->b * y[0];
  return TRUE;
}

enum { PLANE_PACKED, PLANE_LUMA, PLANE_CHROMA };

typedef struct {
  int mode;
  int w, h;                     /* plane size */
  const guint8 *s0, *s1;        /* still portrait: plane (U for chroma), V */
  int ss0, ss1;
  guint8 *d0, *d1;              /* output */
  int ds0, ds1;
  int bpp;
  float scale, offset;          /* plane coordinate = (pixel - offset) * scale */
} Plane;

/* The painted opening of the mouth at (u across, v down 0..1, gap px). */
static void
mouth_colour (const DittoRenderer * r, float u, float v, float gap, float out[3])
{
  const float S = r->mesh.scale;
  float mid = clampf (1.0f - u * u, 0.0f, 1.0f);
  v = clampf (v, 0.0f, 1.0f);
  /* Darker away from the lips and deeper into a wide mouth. */
  float wide = smooth01 (gap / (0.05f * S));
  float edge = smooth01 (MIN (v, 1.0f - v) * gap * 0.5f);
  float dark = 1.0f - (0.45f * mid * wide + 0.15f) * edge - 0.1f * v;
  for (int i = 0; i < 3; i++)
    out[i] = r->cavity[i] * dark;
  /* Tongue low in a wide-open mouth. */
  float tg = smooth01 ((v - 0.55f) * 3.0f) * smooth01 ((gap - 0.04f * S) / (0.04f * S)) * mid;
  for (int i = 0; i < 3; i++)
    out[i] += (r->tongue[i] * (0.6f + 0.3f * mid) - out[i]) * 0.85f * tg;
  if (r->own_teeth)
    return;
  /* Upper teeth just under the upper lip, shaded toward the corners. */
  float th = MIN (gap * (0.32f + 0.25f * r->teeth_amount), 0.05f * S);
  float dt = v * gap;
  float a = clampf (th - dt + 0.5f, 0.0f, 1.0f) * smooth01 ((mid - 0.12f) * 2.5f)
      * smooth01 ((gap - 1.0f) * 0.5f);
  if (a > 0.0f) {
    float lit = (0.72f + 0.28f * mid) * (1.0f - 0.2f * clampf (dt / MAX (th, 1.0f), 0.0f, 1.0f));
    for (int i = 0; i < 3; i++)
      out[i] += (r->teeth[i] * lit - out[i]) * a;
  }
  /* A hint of the lower teeth when they show (s, f). */
  float db = (1.0f - v) * gap, lt = 0.35f * th * r->teeth_amount;
  float la = 0.7f * clampf (lt - db + 0.5f, 0.0f, 1.0f) * smooth01 ((mid - 0.3f) * 2.0f);
  if (la > 0.0f && lt > 0.5f)
    for (int i = 0; i < 3; i++)
      out[i] += (r->teeth[i] * 0.7f - out[i]) * la;
}

static inline void
tap (float sx, float sy, int w, int h, int *ix, int *iy, int *fx, int *fy)
{
  /* 1/256 px steps, rounded: an unmoved point samples its own pixel exactly. */
  int X = (int) lrintf (sx * 256.0f), Y = (int) lrintf (sy * 256.0f);
  X = CLAMP (X, 0, (w - 1) * 256);
  Y = CLAMP (Y, 0, (h - 1) * 256);
  *ix = X >> 8;
  *iy = Y >> 8;
  *fx = X & 255;
  *fy = Y & 255;
  if (*ix >= w - 1) {
    *ix = w - 2;
    *fx = 256;
  }
  if (*iy >= h - 1) {
    *iy = h - 2;
    *fy = 256;
  }
}

static inline int
bilerp (const guint8 * p, int step, int stride, int fx, int fy)
{
  int top = p[0] * (256 - fx) + p[step] * fx;
  int bot = p[stride] * (256 - fx) + p[stride + step] * fx;
  return (top * (256 - fy) + bot * fy + 32768) >> 16;
}

/* Draws one triangle into one plane. */
static void
raster (const DittoRenderer * r, const Plane * p, const int t[3], gboolean mouth)
{
  double x[3], y[3], sx[3], sy[3], w[3];
  gint64 X[3], Y[3];
  for (int k = 0; k < 3; k++) {
    int v = t[k];
    x[k] = (r->dst[v][0] - p->offset) * p->scale;
    y[k] = (r->dst[v][1] - p->offset) * p->scale;
    sx[k] = (r->src[v][0] - p->offset) * p->scale;
    sy[k] = (r->src[v][1] - p->offset) * p->scale;
    w[k] = r->mesh.matte[v];
    X[k] = (gint64) llround (x[k] * 16.0);
    Y[k] = (gint64) llround (y[k] * 16.0);
  }
  gint64 area = (X[1] - X[0]) * (Y[2] - Y[0]) - (X[2] - X[0]) * (Y[1] - Y[0]);
  if (area == 0)
    return;
  int order[3] = { 0, 1, 2 };
  if (area < 0) {
    order[1] = 2;
    order[2] = 1;
  }
  gint64 ex[3], ey[3], ec[3];   /* E = ex * px + ey * py + ec (16x units) */
  for (int k = 0; k < 3; k++) {
    int i = order[k], j = order[(k + 1) % 3];
    gint64 dx = X[j] - X[i], dy = Y[j] - Y[i];
    /* E = dx (py - Yi) - dy (px - Xi); on a shared edge exactly one of the
     * two triangles (which run it in opposite directions) takes the pixel. */
    ex[k] = -dy;
    ey[k] = dx;
    ec[k] = -dx * Y[i] + dy * X[i];
    if (!(dy > 0 || (dy == 0 && dx < 0)))
      ec[k] -= 1;
  }
  double minx = MIN (MIN (x[0], x[1]), x[2]), maxx = MAX (MAX (x[0], x[1]), x[2]);
  double miny = MIN (MIN (y[0], y[1]), y[2]), maxy = MAX (MAX (y[0], y[1]), y[2]);
  int x0 = MAX (0, (int) ceil (minx - 0.001)), x1 = MIN (p->w - 1, (int) floor (maxx + 0.001));
  int y0 = MAX (0, (int) ceil (miny - 0.001)), y1 = MIN (p->h - 1, (int) floor (maxy + 0.001));
  if (x0 > x1 || y0 > y1)
    return;

  Aff as, at, aw, au, av, ag;
  if (!affine (x, y, sx, &as) || !affine (x, y, sy, &at) || !affine (x, y, w, &aw))
    return;
  if (mouth) {
    double u[3], v[3], g[3];
    for (int k = 0; k < 3; k++) {
      int id = t[k];
      u[k] = r->mouth_u[id];
      v[k] = id >= DITTO_MESH_MOUTH_LOW ? 1.0 : id >= DITTO_MESH_MOUTH_UP ? 0.0 : 0.5;
      g[k] = 0.0;
    }
    /* The opening's height at each middle-line vertex, from its partner. */
    for (int k = 0; k < 3; k++) {
      int id = t[k];
      if (id >= DITTO_MESH_MOUTH_UP && id < DITTO_MESH_MOUTH_LOW + 3) {
        int c = (id - DITTO_MESH_MOUTH_UP) % 3;
        const float *a = r->dst[DITTO_MESH_MOUTH_UP + c], *b = r->dst[DITTO_MESH_MOUTH_LOW + c];
        g[k] = hypot (b[0] - a[0], b[1] - a[1]) * p->scale;
      }
    }
    if (!affine (x, y, u, &au) || !affine (x, y, v, &av) || !affine (x, y, g, &ag))
      return;
  }

  /* Skin: 16.16 fixed-point steps of the source position, clamped to the
   * image; the matte's blend only where it is below 1; a source that stays
   * inside the image needs no clamping. */
  double smin_x = MIN (MIN (sx[0], sx[1]), sx[2]), smax_x = MAX (MAX (sx[0], sx[1]), sx[2]);
  double smin_y = MIN (MIN (sy[0], sy[1]), sy[2]), smax_y = MAX (MAX (sy[0], sy[1]), sy[2]);
  gboolean inside = smin_x >= 0.0 && smin_y >= 0.0 && smax_x <= p->w - 1.01
      && smax_y <= p->h - 1.01;
  gboolean opaque = w[0] >= 0.999 && w[1] >= 0.999 && w[2] >= 0.999;
  if (!mouth && w[0] <= 0.001 && w[1] <= 0.001 && w[2] <= 0.001)
    return;                     /* all background */
  const gint64 max_x = (gint64) (p->w - 1) * 65536 - 257, max_y = (gint64) (p->h - 1) * 65536 - 257;

  for (int py = y0; py <= y1; py++) {
    /* The row's span: where all three edge functions are >= 0 (exact
     * integer arithmetic, so neighbours share their edge pixels exactly). */
    int xl = x0, xr = x1;
    for (int k = 0; k < 3 && xl <= xr; k++) {
      gint64 A = ex[k] * 16, B = ey[k] * (gint64) py * 16 + ec[k];
      if (A > 0) {
        /* A x + B >= 0  <=>  x >= ceil (-B / A) */
        gint64 n = -B, q = n >= 0 ? (n + A - 1) / A : -((-n) / A);
        xl = MAX (xl, (int) CLAMP (q, -1, (gint64) x1 + 1));
      } else if (A < 0) {
        /* x <= floor (B / -A) */
        gint64 d = -A, q = B >= 0 ? B / d : -((-B + d - 1) / d);
        xr = MIN (xr, (int) CLAMP (q, (gint64) x0 - 1, (gint64) x1 + 1));
      } else if (B < 0) {
        xr = xl - 1;
      }
    }
    if (xl > xr)
      continue;

    if (!mouth) {
      gint64 SX = llround (65536.0 * (as.a * xl + as.b * py + as.c)) + 128;
      gint64 SY = llround (65536.0 * (at.a * xl + at.b * py + at.c)) + 128;
      gint64 DX = llround (65536.0 * as.a), DY = llround (65536.0 * at.a);
      gint64 WM = llround (65536.0 * (aw.a * xl + aw.b * py + aw.c)), DW = llround (65536.0 * aw.a);
      const int ss = p->ss0, bpp = p->bpp;
      guint8 *o = p->d0 + (gsize) py * p->ds0 + (gsize) xl * bpp;
      guint8 *o1 = p->mode == PLANE_CHROMA ? p->d1 + (gsize) py * p->ds1 + xl : NULL;
      for (int px = xl; px <= xr; px++, SX += DX, SY += DY, WM += DW, o += bpp) {
        gint64 cx = SX, cy = SY;
        if (!inside) {
          cx = CLAMP (cx, 0, max_x);
          cy = CLAMP (cy, 0, max_y);
        }
        int X = (int) (cx >> 8), Y = (int) (cy >> 8);
        int fx = X & 255, fy = Y & 255;
        int a = opaque ? 256 : (int) CLAMP (WM >> 8, 0, 256);
        if (a == 0) {
          if (o1)
            o1++;
          continue;
        }
        const guint8 *q = p->s0 + (gsize) (Y >> 8) * ss + (gsize) (X >> 8) * bpp;
        int w00 = (256 - fx) * (256 - fy), w01 = fx * (256 - fy);
        int w10 = (256 - fx) * fy, w11 = fx * fy;
        int n = p->mode == PLANE_PACKED ? 3 : 1;
        for (int ch = 0; ch < n; ch++) {
          int v = (q[ch] * w00 + q[bpp + ch] * w01 + q[ss + ch] * w10
              + q[ss + bpp + ch] * w11 + 32768) >> 16;
          o[ch] = a == 256 ? v : o[ch] + (((v - o[ch]) * a) >> 8);
        }
        if (o1) {
          const guint8 *q1 = p->s1 + (gsize) (Y >> 8) * p->ss1 + (X >> 8);
          int v = (q1[0] * w00 + q1[1] * w01 + q1[p->ss1] * w10
              + q1[p->ss1 + 1] * w11 + 32768) >> 16;
          *o1 = a == 256 ? v : *o1 + (((v - *o1) * a) >> 8);
          o1++;
        }
      }
      continue;
    }

    float fsx = (float) (as.b * py + as.c), fsy = (float) (at.b * py + at.c);
    float asa = (float) as.a, ata = (float) at.a;
    /* The painted opening. */
    for (int px = xl; px <= xr; px++) {
      float sxv = fsx + asa * px, syv = fsy + ata * px;
      int ix, iy, tfx, tfy;
      float rgb[3], v = (float) (av.a * px + av.b * py + av.c);
      float gap = (float) (ag.a * px + ag.b * py + ag.c);
      mouth_colour (r, (float) (au.a * px + au.b * py + au.c), v,
          gap / p->scale, rgb);
      /* Within a pixel of the lips the opening covers the pixel only
       * partly: blend with the lip line it opens from, so its edge
       * moves smoothly instead of stepping from pixel to pixel. */
      float cov = clampf (MIN (v, 1.0f - v) * gap + 0.5f, 0.0f, 1.0f);
      tap (sxv, syv, p->w, p->h, &ix, &iy, &tfx, &tfy);
      if (p->mode == PLANE_PACKED) {
        const guint8 *q = p->s0 + (gsize) iy * p->ss0 + ix * p->bpp;
        guint8 *o = p->d0 + (gsize) py * p->ds0 + px * p->bpp;
        for (int ch = 0; ch < 3; ch++) {
          int lip = bilerp (q + ch, p->bpp, p->ss0, tfx, tfy);
          o[ch] = clamp_u8 (lip + cov * (rgb[ch] - lip));
        }
      } else {
        float yuv[3];
        rgb_to_yuv (r, rgb, yuv);
        int lip0 = bilerp (p->s0 + (gsize) iy * p->ss0 + ix, 1, p->ss0, tfx, tfy);
        if (p->mode == PLANE_LUMA) {
          p->d0[(gsize) py * p->ds0 + px] = clamp_u8 (lip0 + cov * (yuv[0] - lip0));
        } else {
          int lip1 = bilerp (p->s1 + (gsize) iy * p->ss1 + ix, 1, p->ss1, tfx, tfy);
          p->d0[(gsize) py * p->ds0 + px] = clamp_u8 (lip0 + cov * (yuv[1] - lip0));
          p->d1[(gsize) py * p->ds1 + px] = clamp_u8 (lip1 + cov * (yuv[2] - lip1));
        }
      }
    }
  }
}

/* Whether any vertex of triangle t moves or samples elsewhere. */
static inline gboolean
tri_moved (const DittoRenderer * r, const int t[3])
{
  for (int k = 0; k < 3; k++) {
    int v = t[k];
    if (fabsf (r->dst[v][0] - r->src[v][0]) > 1e-4f
        || fabsf (r->dst[v][1] - r->src[v][1]) > 1e-4f
        || fabsf (r->src[v][0] - r->mesh.rest[v][0]) > 1e-4f
        || fabsf (r->src[v][1] - r->mesh.rest[v][1]) > 1e-4f)
      return TRUE;
  }
  return FALSE;
}

static void
draw_planes (DittoRenderer * r, guint8 * const data[GST_VIDEO_MAX_PLANES],
    const gint stride[GST_VIDEO_MAX_PLANES])
{
  const GstVideoInfo *info = &r->info;
  Plane planes[2];
  int n = 0;
  if (!r->yuv) {
    Plane p = { PLANE_PACKED, r->W, r->H, r->cache, NULL,
      GST_VIDEO_INFO_PLANE_STRIDE (info, 0), 0, data[0], NULL, stride[0], 0,
      r->bpp, 1.0f, 0.0f
    };
    planes[n++] = p;
  } else {
    Plane l = { PLANE_LUMA, r->W, r->H,
      r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 0), NULL,
      GST_VIDEO_INFO_PLANE_STRIDE (info, 0), 0, data[0], NULL, stride[0], 0,
      1, 1.0f, 0.0f
    };
    /* Chroma sample (cx, cy) sits at luma (2 cx + 0.5, 2 cy + 0.5). */
    Plane c = { PLANE_CHROMA, GST_VIDEO_INFO_COMP_WIDTH (info, 1),
      GST_VIDEO_INFO_COMP_HEIGHT (info, 1),
      r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 1),
      r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 2),
      GST_VIDEO_INFO_PLANE_STRIDE (info, 1), GST_VIDEO_INFO_PLANE_STRIDE (info, 2),
      data[1], data[2], stride[1], stride[2], 1, 0.5f, 0.5f
    };
    planes[n++] = l;
    planes[n++] = c;
  }
  if (MIN (r->W, r->H) < 4)
    return;
  for (int i = 0; i < r->mesh.n_tris; i++) {
    const int *t = r->mesh.tris[i];
    gboolean mouth = r->mesh.kind[i] == DITTO_MESH_TRI_MOUTH;
    if (!mouth && !tri_moved (r, t))
      continue;                 /* the still portrait is already there */
    for (int k = 0; k < n; k++)
      raster (r, &planes[k], t, mouth);
  }
}

/* ------------------------------------------------------------------ */

static void
fill_cache (DittoRenderer * r, const guint8 * rgb, int rgb_stride)
{
  const GstVideoInfo *info = &r->info;
  if (!r->yuv) {
    int cs = GST_VIDEO_INFO_PLANE_STRIDE (info, 0);
    for (int y = 0; y < r->H; y++) {
      const guint8 *s = rgb + (gsize) y * rgb_stride;
      guint8 *d = r->cache + (gsize) y * cs;
      for (int x = 0; x < r->W; x++) {
        d[x * r->bpp + 0] = s[3 * x + 0];
        d[x * r->bpp + 1] = s[3 * x + 1];
        d[x * r->bpp + 2] = s[3 * x + 2];
        if (r->bpp == 4)
          d[x * 4 + 3] = 255;
      }
    }
    return;
  }
  guint8 *yp = r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 0);
  guint8 *up = r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 1);
  guint8 *vp = r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 2);
  int ys = GST_VIDEO_INFO_PLANE_STRIDE (info, 0);
  int us = GST_VIDEO_INFO_PLANE_STRIDE (info, 1);
  int vs = GST_VIDEO_INFO_PLANE_STRIDE (info, 2);
  int cw = GST_VIDEO_INFO_COMP_WIDTH (info, 1);
  int ch = GST_VIDEO_INFO_COMP_HEIGHT (info, 1);
  for (int y = 0; y < r->H; y++)
    for (int x = 0; x < r->W; x++) {
      const guint8 *s = rgb + (gsize) y * rgb_stride + 3 * x;
      float f[3] = { s[0], s[1], s[2] }, yuv[3];
      rgb_to_yuv (r, f, yuv);
      yp[(gsize) y * ys + x] = clamp_u8 (yuv[0]);
    }
  for (int cy = 0; cy < ch; cy++)
    for (int cx = 0; cx < cw; cx++) {
      float f[3] = { 0, 0, 0 }, yuv[3];
      int n = 0;
      for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
          int x = MIN (2 * cx + dx, r->W - 1), y = MIN (2 * cy + dy, r->H - 1);
          const guint8 *s = rgb + (gsize) y * rgb_stride + 3 * x;
          f[0] += s[0];
          f[1] += s[1];
          f[2] += s[2];
          n++;
        }
      for (int i = 0; i < 3; i++)
        f[i] /= n;
      rgb_to_yuv (r, f, yuv);
      up[(gsize) cy * us + cx] = clamp_u8 (yuv[1]);
      vp[(gsize) cy * vs + cx] = clamp_u8 (yuv[2]);
    }
}

/* Mean colour of a small box of the scaled RGB portrait. */
static void
mean_rgb (const guint8 * rgb, int stride, int w, int h, float x0, float y0,
    float x1, float y1, float out[3])
{
  int ix0 = CLAMP ((int) x0, 0, w - 1), ix1 = CLAMP ((int) x1, ix0 + 1, w);
  int iy0 = CLAMP ((int) y0, 0, h - 1), iy1 = CLAMP ((int) y1, iy0 + 1, h);
  double acc[3] = { 0, 0, 0 };
  int n = 0;
  for (int y = iy0; y < iy1; y++)
    for (int x = ix0; x < ix1; x++) {
      const guint8 *p = rgb + (gsize) y * stride + 3 * x;
      acc[0] += p[0];
      acc[1] += p[1];
      acc[2] += p[2];
      n++;
    }
  for (int i = 0; i < 3; i++)
    out[i] = n ? (float) (acc[i] / n) : 128.0f;
}

static void
pick_colours (DittoRenderer * r, const guint8 * rgb, int stride)
{
  const float (*lm)[2] = r->L.lm;
  float lip[3], skin[3];
  /* Lower lip: between the inner lip's middle and the outer one's. */
  float lx = lm[66][0], ly0 = lm[66][1], ly1 = lm[57][1];
  float half = MAX (1.0f, 0.3f * r->L.mouth_half_w);
  mean_rgb (rgb, stride, r->W, r->H, lx - half, ly0 + 0.3f * (ly1 - ly0),
      lx + half, ly0 + 0.7f * (ly1 - ly0) + 1.0f, lip);
  /* Cheek under the left eye: the lighting. */
  float cx = 0.5f * (lm[41][0] + lm[31][0]), cy = 0.5f * (lm[41][1] + lm[31][1]);
  float ch = MAX (1.0f, 0.05f * r->mesh.scale);
  mean_rgb (rgb, stride, r->W, r->H, cx - ch, cy - ch, cx + ch, cy + ch, skin);
  float skin_l = 0.3f * skin[0] + 0.59f * skin[1] + 0.11f * skin[2];
  float lip_l = 0.3f * lip[0] + 0.59f * lip[1] + 0.11f * lip[2];
  float light = clampf (skin_l / 170.0f, 0.45f, 1.05f);
  /* The inside of a mouth is a warm dark red whatever the lips' hue; its
   * brightness follows the portrait's lighting. */
  float level = clampf (0.5f * (lip_l + skin_l), 40.0f, 230.0f);
  static const float hue[3] = { 0.7f, 0.3f, 0.28f };
  static const float tongue[3] = { 0.95f, 0.48f, 0.46f };
  static const float enamel[3] = { 236.0f, 228.0f, 212.0f };
  for (int i = 0; i < 3; i++) {
    r->cavity[i] = level * hue[i];
    r->tongue[i] = level * tongue[i];
    r->teeth[i] = enamel[i] * light;
  }
}

DittoRenderer *
ditto_renderer_new (const guint8 * source_rgb, int source_width,
    int source_height, int source_stride, const DittoFaceLayout * layout,
    const GstVideoInfo * out_info, GError ** error)
{
  GstVideoFormat fmt = GST_VIDEO_INFO_FORMAT (out_info);
  int W = GST_VIDEO_INFO_WIDTH (out_info), H = GST_VIDEO_INFO_HEIGHT (out_info);
  if (fmt != GST_VIDEO_FORMAT_I420 && fmt != GST_VIDEO_FORMAT_RGB
      && fmt != GST_VIDEO_FORMAT_RGBx) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "the builtin animator renders I420, RGB or RGBx, not %s",
        gst_video_format_to_string (fmt));
    return NULL;
  }
  if (W < 2 || H < 2 || !source_rgb || source_width < 1 || source_height < 1) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "output %dx%d or source %dx%d too small to animate", W, H,
        source_width, source_height);
    return NULL;
  }

  DittoRenderer *r = g_new0 (DittoRenderer, 1);
  r->info = *out_info;
  r->W = W;
  r->H = H;
  r->yuv = fmt == GST_VIDEO_FORMAT_I420;
  r->bpp = fmt == GST_VIDEO_FORMAT_RGB ? 3 : 4;
  r->L = *layout;
  ditto_face_layout_scale (&r->L, (float) W / source_width,
      (float) H / source_height);
  ditto_mesh_build (&r->L, &r->mesh);
  r->own_teeth = r->L.teeth_visible;

  /* Across the mouth, for the painted opening's shading. */
  float mx = 0.5f * (r->L.lm[48][0] + r->L.lm[54][0]);
  float my = 0.5f * (r->L.lm[48][1] + r->L.lm[54][1]);
  float mhw = MAX (r->L.mouth_half_w, 1.0f);
  for (int i = 0; i < NV; i++) {
    float d = (r->mesh.rest[i][0] - mx) * r->mesh.right[0]
        + (r->mesh.rest[i][1] - my) * r->mesh.right[1];
    r->mouth_u[i] = clampf (d / mhw, -1.0f, 1.0f);
  }

  if (r->yuv) {
    gdouble kr = 0.299, kb = 0.114;
    gst_video_color_matrix_get_Kr_Kb (out_info->colorimetry.matrix, &kr, &kb);
    gint off[4], scale[4];
    gst_video_color_range_offsets (out_info->colorimetry.range,
        out_info->finfo, off, scale);
    r->kr = (float) kr;
    r->kb = (float) kb;
    r->yoff = off[0];
    r->yscale = scale[0];
    r->coff = off[1];
    r->cscale = scale[1];
  }

  /* Scale once; convert once. */
  int rgb_stride = GST_ROUND_UP_4 (W * 3);
  guint8 *rgb = g_malloc ((gsize) rgb_stride * H);
  ditto_image_resize_rgb (source_rgb, source_width, source_height,
      source_stride, rgb, W, H, rgb_stride);
  r->cache = g_malloc0 (GST_VIDEO_INFO_SIZE (out_info));
  fill_cache (r, rgb, rgb_stride);
  pick_colours (r, rgb, rgb_stride);
  g_free (rgb);
  return r;
}

void
ditto_renderer_free (DittoRenderer * r)
{
  if (!r)
    return;
  g_free (r->cache);
  g_free (r);
}

const DittoFaceLayout *
ditto_renderer_get_layout (DittoRenderer * r)
{
  return &r->L;
}

const DittoMesh *
ditto_renderer_get_mesh (DittoRenderer * r, const float (**dst)[2])
{
  if (dst)
    *dst = (const float (*)[2]) r->dst;
  return &r->mesh;
}

void
ditto_renderer_draw (DittoRenderer * r, const DittoMotion * m,
    guint8 * const data[GST_VIDEO_MAX_PLANES],
    const gint stride[GST_VIDEO_MAX_PLANES])
{
  const GstVideoInfo *info = &r->info;
  /* Start from the still portrait, then redraw what moved. */
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (info); p++) {
    int rows = GST_VIDEO_INFO_COMP_HEIGHT (info, p);
    int bytes = GST_VIDEO_INFO_COMP_WIDTH (info, p) *
        GST_VIDEO_INFO_COMP_PSTRIDE (info, p);
    int cs = GST_VIDEO_INFO_PLANE_STRIDE (info, p);
    const guint8 *src = r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, p);
    if (cs == stride[p]) {
      memcpy (data[p], src, (gsize) cs * rows);
    } else {
      for (int y = 0; y < rows; y++)
        memcpy (data[p] + (gsize) y * stride[p], src + (gsize) y * cs, bytes);
    }
  }
  deform (r, m);
  draw_planes (r, data, stride);
}

GstBuffer *
ditto_renderer_draw_buffer (DittoRenderer * r, const DittoMotion * m)
{
  const GstVideoInfo *info = &r->info;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info),
      NULL);
  GstMapInfo map;
  if (!buf || !gst_buffer_map (buf, &map, GST_MAP_WRITE)) {
    if (buf)
      gst_buffer_unref (buf);
    return NULL;
  }
  guint8 *data[GST_VIDEO_MAX_PLANES] = { NULL };
  gint stride[GST_VIDEO_MAX_PLANES] = { 0 };
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (info); p++) {
    data[p] = map.data + GST_VIDEO_INFO_PLANE_OFFSET (info, p);
    stride[p] = GST_VIDEO_INFO_PLANE_STRIDE (info, p);
  }
  ditto_renderer_draw (r, m, data, stride);
  gst_buffer_unmap (buf, &map);
  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_INFO_FORMAT (info), GST_VIDEO_INFO_WIDTH (info),
      GST_VIDEO_INFO_HEIGHT (info), GST_VIDEO_INFO_N_PLANES (info),
      (gsize *) info->offset, (gint *) info->stride);
  return buf;
}
