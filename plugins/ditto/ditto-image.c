/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ditto-image.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

G_DEFINE_QUARK (ditto-image-error-quark, ditto_image_error);

static gboolean
format_supported (const gchar * name)
{
  return g_strcmp0 (name, "png") == 0 || g_strcmp0 (name, "jpeg") == 0
      || g_strcmp0 (name, "webp") == 0;
}

/* The format a file's first bytes announce, NULL for none we take. */
static const gchar *
magic_format (const guint8 * head, gsize len)
{
  static const guint8 png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

  if (len >= 8 && memcmp (head, png, 8) == 0)
    return "PNG";
  if (len >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
    return "JPEG";
  if (len >= 12 && memcmp (head, "RIFF", 4) == 0
      && memcmp (head + 8, "WEBP", 4) == 0)
    return "WebP";
  return NULL;
}

DittoImage *
ditto_image_load (const gchar * path, GError ** error)
{
  GdkPixbufFormat *format;
  GdkPixbuf *pixbuf = NULL, *oriented;
  GError *err = NULL;
  DittoImage *image;
  const guint8 *src;
  gint width = 0, height = 0, n_channels, src_stride, y, x;
  gchar *format_name;
  guint8 head[12];
  gsize head_len;
  FILE *f;

  if (path == NULL || *path == '\0') {
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_UNREADABLE,
        "no source image given (set the source-image property)");
    return NULL;
  }

  /* Say why a file cannot be read before asking a decoder about it. */
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_UNREADABLE,
        "cannot read source image '%s': it is a directory", path);
    return NULL;
  }
  f = g_fopen (path, "rb");
  if (f == NULL) {
    int saved = errno;
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_UNREADABLE,
        "cannot read source image '%s': %s", path, g_strerror (saved));
    return NULL;
  }
  head_len = fread (head, 1, sizeof head, f);
  fclose (f);
  if (head_len == 0) {
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_NOT_IMAGE,
        "source image '%s' is empty", path);
    return NULL;
  }

  /* Only the header is parsed here: huge images are refused before any
   * pixel memory is allocated. */
  format = gdk_pixbuf_get_file_info (path, &width, &height);
  if (format == NULL) {
    const gchar *magic = magic_format (head, head_len);
    /* gdk-pixbuf says the same of a file cut off inside its header as of
     * one that is no image at all: the first bytes tell them apart. */
    if (magic != NULL)
      g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_DECODE,
          "cannot decode source image '%s': its %s header is cut off or "
          "corrupt", path, magic);
    else
      g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_NOT_IMAGE,
          "source image '%s' is not a PNG, JPEG or WebP image", path);
    return NULL;
  }
  format_name = gdk_pixbuf_format_get_name (format);
  if (!format_supported (format_name)) {
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_NOT_IMAGE,
        "source image '%s' is a %s image; only PNG, JPEG and WebP are supported",
        path, format_name);
    g_free (format_name);
    return NULL;
  }
  if (width <= 0 || height <= 0 || width > DITTO_IMAGE_MAX_SIDE
      || height > DITTO_IMAGE_MAX_SIDE
      || (guint64) width * (guint64) height > DITTO_IMAGE_MAX_PIXELS) {
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_TOO_LARGE,
        "source image '%s' is %dx%d pixels; the limit is %d pixels per side "
        "and %u megapixels", path, width, height, DITTO_IMAGE_MAX_SIDE,
        DITTO_IMAGE_MAX_PIXELS / 1000000u);
    g_free (format_name);
    return NULL;
  }

  pixbuf = gdk_pixbuf_new_from_file (path, &err);
  if (pixbuf == NULL) {
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_DECODE,
        "cannot decode source image '%s': %s", path,
        err ? err->message : "unknown error");
    g_clear_error (&err);
    g_free (format_name);
    return NULL;
  }
  /* Phone photos carry their rotation in EXIF. */
  oriented = gdk_pixbuf_apply_embedded_orientation (pixbuf);
  g_object_unref (pixbuf);
  pixbuf = oriented;

  if (gdk_pixbuf_get_colorspace (pixbuf) != GDK_COLORSPACE_RGB
      || gdk_pixbuf_get_bits_per_sample (pixbuf) != 8
      || gdk_pixbuf_get_n_channels (pixbuf) < 3) {
    g_set_error (error, DITTO_IMAGE_ERROR, DITTO_IMAGE_ERROR_DECODE,
        "source image '%s' decoded to an unsupported pixel layout", path);
    g_object_unref (pixbuf);
    g_free (format_name);
    return NULL;
  }

  image = g_new0 (DittoImage, 1);
  image->width = gdk_pixbuf_get_width (pixbuf);
  image->height = gdk_pixbuf_get_height (pixbuf);
  image->stride = image->width * 3;
  image->format = format_name;
  image->rgb = g_malloc ((gsize) image->stride * image->height);

  n_channels = gdk_pixbuf_get_n_channels (pixbuf);
  src_stride = gdk_pixbuf_get_rowstride (pixbuf);
  src = gdk_pixbuf_read_pixels (pixbuf);
  for (y = 0; y < image->height; y++) {
    const guint8 *s = src + (gsize) y * src_stride;
    guint8 *d = image->rgb + (gsize) y * image->stride;
    if (n_channels == 3) {
      memcpy (d, s, image->stride);
    } else {
      /* Drop alpha: the portrait is shown as its colour channels. */
      for (x = 0; x < image->width; x++) {
        d[3 * x + 0] = s[n_channels * x + 0];
        d[3 * x + 1] = s[n_channels * x + 1];
        d[3 * x + 2] = s[n_channels * x + 2];
      }
    }
  }
  g_object_unref (pixbuf);
  return image;
}

void
ditto_image_free (DittoImage * image)
{
  if (image == NULL)
    return;
  g_free (image->rgb);
  g_free (image->format);
  g_free (image);
}
