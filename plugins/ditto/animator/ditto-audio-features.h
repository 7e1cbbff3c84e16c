/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Per-frame speech cues from 640 samples of 16 kHz audio: level and the
 * spectral balance that separates open (aa), wide (ee, s) and round (oo)
 * mouth shapes.
 */
#ifndef __DITTO_AUDIO_FEATURES_H__
#define __DITTO_AUDIO_FEATURES_H__

#include <glib.h>

G_BEGIN_DECLS

typedef struct _DittoAudioFeatures {
  float db;            /* RMS level, dBFS */
  float low_centroid;  /* Hz, centroid of 150..1200 Hz: rises with jaw opening (F1) */
  float mid_ratio;     /* energy 900..2800 Hz / 150..2800 Hz: high for ee (F2) */
  float hiss_ratio;    /* energy 2800..8000 Hz / all: fricatives (s, f, sh) */
  float front_ratio;   /* energy 1800..3000 Hz / 900..3000 Hz: a high F2 (front vowels: ee, i, e) */
} DittoAudioFeatures;

/* samples: DITTO_SAMPLES_PER_FRAME floats in [-1, 1]. */
void ditto_audio_features_compute (const float *samples, DittoAudioFeatures * out);

G_END_DECLS

#endif /* __DITTO_AUDIO_FEATURES_H__ */
