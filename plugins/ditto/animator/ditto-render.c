/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Backward warp: for every output pixel of the head region we compute where
 * it comes from in the still portrait, then sample it bilinearly (8-bit
 * fixed-point weights). The displacement field is built from polynomial
 * falloffs only (no exp per pixel):
 *   head   a rotation about the neck plus a translation, weighted by an
 *          ellipse around the head that fades to zero into the background;
 *   face   a turn/nod shift of the inner face (eyes, nose, mouth) against
 *          the face outline;
 *   jaw    the chin and lower lip move down, split along the lip line
 *          inside the mouth (the gap is the mouth interior), stretched
 *          smoothly beside the mouth corners and fading out below the chin;
 *   lips   the corners move out (ee) or in (oo);
 *   lids   the skin above each eye slides down over it for a blink.
 * Pixels outside the head ellipse are copied from the cached portrait.
 */
#include "ditto-render.h"

#include <math.h>
#include <string.h>

struct _DittoRenderer {
  GstVideoInfo info;
  int W, H;
  DittoFaceLayout L;            /* in output pixels */
  guint8 *cache;                /* the still portrait in the output format */
  gboolean yuv;
  int bpp;                      /* RGB / RGBx */

  /* Colour conversion (YUV output). */
  float kr, kb, yoff, yscale, coff, cscale;

  /* Colours of the mouth interior, from the portrait's own lips and skin. */
  float lip[3], teeth[3];

  /* Head ellipse (outer) and its inner full-weight part (ratio squared). */
  float hx, hy, inv_ha, inv_hb, ha, hb, hk2, inv_1mhk2;
  /* Inner-face ellipse. */
  float fx, fy, inv_fa, inv_fb, fk2, inv_1mfk2;

  /* Per-frame tile plan: the field at tile corners, and each tile's kind. */
  int tiles_x, tiles_y;
  float *grid;
  char *tile_kind;
};

/* Everything that depends on the frame's motion. */
typedef struct {
  float a11, a12, a21, a22, bx, by;     /* inverse head transform */
  float shx, shy;                       /* inner-face shift */

  /* Mouth and jaw, in head (rest) coordinates. */
  float box_m[4];
  float mx, my, curve, inv_mw_eff, inv_mhw, roundness;
  float jaw_px, up_px, dw;
  float hr, inv_2hr, chin, neck_end, inv_neck, af_h, inv_af;
  float wx_in, wx_out, inv_wx;
  float gy_in, gy_out, inv_gy;
  float teeth_vis, lower_vis, teeth_h_max, teeth_amount;
  float face_h, inv_tongue;
  float edge[3], deep[3], tongue[3], teeth_col[3];

  /* Output-space boxes around the field's discontinuities (lip split,
   * mouth interior, eyelid edge): tiles touching them are evaluated per
   * pixel, every other tile interpolates the smooth field from its corners. */
  float exact[3][4];
  int n_exact;

  /* Eyelids. */
  float box_e[2][4];
  float ex[2], ey[2], inv_ew, eh, beta, brow_off;
} Geom;

typedef struct {
  float sx, sy;     /* source position */
  float cov;        /* mouth-interior coverage */
  float col[3];     /* mouth-interior colour, RGB 0..255 */
  float shade;      /* darkening (lash line), 1 = none */
} Px;

static inline float
smooth01 (float t)
{
  t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
  return t * t * (3.0f - 2.0f * t);
}

