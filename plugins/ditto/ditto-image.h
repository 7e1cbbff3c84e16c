/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Portrait loading for the dittotalkinghead element: PNG, JPEG or WebP
 * through gdk-pixbuf, size-checked before decoding, returned as tightly
 * packed 8-bit RGB (alpha dropped).
 */
#ifndef __DITTO_IMAGE_H__
#define __DITTO_IMAGE_H__

#include <glib.h>

G_BEGIN_DECLS

/* Refuse portraits above these before decoding them. */
#define DITTO_IMAGE_MAX_SIDE 8192
#define DITTO_IMAGE_MAX_PIXELS (40u * 1000u * 1000u)

#define DITTO_IMAGE_ERROR (ditto_image_error_quark ())
GQuark ditto_image_error_quark (void);

typedef enum {
  DITTO_IMAGE_ERROR_UNREADABLE,     /* missing file, no permission, I/O error */
  DITTO_IMAGE_ERROR_NOT_IMAGE,      /* empty, or not a PNG, JPEG or WebP image */
  DITTO_IMAGE_ERROR_TOO_LARGE,      /* over DITTO_IMAGE_MAX_SIDE / _MAX_PIXELS */
  DITTO_IMAGE_ERROR_DECODE,         /* a PNG/JPEG/WebP the decoder fails on
                                     * (header or data truncated, corrupt) */
} DittoImageError;

typedef struct {
  guint8 *rgb;          /* width * height * 3 bytes */
  gint width;
  gint height;
  gint stride;          /* == width * 3 */
  gchar *format;        /* "png", "jpeg" or "webp" */
} DittoImage;

DittoImage *ditto_image_load (const gchar * path, GError ** error);
void ditto_image_free (DittoImage * image);

G_END_DECLS

#endif /* __DITTO_IMAGE_H__ */
