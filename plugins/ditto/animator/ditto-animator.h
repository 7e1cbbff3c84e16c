/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One animation session of the built-in animator: face layout, motion state
 * and renderer of one portrait. Not thread-safe by itself; the backend
 * adapter (ditto-backend-builtin.c) serialises calls.
 */
#ifndef __DITTO_ANIMATOR_H__
#define __DITTO_ANIMATOR_H__

#include "ditto-backend.h"
#include "ditto-face-layout.h"
#include "ditto-motion.h"
#include "ditto-render.h"

G_BEGIN_DECLS

typedef struct _DittoAnimator DittoAnimator;

/* Detects the face and prepares the renderer. A missing face is not an
 * error: *warning (newly allocated, may be NULL) then says so. */
DittoAnimator *ditto_animator_new (const DittoBackendConfig * config,
    gchar ** warning, GError ** error);
void ditto_animator_free (DittoAnimator * animator);

/* Motion of the chunk's current frames (chunk->n_current entries). */
void ditto_animator_motion (DittoAnimator * animator, const DittoChunk * chunk,
    DittoMotion * out);

/* One frame as a new buffer matching config->out_info. */
GstBuffer *ditto_animator_render (DittoAnimator * animator,
    const DittoMotion * motion);

/* Back to idle (mouth closed, calm head). */
void ditto_animator_reset (DittoAnimator * animator);

/* Face layout in output pixels. */
const DittoFaceLayout *ditto_animator_get_layout (DittoAnimator * animator);

/* Face layout in source pixels, as detected (or defaulted). */
const DittoFaceLayout *ditto_animator_get_source_layout (DittoAnimator * animator);

G_END_DECLS

#endif /* __DITTO_ANIMATOR_H__ */