static inline float
clampf (float v, float lo, float hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* ------------------------------------------------------------------ */

static void
setup_geom (const DittoRenderer * r, const DittoMotion * m, Geom * g)
{
  const DittoFaceLayout *L = &r->L;
  float fw = L->face_w, fh = L->face_h;

  /* Head: forward F(q) = R(roll) (q - pivot) + pivot + T; store F^-1. */
  float c = cosf (m->roll), s = sinf (m->roll);
  float pvx = L->face_x + 0.5f * fw, pvy = L->chin_y + 0.15f * fh;
  float tx = m->head_dx * fw, ty = m->head_dy * fw;
  g->a11 = c;
  g->a12 = s;
  g->a21 = -s;
  g->a22 = c;
  float px = pvx + tx, py = pvy + ty;
  g->bx = pvx - (g->a11 * px + g->a12 * py);
  g->by = pvy - (g->a21 * px + g->a22 * py);
  g->shx = m->yaw * fw;
  g->shy = m->pitch * fw;

  /* Mouth. */
  float mhw = MAX (L->mouth_half_w, 2.0f);
  g->mx = L->mouth_x;
  g->my = L->mouth_y;
  g->curve = L->mouth_curve;
  g->dw = mhw * (m->spread > 0.0f ? 0.14f * m->spread : 0.24f * m->spread);
  g->roundness = MAX (0.0f, -m->spread);
  g->inv_mw_eff = 1.0f / MAX (mhw + g->dw, 1.0f);
  g->inv_mhw = 1.0f / mhw;
  g->jaw_px = m->jaw * 0.085f * fh;
  g->up_px = (0.012f * m->jaw + 0.01f * m->teeth * m->jaw) * fh;
  g->hr = MAX (0.10f * fh, 2.0f);
  g->inv_2hr = 0.5f / g->hr;
  g->chin = L->chin_y;
  g->neck_end = L->chin_y + MAX (0.22f * fh, 2.0f);
  g->inv_neck = 1.0f / (g->neck_end - g->chin);
  g->af_h = MAX (0.10f * fh, 2.0f);
  g->inv_af = 1.0f / g->af_h;
  g->wx_in = 0.25f * fw;
  g->wx_out = MAX (0.5f * fw, g->wx_in + 2.0f);
  g->inv_wx = 1.0f / (g->wx_out - g->wx_in);
  g->gy_in = 0.3f * mhw;
  g->gy_out = 1.0f * mhw;
  g->inv_gy = 1.0f / (g->gy_out - g->gy_in);
  float gap = g->jaw_px + g->up_px;
  g->teeth_amount = m->teeth;
  /* A portrait that already shows its upper teeth keeps its own. */
  g->teeth_vis = L->teeth_visible ? 0.0f : clampf (0.35f + m->teeth, 0.0f,
      1.0f) * smooth01 ((gap - 1.5f) / MAX (0.025f * fh, 1.0f));
  g->lower_vis = 0.6f * m->teeth * (1.0f - smooth01 (m->jaw * 2.0f - 0.6f));
  g->teeth_h_max = MAX (0.045f * fh, 1.0f);
  g->face_h = fh;
  g->inv_tongue = 1.0f / MAX (0.04f * fh, 1.0f);
  for (int i = 0; i < 3; i++) {
    g->edge[i] = r->lip[i] * 0.5f;
    g->deep[i] = r->lip[i] * 0.2f;
    g->tongue[i] = r->lip[i] * 0.62f;
    g->teeth_col[i] = r->teeth[i];
  }
  float top = g->my - MAX (g->curve, 0.0f) * 1.7f
      - MAX (MAX (g->hr, g->af_h), g->gy_out) - 2.0f;
  g->box_m[0] = g->mx - g->wx_out;
  g->box_m[1] = top;
  g->box_m[2] = g->mx + g->wx_out;
  g->box_m[3] = g->neck_end + 1.0f;
  if (m->jaw <= 0.0f && fabsf (g->dw) < 1e-3f)
    g->box_m[2] = g->box_m[0];  /* nothing to do: an empty box */

  /* Largest head displacement: bounds where rest-space boxes can land. */
  float reach = fabsf (tx) + fabsf (ty) + fabsf (m->roll) * 2.5f * fh
      + fabsf (g->shx) + fabsf (g->shy) + 2.0f;
  g->n_exact = 0;
  if (m->jaw > 0.0f) {
    float half = mhw + fabsf (g->dw) + 2.0f;
    float *e = g->exact[g->n_exact++];
    e[0] = g->mx - half - reach;
    e[2] = g->mx + half + reach;
    e[1] = g->my - MAX (g->curve, 0.0f) * 1.7f - g->up_px - 2.0f - reach;
    e[3] = g->my + g->jaw_px + 2.0f + reach;
  }

  /* Eyelids. */
  float ew = MAX (L->eye_half_w, 1.0f);
  g->inv_ew = 1.0f / ew;
  g->eh = MAX (L->eye_half_h, 0.5f);
  g->beta = m->blink;
  g->brow_off = 3.2f * g->eh;
  for (int i = 0; i < 2; i++) {
    g->ex[i] = L->eye_x[i];
    g->ey[i] = L->eye_y[i];
    g->box_e[i][0] = g->ex[i] - ew;
    g->box_e[i][1] = g->ey[i] - g->brow_off;
    g->box_e[i][2] = m->blink > 0.0f ? g->ex[i] + ew : g->box_e[i][0];
    g->box_e[i][3] = g->ey[i] + g->eh + 2.0f;
    if (m->blink > 0.0f) {
      float *e = g->exact[g->n_exact++];
      e[0] = g->box_e[i][0] - reach;
      e[1] = g->box_e[i][1] - reach;
      e[2] = g->box_e[i][2] + reach;
      e[3] = g->box_e[i][3] + reach;
    }
  }
}

static inline void
mouth_eval (const Geom * g, float qx, float qy, Px * o)
{
  float dxm = qx - g->mx, adx = fabsf (dxm);
  float wx = adx <= g->wx_in ? 1.0f : smooth01 ((g->wx_out - adx) * g->inv_wx);
  /* Distance below the lip line, which follows the portrait's smile. */
  float uc = MIN (adx * g->inv_mhw, 1.3f);
  float line = g->my - g->curve * uc * uc;
  float d = qy - line;

  /* Lips: corners out (ee) or in (oo). */
  float ur = adx * g->inv_mhw;
  float gx = ur <= 1.0f ? ur : 1.0f - smooth01 ((ur - 1.0f) * (1.0f / 1.5f));
  float ad = fabsf (d);
  float gy = ad <= g->gy_in ? 1.0f : smooth01 ((g->gy_out - ad) * g->inv_gy);
  float shift = g->dw * gx * gy;
  o->sx = qx - (dxm < 0.0f ? -shift : shift);

  if (g->jaw_px <= 0.0f) {
    o->sy = qy;
    return;
  }
  /* Opening profile along the lips: lens-shaped, rounder for oo. */
  float u = dxm * g->inv_mw_eff, c = 0.0f;
  if (u > -1.0f && u < 1.0f) {
    float s = 1.0f - u * u;
    c = s * (s + g->roundness * (1.0f - s));
  }
  /* Below the lip line the skin follows the jaw within 2 hr; the mouth
   * corners and everything above stay. */
  float rr = d <= 0.0f ? 0.0f : smooth01 (d * g->inv_2hr);
  float neck = qy <= g->chin ? 1.0f : smooth01 ((g->neck_end - qy) * g->inv_neck);
  float af = d >= 0.0f ? 1.0f : smooth01 ((d + g->af_h) * g->inv_af);
  float base = g->jaw_px * wx * neck;
  float jb = base * (c + (1.0f - c) * rr);
  float ja = base * (1.0f - c) * rr - g->up_px * c * af;
  float ysa = qy - ja, ysb = qy - jb;
  float gap = jb - ja;
  float a = ysa - line, b = line - ysb;
  o->sy = a < b ? ysa : ysb;
  if (gap < 0.02f)
    return;
  float inner = a < b ? a : b;
  float cov = clampf (inner + 0.5f, 0.0f, 1.0f) * clampf (gap, 0.0f, 1.0f);
  if (cov <= 0.0f)
    return;

  float depth = clampf (inner / MAX (0.5f * gap, 1.0f), 0.0f, 1.0f);
  depth = depth * (2.0f - depth);
  float col[3];
  for (int i = 0; i < 3; i++)
    col[i] = g->edge[i] + (g->deep[i] - g->edge[i]) * depth;
  /* The tongue fills the lower part of a wide-open mouth. */
  float tongue = smooth01 ((a / gap - 0.55f) * 3.0f) * smooth01 ((gap
          - 0.04f * g->face_h) * g->inv_tongue) * smooth01 ((c - 0.2f) * 2.0f);
  if (tongue > 0.0f)
    for (int i = 0; i < 3; i++)
      col[i] += (g->tongue[i] - col[i]) * 0.8f * tongue;

  /* Upper teeth just under the upper lip, fading toward the corners. */
  float tw = g->teeth_vis * smooth01 ((c - 0.12f) * 2.2f);
  float th = MIN (gap * (0.32f + 0.22f * g->teeth_amount), g->teeth_h_max);
  if (tw > 0.0f) {
    float alpha = tw * clampf (th - a, 0.0f, 1.0f);
    if (alpha > 0.0f) {
      float lit = 0.72f + 0.28f * c - 0.15f * clampf (a / MAX (th, 1.0f), 0, 1);
      for (int i = 0; i < 3; i++)
        col[i] += (g->teeth_col[i] * lit - col[i]) * alpha;
    }
  }
  /* A hint of the lower teeth above the lower lip. */
  float lw = g->lower_vis * smooth01 ((c - 0.3f) * 2.0f);
  if (lw > 0.0f) {
    float la = lw * clampf (0.5f * th - b, 0.0f, 1.0f);
    for (int i = 0; i < 3; i++)
      col[i] += (g->teeth_col[i] * 0.7f - col[i]) * la;
  }
  o->cov = cov;
  o->col[0] = col[0];
  o->col[1] = col[1];
  o->col[2] = col[2];
}

/* The upper lid slides down: skin between brow and lid edge stretches over
 * the eye; the lash line (lid edge) ends at y_lid. */
static inline void
eye_eval (const Geom * g, int i, float qx, float qy, Px * o)
{
  float u = (qx - g->ex[i]) * g->inv_ew;
  if (u <= -1.0f || u >= 1.0f)
    return;
  float s = 1.0f - u * u;
  float top = g->ey[i] - g->eh * s;
  float bot = g->ey[i] + 0.8f * g->eh * s;
  float ylid = top + g->beta * (bot - top);
  float brow = g->ey[i] - g->brow_off;
  if (qy >= brow && qy < ylid)
    o->sy = brow + (qy - brow) * (top - brow) / (ylid - brow);
  float dist = fabsf (qy - ylid);
  if (dist < 1.5f)
    o->shade *= 1.0f - 0.3f * g->beta * s * (1.0f - dist * (1.0f / 1.5f));
}

static inline gboolean
in_box (const float *b, float x, float y)
{
  return x > b[0] && x < b[2] && y > b[1] && y < b[3];
}

/* Where output pixel (x, y) comes from. Returns FALSE outside the head. */
static inline gboolean
field_eval (const DittoRenderer * r, const Geom * g, float x, float y, Px * o)
{
  float dx = (x - r->hx) * r->inv_ha, dy = (y - r->hy) * r->inv_hb;
  float r2 = dx * dx + dy * dy;
  o->cov = 0.0f;
  o->shade = 1.0f;
  if (r2 >= 1.0f) {
    o->sx = x;
    o->sy = y;
    return FALSE;
  }
  float w = r2 <= r->hk2 ? 1.0f : smooth01 ((1.0f - r2) * r->inv_1mhk2);
  float qx = x + w * (g->a11 * x + g->a12 * y + g->bx - x);
  float qy = y + w * (g->a21 * x + g->a22 * y + g->by - y);

  float ex = (qx - r->fx) * r->inv_fa, ey = (qy - r->fy) * r->inv_fb;
  float f2 = ex * ex + ey * ey;
  if (f2 < 1.0f) {
    float w2 = f2 <= r->fk2 ? 1.0f : smooth01 ((1.0f - f2) * r->inv_1mfk2);
    qx -= w2 * g->shx;
    qy -= w2 * g->shy;
  }
  o->sx = qx;
  o->sy = qy;
  /* The mouth's reach may overlap the eye boxes on small faces: both apply
   * (the mouth field is zero that high up). */
  if (in_box (g->box_m, qx, qy))
    mouth_eval (g, qx, qy, o);
  if (in_box (g->box_e[0], qx, qy))
    eye_eval (g, 0, qx, qy, o);
  else if (in_box (g->box_e[1], qx, qy))
    eye_eval (g, 1, qx, qy, o);
  return TRUE;
}

/* Fixed-point bilinear set-up; w, h >= 2. */
typedef struct {
  int off_x, off_y, fx, fy;
} Tap;

static inline void
tap_at (float sx, float sy, int w, int h, Tap * t)
{
  sx = clampf (sx, 0.0f, (float) w - 1.001f);
  sy = clampf (sy, 0.0f, (float) h - 1.001f);
  int ix = (int) sx, iy = (int) sy;
  t->off_x = ix;
  t->off_y = iy;
  t->fx = (int) ((sx - ix) * 256.0f);
  t->fy = (int) ((sy - iy) * 256.0f);
}

static inline int
bilerp (const guint8 * p, int step, int stride, const Tap * t)
{
  int top = p[0] * (256 - t->fx) + p[step] * t->fx;
  int bot = p[stride] * (256 - t->fx) + p[stride + step] * t->fx;
  return (top * (256 - t->fy) + bot * t->fy + 32768) >> 16;
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

#define TILE 8

enum { TILE_SKIP, TILE_SMOOTH, TILE_EXACT };

/* Classifies the 8x8 tiles and fills the field at tile corners. */
static void
plan_tiles (DittoRenderer * r, const Geom * g)
{
  for (int ty = 0; ty <= r->tiles_y; ty++)
    for (int tx = 0; tx <= r->tiles_x; tx++) {
      Px px;
      field_eval (r, g, (float) (tx * TILE), (float) (ty * TILE), &px);
      r->grid[2 * (ty * (r->tiles_x + 1) + tx)] = px.sx;
      r->grid[2 * (ty * (r->tiles_x + 1) + tx) + 1] = px.sy;
    }
  for (int ty = 0; ty < r->tiles_y; ty++)
    for (int tx = 0; tx < r->tiles_x; tx++) {
      float x0 = (float) (tx * TILE), x1 = x0 + TILE, y0 = (float) (ty * TILE),
          y1 = y0 + TILE;
      /* Nearest tile point to the head ellipse centre. */
      float nx = CLAMP (r->hx, x0, x1), ny = CLAMP (r->hy, y0, y1);
      float dx = (nx - r->hx) * r->inv_ha, dy = (ny - r->hy) * r->inv_hb;
      char kind = dx * dx + dy * dy >= 1.0f ? TILE_SKIP : TILE_SMOOTH;
      for (int i = 0; kind == TILE_SMOOTH && i < g->n_exact; i++) {
        const float *e = g->exact[i];
        if (x1 >= e[0] && x0 <= e[2] && y1 >= e[1] && y0 <= e[3])
          kind = TILE_EXACT;
      }
      r->tile_kind[ty * r->tiles_x + tx] = kind;
    }
}

/* Source position of luma point (x, y) inside a smooth tile: bilinear
 * interpolation of the four corner values. */
typedef struct {
  float sx0, sy0, dsx_dx, dsy_dx;       /* at the row start, per pixel */
} RowInterp;

static inline void
tile_row (const DittoRenderer * r, int tx, int ty, float fy, float fx0,
    RowInterp * ri)
{
  const float *c00 = r->grid + 2 * (ty * (r->tiles_x + 1) + tx);
  const float *c10 = c00 + 2;
  const float *c01 = c00 + 2 * (r->tiles_x + 1);
  const float *c11 = c01 + 2;
  float lx = c00[0] + (c01[0] - c00[0]) * fy, ly = c00[1] + (c01[1] - c00[1]) * fy;
  float rx = c10[0] + (c11[0] - c10[0]) * fy, ry = c10[1] + (c11[1] - c10[1]) * fy;
  ri->dsx_dx = (rx - lx) * (1.0f / TILE);
  ri->dsy_dx = (ry - ly) * (1.0f / TILE);
  ri->sx0 = lx + ri->dsx_dx * fx0;
  ri->sy0 = ly + ri->dsy_dx * fx0;
}

/* TRUE when every source position of a smooth tile lies inside the
 * sampleable area (bilinear interpolation stays within its corners' hull),
 * so its pixels can step in fixed point without clamping. */
static inline gboolean
tile_inside (const DittoRenderer * r, int tx, int ty, int w, int h)
{
  const float *c00 = r->grid + 2 * (ty * (r->tiles_x + 1) + tx);
  const float *c[4] = { c00, c00 + 2, c00 + 2 * (r->tiles_x + 1),
    c00 + 2 * (r->tiles_x + 1) + 2
  };
  for (int i = 0; i < 4; i++)
    if (c[i][0] < 0.0f || c[i][1] < 0.0f || c[i][0] > w - 1.01f
        || c[i][1] > h - 1.01f)
      return FALSE;
  return TRUE;
}

/* One row of a smooth tile, 16.16 fixed point, single channel plane. */
static inline void
row_fixed_1 (const guint8 * src, int ss, guint8 * out, int n,
    const RowInterp * ri)
{
  gint32 sx = (gint32) (ri->sx0 * 65536.0f), sy = (gint32) (ri->sy0 * 65536.0f);
  gint32 dx = (gint32) (ri->dsx_dx * 65536.0f), dy = (gint32) (ri->dsy_dx * 65536.0f);
  for (int i = 0; i < n; i++, sx += dx, sy += dy) {
    const guint8 *p = src + (gsize) (sy >> 16) * ss + (sx >> 16);
    int fx = (sx >> 8) & 255, fy = (sy >> 8) & 255;
    int top = p[0] * (256 - fx) + p[1] * fx;
    int bot = p[ss] * (256 - fx) + p[ss + 1] * fx;
    out[i] = (top * (256 - fy) + bot * fy + 32768) >> 16;
  }
}

/* Same for packed RGB / RGBx (three channels written). */
static inline void
row_fixed_rgb (const guint8 * src, int ss, int bpp, guint8 * out, int n,
    const RowInterp * ri)
{
  gint32 sx = (gint32) (ri->sx0 * 65536.0f), sy = (gint32) (ri->sy0 * 65536.0f);
  gint32 dx = (gint32) (ri->dsx_dx * 65536.0f), dy = (gint32) (ri->dsy_dx * 65536.0f);
  for (int i = 0; i < n; i++, sx += dx, sy += dy) {
    const guint8 *p = src + (gsize) (sy >> 16) * ss + (sx >> 16) * bpp;
    int fx = (sx >> 8) & 255, fy = (sy >> 8) & 255;
    int w00 = (256 - fx) * (256 - fy), w01 = fx * (256 - fy);
    int w10 = (256 - fx) * fy, w11 = fx * fy;
    guint8 *o = out + i * bpp;
    for (int c = 0; c < 3; c++)
      o[c] = (p[c] * w00 + p[bpp + c] * w01 + p[ss + c] * w10
          + p[ss + bpp + c] * w11 + 32768) >> 16;
  }
}

static inline void
put_rgb (const DittoRenderer * r, const guint8 * src, int cs, guint8 * o,
    const Px * px)
{
  const int bpp = r->bpp;
  Tap t;
  tap_at (px->sx, px->sy, r->W, r->H, &t);
  const guint8 *p = src + (gsize) t.off_y * cs + t.off_x * bpp;
  if (px->cov <= 0.0f && px->shade >= 1.0f) {
    o[0] = bilerp (p, bpp, cs, &t);
    o[1] = bilerp (p + 1, bpp, cs, &t);
    o[2] = bilerp (p + 2, bpp, cs, &t);
    return;
  }
  for (int c = 0; c < 3; c++) {
    float v = bilerp (p + c, bpp, cs, &t);
    if (px->cov > 0.0f)
      v += (px->col[c] - v) * px->cov;
    o[c] = clamp_u8 (v * px->shade);
  }
}

static void
draw_packed (DittoRenderer * r, const Geom * g, guint8 * data, int stride)
{
  const int bpp = r->bpp, cs = GST_VIDEO_INFO_PLANE_STRIDE (&r->info, 0);
  const guint8 *src = r->cache;
  for (int ty = 0; ty < r->tiles_y; ty++)
    for (int tx = 0; tx < r->tiles_x; tx++) {
      char kind = r->tile_kind[ty * r->tiles_x + tx];
      if (kind == TILE_SKIP)
        continue;
      int x0 = tx * TILE, x1 = MIN (x0 + TILE, r->W);
      int y0 = ty * TILE, y1 = MIN (y0 + TILE, r->H);
      gboolean inside = kind == TILE_SMOOTH && tile_inside (r, tx, ty, r->W, r->H);
      for (int y = y0; y < y1; y++) {
        guint8 *out = data + (gsize) y * stride;
        if (kind == TILE_EXACT) {
          for (int x = x0; x < x1; x++) {
            Px px;
            field_eval (r, g, (float) x, (float) y, &px);
            put_rgb (r, src, cs, out + x * bpp, &px);
          }
          continue;
        }
        RowInterp ri = { 0 };
        tile_row (r, tx, ty, (float) (y - y0) * (1.0f / TILE), 0.0f, &ri);
        if (inside) {
          row_fixed_rgb (src, cs, bpp, out + x0 * bpp, x1 - x0, &ri);
          continue;
        }
        for (int x = x0; x < x1; x++) {
          float k = (float) (x - x0);
          Tap t;
          tap_at (ri.sx0 + ri.dsx_dx * k, ri.sy0 + ri.dsy_dx * k, r->W, r->H, &t);
          const guint8 *p = src + (gsize) t.off_y * cs + t.off_x * bpp;
          guint8 *o = out + x * bpp;
          o[0] = bilerp (p, bpp, cs, &t);
          o[1] = bilerp (p + 1, bpp, cs, &t);
          o[2] = bilerp (p + 2, bpp, cs, &t);
        }
      }
    }
}

static void
draw_i420 (DittoRenderer * r, const Geom * g,
    guint8 * const data[GST_VIDEO_MAX_PLANES],
    const gint stride[GST_VIDEO_MAX_PLANES])
{
  const GstVideoInfo *info = &r->info;
  const guint8 *sy_plane = r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 0);
  const guint8 *su_plane = r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 1);
  const guint8 *sv_plane = r->cache + GST_VIDEO_INFO_PLANE_OFFSET (info, 2);
  const int ys = GST_VIDEO_INFO_PLANE_STRIDE (info, 0);
  const int us = GST_VIDEO_INFO_PLANE_STRIDE (info, 1);
  const int vs = GST_VIDEO_INFO_PLANE_STRIDE (info, 2);
  const int cw = GST_VIDEO_INFO_COMP_WIDTH (info, 1);
  const int ch = GST_VIDEO_INFO_COMP_HEIGHT (info, 1);

  for (int ty = 0; ty < r->tiles_y; ty++)
    for (int tx = 0; tx < r->tiles_x; tx++) {
      char kind = r->tile_kind[ty * r->tiles_x + tx];
      if (kind == TILE_SKIP)
        continue;
      int x0 = tx * TILE, x1 = MIN (x0 + TILE, r->W);
      int y0 = ty * TILE, y1 = MIN (y0 + TILE, r->H);

      /* Luma. */
      gboolean inside = kind == TILE_SMOOTH && tile_inside (r, tx, ty, r->W, r->H);
      for (int y = y0; y < y1; y++) {
        guint8 *out = data[0] + (gsize) y * stride[0];
        RowInterp ri = { 0 };
        if (kind == TILE_SMOOTH)
          tile_row (r, tx, ty, (float) (y - y0) * (1.0f / TILE), 0.0f, &ri);
        if (inside) {
          row_fixed_1 (sy_plane, ys, out + x0, x1 - x0, &ri);
          continue;
        }
        for (int x = x0; x < x1; x++) {
          Px px;
          if (kind == TILE_EXACT) {
            field_eval (r, g, (float) x, (float) y, &px);
          } else {
            float k = (float) (x - x0);
            px.sx = ri.sx0 + ri.dsx_dx * k;
            px.sy = ri.sy0 + ri.dsy_dx * k;
            px.cov = 0.0f;
            px.shade = 1.0f;
          }
          Tap t;
          tap_at (px.sx, px.sy, r->W, r->H, &t);
          int v = bilerp (sy_plane + (gsize) t.off_y * ys + t.off_x, 1, ys, &t);
          if (px.cov > 0.0f || px.shade < 1.0f) {
            float yuv[3], fv = v;
            if (px.cov > 0.0f) {
              rgb_to_yuv (r, px.col, yuv);
              fv += (yuv[0] - fv) * px.cov;
            }
            v = clamp_u8 (r->yoff + (fv - r->yoff) * px.shade);
          }
          out[x] = v;
        }
      }

      /* Chroma at half resolution: the field at the centre of each 2x2
       * luma block, U and V sampled there. */
      int cx0 = x0 / 2, cx1 = MIN ((x1 + 1) / 2, cw);
      int cy0 = y0 / 2, cy1 = MIN ((y1 + 1) / 2, ch);
      for (int cy = cy0; cy < cy1; cy++) {
        float ly = 2.0f * cy + 0.5f;
        guint8 *ou = data[1] + (gsize) cy * stride[1];
        guint8 *ov = data[2] + (gsize) cy * stride[2];
        RowInterp ri = { 0 };
        if (kind == TILE_SMOOTH)
          tile_row (r, tx, ty, (ly - y0) * (1.0f / TILE), 0.5f, &ri);
        if (inside && cx1 - cx0 == TILE / 2) {
          /* Chroma source = (luma source - 0.5) / 2, stepping 2 luma px. */
          RowInterp rc = { (ri.sx0 - 0.5f) * 0.5f, (ri.sy0 - 0.5f) * 0.5f,
            ri.dsx_dx, ri.dsy_dx
          };
          row_fixed_1 (su_plane, us, ou + cx0, cx1 - cx0, &rc);
          row_fixed_1 (sv_plane, vs, ov + cx0, cx1 - cx0, &rc);
          continue;
        }
        for (int cx = cx0; cx < cx1; cx++) {
          Px px;
          if (kind == TILE_EXACT) {
            field_eval (r, g, 2.0f * cx + 0.5f, ly, &px);
          } else {
            float k = (float) (2 * cx - x0);
            px.sx = ri.sx0 + ri.dsx_dx * k;
            px.sy = ri.sy0 + ri.dsy_dx * k;
            px.cov = 0.0f;
            px.shade = 1.0f;
          }
          Tap t;
          tap_at ((px.sx - 0.5f) * 0.5f, (px.sy - 0.5f) * 0.5f, cw, ch, &t);
          int u = bilerp (su_plane + (gsize) t.off_y * us + t.off_x, 1, us, &t);
          int v = bilerp (sv_plane + (gsize) t.off_y * vs + t.off_x, 1, vs, &t);
          if (px.cov > 0.0f || px.shade < 1.0f) {
            float yuv[3] = { 0, r->coff, r->coff }, fu = u, fv = v;
            if (px.cov > 0.0f) {
              rgb_to_yuv (r, px.col, yuv);
              fu += (yuv[1] - fu) * px.cov;
              fv += (yuv[2] - fv) * px.cov;
            }
            u = clamp_u8 (r->coff + (fu - r->coff) * px.shade);
            v = clamp_u8 (r->coff + (fv - r->coff) * px.shade);
          }
          ou[cx] = u;
          ov[cx] = v;
        }
      }
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
  const DittoFaceLayout *L = &r->L;
  float lower_lip[3], skin[3];
  float mh = L->mouth_half_w, t = MAX (1.5f, 0.015f * L->face_h);
  mean_rgb (rgb, stride, r->W, r->H, L->mouth_x - 0.5f * mh, L->mouth_y + 0.5f * t,
      L->mouth_x + 0.5f * mh, L->mouth_y + 2.5f * t, lower_lip);
  /* Cheek skin under the eyes: lighting reference. */
  mean_rgb (rgb, stride, r->W, r->H, L->eye_x[0] - 0.5f * L->eye_half_w,
      L->eye_y[0] + 3.0f * L->eye_half_h, L->eye_x[1] + 0.5f * L->eye_half_w,
      L->eye_y[0] + 5.0f * L->eye_half_h, skin);
  float skin_l = 0.3f * skin[0] + 0.59f * skin[1] + 0.11f * skin[2];
  float lip_l = 0.3f * lower_lip[0] + 0.59f * lower_lip[1] + 0.11f * lower_lip[2];
  float light = clampf (skin_l / 170.0f, 0.45f, 1.05f);
  /* The inside of a mouth is a warm, dark red whatever the lips' hue;
   * its brightness follows the portrait's lighting. */
  float level = clampf (0.5f * (lip_l + skin_l), 40.0f, 230.0f);
  static const float hue[3] = { 1.0f, 0.52f, 0.48f };
  for (int i = 0; i < 3; i++)
    r->lip[i] = level * hue[i];
  static const float enamel[3] = { 236.0f, 228.0f, 212.0f };
  for (int i = 0; i < 3; i++)
    r->teeth[i] = enamel[i] * light;
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

  const DittoFaceLayout *L = &r->L;
  float fw = MAX (L->face_w, 4.0f), fh = MAX (L->face_h, 4.0f);
  r->hx = L->face_x + 0.5f * fw;
  r->hy = L->face_y + 0.5f * fh;
  r->ha = 1.0f * fw;
  r->hb = 1.25f * fh;
  r->inv_ha = 1.0f / r->ha;
  r->inv_hb = 1.0f / r->hb;
  r->hk2 = 0.62f * 0.62f;
  r->inv_1mhk2 = 1.0f / (1.0f - r->hk2);
  r->fx = L->face_x + 0.5f * fw;
  r->fy = L->face_y + 0.55f * fh;
  r->inv_fa = 1.0f / (0.48f * fw);
  r->inv_fb = 1.0f / (0.62f * fh);
  r->fk2 = 0.5f * 0.5f;
  r->inv_1mfk2 = 1.0f / (1.0f - r->fk2);
  r->tiles_x = (W + TILE - 1) / TILE;
  r->tiles_y = (H + TILE - 1) / TILE;
  r->grid = g_new (float, 2 * (gsize) (r->tiles_x + 1) * (r->tiles_y + 1));
  r->tile_kind = g_new (char, (gsize) r->tiles_x * r->tiles_y);
  return r;
}

void
ditto_renderer_free (DittoRenderer * r)
{
  if (!r)
    return;
  g_free (r->cache);
  g_free (r->grid);
  g_free (r->tile_kind);
  g_free (r);
}

const DittoFaceLayout *
ditto_renderer_get_layout (DittoRenderer * r)
{
  return &r->L;
}

void
ditto_renderer_draw (DittoRenderer * r, const DittoMotion * m,
    guint8 * const data[GST_VIDEO_MAX_PLANES],
    const gint stride[GST_VIDEO_MAX_PLANES])
{
  const GstVideoInfo *info = &r->info;
  /* Start from the still portrait, then redraw the head. */
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
  Geom g;
  setup_geom (r, m, &g);
  plan_tiles (r, &g);
  if (r->yuv)
    draw_i420 (r, &g, data, stride);
  else
    draw_packed (r, &g, data[0], stride[0]);
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
