/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-dittoimagesrc
 *
 * Loads a portrait exactly as #GstDittoTalkingHead:source-image does (the
 * same loader: PNG, JPEG or WebP, size limits checked before decoding, EXIF
 * orientation applied, alpha dropped) and pushes it as one RGB frame, then
 * EOS. A file the element would refuse fails here in the same way: the
 * error's message is the loader's, and its code tells the kinds apart:
 *
 * - #GST_RESOURCE_ERROR_NOT_FOUND / #GST_RESOURCE_ERROR_OPEN_READ: no such
 *   file, or it cannot be read;
 * - #GST_STREAM_ERROR_WRONG_TYPE: not a PNG, JPEG or WebP image (an empty or
 *   a text file, a GIF...);
 * - #GST_STREAM_ERROR_FORMAT: over the element's size limits;
 * - #GST_STREAM_ERROR_DECODE: the decoder failed (truncated, corrupt).
 *
 * The server's upload check runs `dittoimagesrc location=... ! fakesink`,
 * so what it accepts is what a session can load. The image is loaded when
 * the element starts (READY to PAUSED): a failure fails that state change.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 dittoimagesrc location=portrait.jpg ! videoconvert ! pngenc ! \
 *   filesink location=seen.png
 * ]| What the talking-head element sees of portrait.jpg.
 * |[
 * gst-launch-1.0 dittoimagesrc location=portrait.jpg ! imagefreeze ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdittoimagesrc.h"
#include "ditto-image.h"

#include <string.h>
#include <gst/video/video.h>

GST_DEBUG_CATEGORY_STATIC (gst_ditto_image_src_debug);
#define GST_CAT_DEFAULT gst_ditto_image_src_debug

struct _GstDittoImageSrc
{
  GstBaseSrc parent;

  /* properties, under the object lock */
  gchar *location;

  /* set in start(), cleared in stop(); the object lock guards them against
   * caps queries from other threads */
  DittoImage *image;
  GstVideoInfo info;

  /* streaming thread only */
  gboolean pushed;
};

enum
{
  PROP_0,
  PROP_LOCATION,
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format = (string) RGB, "
        "width = (int) [ 1, " G_STRINGIFY (DITTO_IMAGE_MAX_SIDE) " ], "
        "height = (int) [ 1, " G_STRINGIFY (DITTO_IMAGE_MAX_SIDE) " ], "
        "framerate = (fraction) 0/1, pixel-aspect-ratio = (fraction) 1/1"));

#define gst_ditto_image_src_parent_class parent_class
G_DEFINE_TYPE (GstDittoImageSrc, gst_ditto_image_src, GST_TYPE_BASE_SRC);
GST_ELEMENT_REGISTER_DEFINE (dittoimagesrc, "dittoimagesrc", GST_RANK_NONE,
    GST_TYPE_DITTO_IMAGE_SRC);

static void gst_ditto_image_src_finalize (GObject * object);
static void gst_ditto_image_src_set_property (GObject * object,
    guint prop_id, const GValue * value, GParamSpec * pspec);
static void gst_ditto_image_src_get_property (GObject * object,
    guint prop_id, GValue * value, GParamSpec * pspec);
static gboolean gst_ditto_image_src_start (GstBaseSrc * src);
static gboolean gst_ditto_image_src_stop (GstBaseSrc * src);
static GstCaps *gst_ditto_image_src_get_caps (GstBaseSrc * src,
    GstCaps * filter);
static gboolean gst_ditto_image_src_is_seekable (GstBaseSrc * src);
static GstFlowReturn gst_ditto_image_src_create (GstBaseSrc * src,
    guint64 offset, guint size, GstBuffer ** buf);

static void
gst_ditto_image_src_class_init (GstDittoImageSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);

  gobject_class->finalize = gst_ditto_image_src_finalize;
  gobject_class->set_property = gst_ditto_image_src_set_property;
  gobject_class->get_property = gst_ditto_image_src_get_property;

  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "The portrait to load (PNG, JPEG or WebP); read when the element "
          "starts", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Ditto portrait source", "Source/Video",
      "Loads a portrait as the dittotalkinghead element does and pushes it "
      "as one RGB frame", "ditto-gst developers");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_ditto_image_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_ditto_image_src_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_ditto_image_src_get_caps);
  basesrc_class->is_seekable =
      GST_DEBUG_FUNCPTR (gst_ditto_image_src_is_seekable);
  basesrc_class->create = GST_DEBUG_FUNCPTR (gst_ditto_image_src_create);

  GST_DEBUG_CATEGORY_INIT (gst_ditto_image_src_debug, "dittoimagesrc", 0,
      "Ditto portrait source");
}

