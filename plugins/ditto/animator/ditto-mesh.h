/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The face mesh the renderer warps: the 68 landmarks plus points the
 * animation needs (eye centres for the gaze, lid creases, the inner mouth's
 * middle line twice, neck anchors, forehead, and two rings around the head:
 * the hair's edge and the background beyond it), with one triangulation for
 * every face (Delaunay on dlib's mean shape, computed once per process).
 */
#ifndef __DITTO_MESH_H__
#define __DITTO_MESH_H__

#include "ditto-face-layout.h"

G_BEGIN_DECLS

enum {
  DITTO_MESH_EYE_CENTRE = 68,   /* 2: left, right */
  DITTO_MESH_CREASE = 70,       /* 4: above 37, 38, 43, 44 */
  DITTO_MESH_MOUTH_UP = 74,     /* 3: the inner mouth's middle line, upper copy (columns 61|67, 62|66, 63|65) */
  DITTO_MESH_MOUTH_LOW = 77,    /* 3: the same line, lower copy */
  DITTO_MESH_NECK = 80,         /* 9: under jaw points 4..12 */
  DITTO_MESH_FOREHEAD = 89,     /* 7: above 17, 19, 21, 27, 22, 24, 26 */
  DITTO_MESH_RING_HEAD = 96,    /* 16: the head's (hair's) edge */
  DITTO_MESH_RING_OUT = 112,    /* 16: background, where the matte is 0 */
  DITTO_MESH_N_VERTS = 128,
  DITTO_MESH_MAX_TRIS = 320,
};

typedef enum {
  DITTO_MESH_TRI_SKIN,          /* sampled from the portrait */
  DITTO_MESH_TRI_MOUTH,         /* the opening between MOUTH_UP and MOUTH_LOW: synthesised */
} DittoMeshTriKind;

typedef struct {
  float rest[DITTO_MESH_N_VERTS][2];    /* in the layout's pixels */
  float matte[DITTO_MESH_N_VERTS];      /* 1: moves with the head, 0: background */
  float depth[DITTO_MESH_N_VERTS];      /* parallax for turns and nods, 0..1 */
  float right[2], down[2];              /* the face's axes (unit) */
  float scale;                          /* face size: about the dlib box width */
  int n_tris;
  int tris[DITTO_MESH_MAX_TRIS][3];
  guint8 kind[DITTO_MESH_MAX_TRIS];
} DittoMesh;

/* Builds the mesh of a layout. */
void ditto_mesh_build (const DittoFaceLayout * layout, DittoMesh * mesh);

G_END_DECLS

#endif /* __DITTO_MESH_H__ */
