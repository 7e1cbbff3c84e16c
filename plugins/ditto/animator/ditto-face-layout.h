/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Where the animated parts of a portrait are: the 68 iBUG facial landmarks
 * (jaw line 0-16, brows 17-26, nose 27-35, eyes 36-47, lips outer 48-59 and
 * inner 60-67) and the summary the renderer and logs use (face box, eye
 * openings, lip line, chin). Coordinates are pixels of the image they were
 * measured on.
 */
#ifndef __DITTO_FACE_LAYOUT_H__
#define __DITTO_FACE_LAYOUT_H__

#include <glib.h>

G_BEGIN_DECLS

#define DITTO_FACE_N_LANDMARKS 68

typedef enum {
  DITTO_FACE_SOURCE_DEFAULT,    /* no face: mean shape in a centred box */
  DITTO_FACE_SOURCE_DLIB,       /* dlib HOG detector + shape predictor */
  DITTO_FACE_SOURCE_HAAR,       /* Haar box, landmarks fitted in it */
  DITTO_FACE_SOURCE_BOX,        /* face-box property, landmarks fitted in it */
  DITTO_FACE_SOURCE_TEMPLATE,   /* a box, mean shape placed in it (no model, or the fit failed) */
} DittoFaceSource;

typedef struct {
  float face_x, face_y, face_w, face_h;   /* face box (dlib detector proportions: brows to chin) */
  float eye_x[2], eye_y[2];               /* centres of the eye openings, [0] = image left */
  float eye_half_w, eye_half_h;           /* half size of one eye opening */
  float mouth_x, mouth_y;                 /* centre of the line between the lips */
  float mouth_half_w;                     /* corner to centre */
  float mouth_curve;                      /* corners above the centre (smile > 0) */
  float mouth_gap;                        /* inner lips apart at the centre (0: closed) */
  float chin_y;                           /* bottom of the chin */
  gboolean teeth_visible;                 /* the portrait's open mouth shows teeth */
  gboolean detected;                      /* FALSE: centred default, no face was found */
  DittoFaceSource source;
  float lm[DITTO_FACE_N_LANDMARKS][2];    /* landmarks, x y */
} DittoFaceLayout;

/* Places the mean face shape in a face box (dlib proportions) and derives
 * the summary fields. */
void ditto_face_layout_from_box (DittoFaceLayout * layout, float x, float y,
    float w, float h);

/* Recomputes the summary fields from layout->lm. */
void ditto_face_layout_derive (DittoFaceLayout * layout);

/* The centred default used when no face is found. */
void ditto_face_layout_default (DittoFaceLayout * layout, int width, int height);

/* Scales a layout measured on one image size to another. */
void ditto_face_layout_scale (DittoFaceLayout * layout, float sx, float sy);

/* Where the 68-point model is (Debian's libdlib-data), unless
 * DITTO_LANDMARK_MODEL says otherwise. */
const char *ditto_face_landmark_model (void);

/* Finds the largest face in an 8-bit RGB image and its landmarks: dlib's HOG
 * detector (on the image, upscaled for small faces, and turned for tilted
 * heads), then OpenCV Haar cascades from cascade_dir; landmarks from dlib's
 * 68-point model (loaded once per process), the mean shape when the model is
 * missing. face_box, when its width is > 0, replaces detection of the face
 * box. Returns FALSE when no face was found: layout then holds the centred
 * default and *note (if not NULL) a newly allocated explanation; *note may
 * also be set on success (e.g. the model file is missing). Results are cached
 * per process by pixel content. Thread-safe. */
gboolean ditto_face_detect (const guint8 * rgb, int width, int height,
    int stride, const int face_box[4], const char *cascade_dir,
    DittoFaceLayout * layout, gchar ** note);

G_END_DECLS

#endif /* __DITTO_FACE_LAYOUT_H__ */
