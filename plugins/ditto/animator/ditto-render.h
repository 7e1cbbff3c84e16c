/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Draws one animated frame of a portrait: the portrait is scaled and
 * converted to the output format once; each frame warps the face mesh's
 * triangles that moved (head pose, jaw, lips, eyelids, brows, gaze) and
 * paints the mouth's opening.
 */
#ifndef __DITTO_RENDER_H__
#define __DITTO_RENDER_H__

#include <gst/video/video.h>
#include "ditto-face-layout.h"
#include "ditto-mesh.h"
#include "ditto-motion.h"

G_BEGIN_DECLS

typedef struct _DittoRenderer DittoRenderer;

/* source_rgb: the portrait, 8-bit RGB. layout: in source pixels. out_info:
 * I420, RGB or RGBx. Returns NULL and sets error for other formats. */
DittoRenderer *ditto_renderer_new (const guint8 * source_rgb, int source_width,
    int source_height, int source_stride, const DittoFaceLayout * layout,
    const GstVideoInfo * out_info, GError ** error);
void ditto_renderer_free (DittoRenderer * renderer);

/* The layout scaled to the output size. */
const DittoFaceLayout *ditto_renderer_get_layout (DittoRenderer * renderer);

/* The face mesh in output pixels, and (dst, may be NULL) where the last
 * drawn frame put its vertices. For tests and debugging views. */
const DittoMesh *ditto_renderer_get_mesh (DittoRenderer * renderer,
    const float (**dst)[2]);

/* Renders into planes laid out as out_info says (data[i] + stride[i]). */
void ditto_renderer_draw (DittoRenderer * renderer, const DittoMotion * motion,
    guint8 * const data[GST_VIDEO_MAX_PLANES],
    const gint stride[GST_VIDEO_MAX_PLANES]);

/* A fresh buffer matching out_info (with GstVideoMeta), one frame drawn. */
GstBuffer *ditto_renderer_draw_buffer (DittoRenderer * renderer,
    const DittoMotion * motion);

/* Area resize (OpenCV INTER_AREA) of 8-bit RGB; in ditto-face-detect.cpp. */
void ditto_image_resize_rgb (const guint8 * src, int sw, int sh, int sstride,
    guint8 * dst, int dw, int dh, int dstride);

G_END_DECLS

#endif /* __DITTO_RENDER_H__ */
