/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Where the animated parts of a portrait are: face box, eye openings, lip
 * line, chin. Coordinates are pixels of the image they were measured on.
 */
#ifndef __DITTO_FACE_LAYOUT_H__
#define __DITTO_FACE_LAYOUT_H__

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  float face_x, face_y, face_w, face_h;   /* face box (Haar frontal-face proportions) */
  float eye_x[2], eye_y[2];               /* centres of the eye openings, [0] = image left */
  float eye_half_w, eye_half_h;           /* half size of one eye opening */
  float mouth_x, mouth_y;                 /* centre of the line between the lips */
  float mouth_half_w;                     /* corner to centre */
  float mouth_curve;                      /* lip line y = mouth_y - curve * u^2, u = dx / mouth_half_w (smile > 0) */
  float chin_y;                           /* bottom of the chin */
  gboolean teeth_visible;                 /* the portrait shows its upper teeth: mouth_y is their lower edge */
  gboolean detected;                      /* FALSE: centred default, no face was found */
} DittoFaceLayout;

/* Completes a layout from a face box alone, with average human proportions. */
void ditto_face_layout_from_box (DittoFaceLayout * layout, float x, float y,
    float w, float h);

/* The centred default used when no face is found. */
void ditto_face_layout_default (DittoFaceLayout * layout, int width, int height);

/* Scales a layout measured on one image size to another. */
void ditto_face_layout_scale (DittoFaceLayout * layout, float sx, float sy);

/* Finds the largest face in an 8-bit RGB image (OpenCV Haar cascades from
 * cascade_dir, loaded once per process). face_box, when its width is > 0,
 * replaces detection of the face box (eyes and mouth are still refined inside
 * it). Returns FALSE when no face was found: layout then holds the centred
 * default and *note (if not NULL) a newly allocated explanation. Thread-safe. */
gboolean ditto_face_detect (const guint8 * rgb, int width, int height,
    int stride, const int face_box[4], const char *cascade_dir,
    DittoFaceLayout * layout, gchar ** note);

G_END_DECLS

#endif /* __DITTO_FACE_LAYOUT_H__ */
