/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_DITTO_IMAGE_SRC_H__
#define __GST_DITTO_IMAGE_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstbasesrc.h>

G_BEGIN_DECLS

#define GST_TYPE_DITTO_IMAGE_SRC (gst_ditto_image_src_get_type ())
G_DECLARE_FINAL_TYPE (GstDittoImageSrc, gst_ditto_image_src, GST,
    DITTO_IMAGE_SRC, GstBaseSrc)

GST_ELEMENT_REGISTER_DECLARE (dittoimagesrc);

G_END_DECLS

#endif /* __GST_DITTO_IMAGE_SRC_H__ */
