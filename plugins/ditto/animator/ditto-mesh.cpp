/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ditto-mesh.h"

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace {

inline void
set (float p[2], float x, float y)
{
  p[0] = x;
  p[1] = y;
}

/* The inner lip pairs of one column: upper, lower. */
const int kInnerPairs[3][2] = { {61, 67}, {62, 66}, {63, 65} };

/* Where the added points go, from the landmarks and the face's axes. */
void
build_vertices (const DittoFaceLayout * l, DittoMesh * m)
{
  float (*v)[2] = m->rest;
  for (int i = 0; i < DITTO_FACE_N_LANDMARKS; i++)
    set (v[i], l->lm[i][0], l->lm[i][1]);

  float ec[2][2];
  for (int e = 0; e < 2; e++) {
    float sx = 0, sy = 0;
    for (int i = 0; i < 6; i++) {
      sx += v[36 + 6 * e + i][0];
      sy += v[36 + 6 * e + i][1];
    }
    set (ec[e], sx / 6, sy / 6);
    set (v[DITTO_MESH_EYE_CENTRE + e], ec[e][0], ec[e][1]);
  }
  float rx = ec[1][0] - ec[0][0], ry = ec[1][1] - ec[0][1];
  float eye_d = std::max (std::hypot (rx, ry), 1.0f);
  rx /= eye_d;
  ry /= eye_d;
  const float dx = -ry, dy = rx;
  set (m->right, rx, ry);
  set (m->down, dx, dy);
  const float S = eye_d / 0.411f;       /* eye distance in the mean shape's box */
  m->scale = S;
  auto down_of = [&](const float p[2]) { return p[0] * dx + p[1] * dy; };

  /* Lower inner lip never above the upper one (a detector's jitter would
   * fold the mesh there). */
  for (const auto & pr : kInnerPairs) {
    float *u = v[pr[0]], *lo = v[pr[1]];
    if (down_of (lo) < down_of (u)) {
      float mx = 0.5f * (u[0] + lo[0]), my = 0.5f * (u[1] + lo[1]);
      set (u, mx, my);
      set (lo, mx, my);
    }
  }
  for (int c = 0; c < 3; c++) {
    const float *u = v[kInnerPairs[c][0]], *lo = v[kInnerPairs[c][1]];
    float mx = 0.5f * (u[0] + lo[0]), my = 0.5f * (u[1] + lo[1]);
    set (v[DITTO_MESH_MOUTH_UP + c], mx, my);
    set (v[DITTO_MESH_MOUTH_LOW + c], mx, my);
  }

  static const int crease[4][2] = { {37, 19}, {38, 20}, {43, 23}, {44, 24} };
  for (int i = 0; i < 4; i++) {
    const float *lid = v[crease[i][0]], *brow = v[crease[i][1]];
    set (v[DITTO_MESH_CREASE + i], lid[0] + 0.45f * (brow[0] - lid[0]),
        lid[1] + 0.45f * (brow[1] - lid[1]));
  }
  for (int k = 4; k <= 12; k++)
    set (v[DITTO_MESH_NECK + k - 4], v[k][0] + 0.22f * S * dx,
        v[k][1] + 0.22f * S * dy);
  static const int brow_pts[7] = { 17, 19, 21, -1, 22, 24, 26 };
  for (int i = 0; i < 7; i++) {
    float bx, by;
    if (brow_pts[i] < 0) {
      bx = 0.5f * (v[21][0] + v[22][0]);
      by = 0.5f * (v[21][1] + v[22][1]);
    } else {
      bx = v[brow_pts[i]][0];
      by = v[brow_pts[i]][1];
    }
    set (v[DITTO_MESH_FOREHEAD + i], bx - 0.32f * S * dx, by - 0.32f * S * dy);
  }
  float cx = 0.5f * (ec[0][0] + ec[1][0]) + 0.15f * S * dx;
  float cy = 0.5f * (ec[0][1] + ec[1][1]) + 0.15f * S * dy;
  for (int i = 0; i < 16; i++) {
    float a = 2.0f * (float) M_PI * (i + 0.5f) / 16.0f;
    float ca = std::cos (a), sa = std::sin (a);
    set (v[DITTO_MESH_RING_HEAD + i], cx + 0.80f * S * ca * rx + 0.98f * S * sa * dx,
        cy + 0.80f * S * ca * ry + 0.98f * S * sa * dy);
    set (v[DITTO_MESH_RING_OUT + i], cx + 1.20f * S * ca * rx + 1.35f * S * sa * dx,
        cy + 1.20f * S * ca * ry + 1.35f * S * sa * dy);
    /* The head's lower edge is neck: it follows the head only partly. */
    m->matte[DITTO_MESH_RING_HEAD + i] = sa <= 0.2f ? 1.0f : 1.0f - 0.6f * (sa - 0.2f) / 0.8f;
    m->matte[DITTO_MESH_RING_OUT + i] = 0.0f;
    m->depth[DITTO_MESH_RING_HEAD + i] = 0.05f;
    m->depth[DITTO_MESH_RING_OUT + i] = 0.0f;
  }

  for (int i = 0; i < DITTO_MESH_RING_HEAD; i++)
    m->matte[i] = 1.0f;
  for (int i = 0; i < 9; i++)
    m->matte[DITTO_MESH_NECK + i] = 0.55f;

  /* Parallax: how far a point stands out of the face's plane. */
  for (int k = 0; k <= 16; k++)
    m->depth[k] = 0.1f + 0.3f * (1.0f - std::fabs (k - 8) / 8.0f);
  for (int i = 17; i <= 26; i++)
    m->depth[i] = 0.45f;
  static const float nose[9] = { 0.55f, 0.7f, 0.85f, 1.0f, 0.7f, 0.78f, 0.85f, 0.78f, 0.7f };
  for (int i = 0; i < 9; i++)
    m->depth[27 + i] = nose[i];
  for (int i = 36; i <= 47; i++)
    m->depth[i] = 0.45f;
  for (int i = 48; i <= 59; i++)
    m->depth[i] = 0.6f;
  for (int i = 60; i <= 67; i++)
    m->depth[i] = 0.55f;
  m->depth[DITTO_MESH_EYE_CENTRE] = m->depth[DITTO_MESH_EYE_CENTRE + 1] = 0.45f;
  for (int i = 0; i < 4; i++)
    m->depth[DITTO_MESH_CREASE + i] = 0.45f;
  for (int i = 0; i < 6; i++)
    m->depth[DITTO_MESH_MOUTH_UP + i] = 0.5f;
  for (int i = 0; i < 9; i++)
    m->depth[DITTO_MESH_NECK + i] = 0.1f;
  for (int i = 0; i < 7; i++)
    m->depth[DITTO_MESH_FOREHEAD + i] = 0.35f;
}

struct Topology {
  int n = 0;
  int tris[DITTO_MESH_MAX_TRIS][3];
  guint8 kind[DITTO_MESH_MAX_TRIS];
};

std::once_flag topology_once;
Topology topology;

bool
inside_polygon (const std::vector < cv::Point2f > &poly, cv::Point2f p)
{
  return cv::pointPolygonTest (poly, p, false) > 0;
}

void
add (Topology & t, int a, int b, int c, DittoMeshTriKind k)
{
  if (t.n >= DITTO_MESH_MAX_TRIS)
    return;
  t.tris[t.n][0] = a;
  t.tris[t.n][1] = b;
  t.tris[t.n][2] = c;
  t.kind[t.n] = (guint8) k;
  t.n++;
}

/* Delaunay triangulation of the mean face outside the lips; the lips get
 * fixed strips between their outer and inner contours (a Delaunay edge must
 * never cross a lip contour, or opening the mouth would tear), and the
 * mouth's inside its own strips: the portrait's upper inner mouth hangs from
 * the upper lip, its lower from the lower lip, and the opening between
 * them is painted. */
void
build_topology (void)
{
  DittoFaceLayout l;
  ditto_face_layout_from_box (&l, 0, 0, 1000, 1000);
  for (const auto & pr : kInnerPairs) {
    l.lm[pr[0]][1] -= 15.0f;
    l.lm[pr[1]][1] += 15.0f;
  }
  DittoMesh m;
  build_vertices (&l, &m);

  cv::Subdiv2D sub (cv::Rect (-4000, -4000, 9000, 9000));
  std::map < std::pair < float, float >, int >index;
  for (int i = 0; i < DITTO_MESH_N_VERTS; i++) {
    if ((i >= 60 && i <= 67)
        || (i >= DITTO_MESH_MOUTH_UP && i < DITTO_MESH_MOUTH_LOW + 3))
      continue;
    cv::Point2f p (m.rest[i][0], m.rest[i][1]);
    sub.insert (p);
    index[{p.x, p.y}] = i;
  }
  std::vector < cv::Point2f > lips;
  for (int i = 48; i <= 59; i++)
    lips.emplace_back (m.rest[i][0], m.rest[i][1]);
  std::vector < cv::Vec6f > list;
  sub.getTriangleList (list);
  Topology & t = topology;
  for (const cv::Vec6f & tri : list) {
    int id[3];
    bool ok = true;
    for (int k = 0; k < 3 && ok; k++) {
      auto it = index.find ({tri[2 * k], tri[2 * k + 1]});
      ok = it != index.end ();
      if (ok)
        id[k] = it->second;
    }
    if (!ok)
      continue;
    cv::Point2f c ((tri[0] + tri[2] + tri[4]) / 3, (tri[1] + tri[3] + tri[5]) / 3);
    if (inside_polygon (lips, c))
      continue;
    add (t, id[0], id[1], id[2], DITTO_MESH_TRI_SKIN);
  }
  const DittoMeshTriKind S = DITTO_MESH_TRI_SKIN, O = DITTO_MESH_TRI_MOUTH;
  /* Lips: outer contour to inner contour. */
  static const int lip_strip[20][3] = {
    {48, 49, 60}, {49, 61, 60}, {49, 50, 61}, {50, 62, 61}, {50, 51, 62},
    {51, 52, 62}, {52, 63, 62}, {52, 53, 63}, {53, 64, 63}, {53, 54, 64},
    {54, 55, 64}, {55, 65, 64}, {55, 56, 65}, {56, 66, 65}, {56, 57, 66},
    {57, 58, 66}, {58, 67, 66}, {58, 59, 67}, {59, 60, 67}, {59, 48, 60},
  };
  for (const auto & tri : lip_strip)
    add (t, tri[0], tri[1], tri[2], S);
  const int U[3] = { 61, 62, 63 }, L[3] = { 67, 66, 65 };
  const int MU = DITTO_MESH_MOUTH_UP, ML = DITTO_MESH_MOUTH_LOW;
  add (t, 60, U[0], MU, S);
  add (t, 60, MU, ML, O);
  add (t, 60, ML, L[0], S);
  for (int c = 0; c < 2; c++) {
    add (t, U[c], U[c + 1], MU + c + 1, S);
    add (t, U[c], MU + c + 1, MU + c, S);
    add (t, MU + c, MU + c + 1, ML + c + 1, O);
    add (t, MU + c, ML + c + 1, ML + c, O);
    add (t, ML + c, ML + c + 1, L[c + 1], S);
    add (t, ML + c, L[c + 1], L[c], S);
  }
  add (t, U[2], 64, MU + 2, S);
  add (t, MU + 2, 64, ML + 2, O);
  add (t, ML + 2, 64, L[2], S);
}

}                               /* namespace */

extern "C" void
ditto_mesh_build (const DittoFaceLayout * layout, DittoMesh * mesh)
{
  std::call_once (topology_once, build_topology);
  build_vertices (layout, mesh);
  mesh->n_tris = topology.n;
  memcpy (mesh->tris, topology.tris, sizeof (int) * 3 * topology.n);
  memcpy (mesh->kind, topology.kind, topology.n);
}
