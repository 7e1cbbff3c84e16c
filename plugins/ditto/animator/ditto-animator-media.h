/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Media helpers for the animator's bench and test programs (not the plugin):
 * load a portrait and a 16 kHz WAV, synthesise speech-like audio, save PNGs.
 */
#ifndef __DITTO_ANIMATOR_MEDIA_H__
#define __DITTO_ANIMATOR_MEDIA_H__

#include <glib.h>
#include "ditto-motion.h"

G_BEGIN_DECLS

typedef struct {
  guint8 *rgb;
  int width, height, stride;
} DittoImage;

gboolean ditto_media_load_image (const char *path, DittoImage * image, GError ** error);
void ditto_media_image_clear (DittoImage * image);

/* 16 kHz mono PCM16 WAV to floats. */
float *ditto_media_load_wav (const char *path, gsize * n_samples, GError ** error);

/* Deterministic speech-like audio: voiced syllables with aa/ee/oo formants,
 * 's' fricatives and pauses. */
float *ditto_media_synth_speech (double seconds, gsize * n_samples);

gboolean ditto_media_save_png (const char *path, const guint8 * rgb, int width,
    int height, int stride, int bpp, GError ** error);

/* The motion of audio chunked the way the element chunks it (past, current,
 * future frames of 640 samples; zeros before the start and after the end). */
DittoMotion *ditto_media_run_motion (guint past, guint current, guint future,
    guint steps, guint32 seed, const float *audio, gsize n_samples,
    gsize * n_frames_out);

G_END_DECLS

#endif
