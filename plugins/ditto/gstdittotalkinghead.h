/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_DITTO_TALKING_HEAD_H__
#define __GST_DITTO_TALKING_HEAD_H__

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_DITTO_TALKING_HEAD (gst_ditto_talking_head_get_type ())
G_DECLARE_FINAL_TYPE (GstDittoTalkingHead, gst_ditto_talking_head, GST,
    DITTO_TALKING_HEAD, GstElement)

typedef enum {
  GST_DITTO_MODE_OFFLINE,
  GST_DITTO_MODE_LIVE,
} GstDittoMode;

#define GST_TYPE_DITTO_MODE (gst_ditto_mode_get_type ())
GType gst_ditto_mode_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (dittotalkinghead);

G_END_DECLS

#endif /* __GST_DITTO_TALKING_HEAD_H__ */
