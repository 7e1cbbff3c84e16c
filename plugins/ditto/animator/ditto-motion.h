/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Motion trajectory of a talking head, one value set per video frame, from
 * the audio of a chunk (past, current and future frames). Keeps the state
 * that makes consecutive chunks continuous: the emitted past, level
 * tracking, head-motion phases and the blink schedule.
 */
#ifndef __DITTO_MOTION_H__
#define __DITTO_MOTION_H__

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  float jaw;       /* 0 closed .. 1 fully open */
  float spread;    /* -1 rounded (oo) .. +1 stretched (ee) */
  float teeth;     /* 0 .. 1 how much the teeth show */
  float blink;     /* 0 open .. 1 closed */
  float roll;      /* head tilt about the neck, radians */
  float head_dx, head_dy;  /* head translation, in face widths */
  float yaw, pitch;        /* turn/nod: parallax of the face's relief, in face widths */
  float press;     /* 0 .. 1 lips pressed together (p, b, m) */
  float brow;      /* 0 .. 1 brows raised (emphasis) */
  float gaze_x, gaze_y;    /* -1 .. 1 where the eyes look, in eye half-widths / 4 */
} DittoMotion;

/* Mouth channels smoothed over the chunk window. */
#define DITTO_MOTION_MOUTH_CHANNELS 4     /* jaw, spread, teeth, press */

typedef struct _DittoMotionState DittoMotionState;

DittoMotionState *ditto_motion_new (guint past, guint current, guint future,
    guint smoothing_iterations, guint32 seed);
void ditto_motion_free (DittoMotionState * state);

/* Back to idle: mouth closed, calm head; the blink schedule runs on. */
void ditto_motion_reset (DittoMotionState * state);

/* samples: (past + current + future) * 640 floats; writes n_current frames.
 * Frames of the future that hold no real audio yet (live mode, more to come)
 * continue the last real frame instead of reading the zero padding as silence. */
void ditto_motion_chunk (DittoMotionState * state, const float *samples,
    guint n_current, guint n_real_future, gboolean is_last, DittoMotion * out);

/* The mouth targets of one frame before smoothing, a blend of the viseme
 * set's shapes (exposed for tests). */
struct _DittoAudioFeatures;
void ditto_motion_mouth_targets (DittoMotionState * state,
    const struct _DittoAudioFeatures * features,
    float out[DITTO_MOTION_MOUTH_CHANNELS]);

G_END_DECLS

#endif /* __DITTO_MOTION_H__ */
