/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * dlib's 68-point shape predictor in a flat form (written at build time by
 * ditto-landmark-model-gen, linked into the plugin as read-only data):
 *   header;
 *   float initial_shape[n_coords];
 *   per cascade, per feature: uint32 anchor, float delta[2];
 *   per cascade, per tree: DittoLandmarkSplit splits[n_splits],
 *                          float leaves[n_splits + 1][n_coords].
 * Native byte order (the generator runs on the build machine).
 */
#ifndef DITTO_LANDMARK_MODEL_H
#define DITTO_LANDMARK_MODEL_H

#include <stdint.h>
#include <string.h>

#define DITTO_LANDMARK_MODEL_MAGIC "DITTOSP1"

typedef struct {
  char magic[8];
  uint32_t n_coords;            /* 2 x the number of landmarks */
  uint32_t n_cascades;
  uint32_t n_trees;             /* per cascade */
  uint32_t n_splits;            /* per tree, a full binary tree */
  uint32_t n_features;          /* pixels per cascade */
  uint32_t reserved;
} DittoLandmarkModelHeader;

typedef struct {
  uint32_t idx1, idx2;
  float thresh;
} DittoLandmarkSplit;

#endif