static void
gst_ditto_image_src_init (GstDittoImageSrc * self)
{
  gst_video_info_init (&self->info);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

static void
gst_ditto_image_src_finalize (GObject * object)
{
  GstDittoImageSrc *self = GST_DITTO_IMAGE_SRC (object);

  g_free (self->location);
  ditto_image_free (self->image);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ditto_image_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstDittoImageSrc *self = GST_DITTO_IMAGE_SRC (object);

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_free (self->location);
      self->location = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ditto_image_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstDittoImageSrc *self = GST_DITTO_IMAGE_SRC (object);

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->location);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* One GStreamer error per kind of loader failure, so that an application
 * can tell a missing file from a file that is not an image, too large or
 * broken without parsing the message. */
static void
post_load_error (GstDittoImageSrc * self, const gchar * location,
    const GError * err)
{
  switch (err->code) {
    case DITTO_IMAGE_ERROR_UNREADABLE:
      if (!g_file_test (location, G_FILE_TEST_EXISTS))
        GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("%s", err->message),
            ("location=%s", location));
      else
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s", err->message),
            ("location=%s", location));
      break;
    case DITTO_IMAGE_ERROR_NOT_IMAGE:
      GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE, ("%s", err->message),
          ("location=%s", location));
      break;
    case DITTO_IMAGE_ERROR_TOO_LARGE:
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("%s", err->message),
          ("location=%s", location));
      break;
    case DITTO_IMAGE_ERROR_DECODE:
    default:
      GST_ELEMENT_ERROR (self, STREAM, DECODE, ("%s", err->message),
          ("location=%s", location));
      break;
  }
}

static gboolean
gst_ditto_image_src_start (GstBaseSrc * src)
{
  GstDittoImageSrc *self = GST_DITTO_IMAGE_SRC (src);
  DittoImage *image;
  GError *err = NULL;
  gchar *location;

  GST_OBJECT_LOCK (self);
  location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);

  if (location == NULL || *location == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No portrait given (set the location property)"), (NULL));
    g_free (location);
    return FALSE;
  }

  image = ditto_image_load (location, &err);
  if (image == NULL) {
    post_load_error (self, location, err);
    g_clear_error (&err);
    g_free (location);
    return FALSE;
  }
  GST_DEBUG_OBJECT (self, "loaded %s: %s %dx%d", location, image->format,
      image->width, image->height);
  g_free (location);

  GST_OBJECT_LOCK (self);
  self->image = image;
  gst_video_info_set_format (&self->info, GST_VIDEO_FORMAT_RGB,
      image->width, image->height);
  /* A still picture: one frame, no frame rate. */
  GST_VIDEO_INFO_FPS_N (&self->info) = 0;
  GST_VIDEO_INFO_FPS_D (&self->info) = 1;
  GST_OBJECT_UNLOCK (self);
  self->pushed = FALSE;
  return TRUE;
}

static gboolean
gst_ditto_image_src_stop (GstBaseSrc * src)
{
  GstDittoImageSrc *self = GST_DITTO_IMAGE_SRC (src);
  DittoImage *image;

  GST_OBJECT_LOCK (self);
  image = self->image;
  self->image = NULL;
  gst_video_info_init (&self->info);
  GST_OBJECT_UNLOCK (self);
  ditto_image_free (image);
  return TRUE;
}

static GstCaps *
gst_ditto_image_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  GstDittoImageSrc *self = GST_DITTO_IMAGE_SRC (src);
  GstCaps *caps, *result;

  GST_OBJECT_LOCK (self);
  if (self->image != NULL)
    caps = gst_video_info_to_caps (&self->info);
  else
    caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (src));
  GST_OBJECT_UNLOCK (self);

  if (filter == NULL)
    return caps;
  result = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
  gst_caps_unref (caps);
  return result;
}

static gboolean
gst_ditto_image_src_is_seekable (GstBaseSrc * src)
{
  return FALSE;
}

static GstFlowReturn
gst_ditto_image_src_create (GstBaseSrc * src, guint64 offset, guint size,
    GstBuffer ** buf)
{
  GstDittoImageSrc *self = GST_DITTO_IMAGE_SRC (src);
  const DittoImage *image = self->image;
  GstVideoFrame frame;
  GstBuffer *buffer;
  gint y;

  if (self->pushed)
    return GST_FLOW_EOS;

  /* The loader packs rows tightly; video/x-raw RGB rows are 4-byte aligned. */
  buffer = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&self->info),
      NULL);
  if (buffer == NULL || !gst_video_frame_map (&frame, &self->info, buffer,
          GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not allocate a %dx%d frame", image->width, image->height),
        (NULL));
    if (buffer != NULL)
      gst_buffer_unref (buffer);
    return GST_FLOW_ERROR;
  }
  for (y = 0; y < image->height; y++)
    memcpy ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
        + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
        image->rgb + (gsize) y * image->stride, image->stride);
  gst_video_frame_unmap (&frame);

  GST_BUFFER_PTS (buffer) = 0;
  GST_BUFFER_OFFSET (buffer) = 0;
  GST_BUFFER_OFFSET_END (buffer) = 1;
  self->pushed = TRUE;
  *buf = buffer;
  return GST_FLOW_OK;
}
