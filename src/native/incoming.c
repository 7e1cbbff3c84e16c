/* Incoming media on the offering side: webrtcbin's src pads linked by media
 * kind, in C, from "pad-added".
 *
 * Why not gst-launch's delayed linking ("webrtc. ! application/x-rtp,
 * media=video ! depay"): it links whichever src pad appears first to the
 * first pending link whose filter the pad's *queried* caps can satisfy, and a
 * webrtcbin src pad's caps query does not carry the media kind. webrtcbin
 * adds its src pads when the first RTP packet of each stream arrives, so the
 * order is a race: when audio wins, the Opus stream is linked to the video
 * branch, its caps event is refused (webrtcbin's internal rtpulpfecdec logs
 * "caps ... not accepted") and nicesrc stops with not-negotiated.
 *
 * Here each new src pad is linked by what it carries: the media field of its
 * caps (webrtcbin stores the sticky caps before exposing the pad), else its
 * transceiver's kind. The handler runs on the streaming thread that adds the
 * pad and never touches JS. A pad that has no free target (a second stream of
 * one kind, an unknown kind) is drained into a fakesink, with a warning on the
 * bus, so that it cannot stop the session with not-linked. */
#include "dg.h"

#include <string.h>

typedef enum
{
  MEDIA_VIDEO,
  MEDIA_AUDIO,
  MEDIA_UNKNOWN,
} Media;

static const gchar *const MEDIA_NAMES[] = { "video", "audio", "unknown" };

static Media
media_from_string (const gchar * s)
{
  if (!g_strcmp0 (s, "video"))
    return MEDIA_VIDEO;
  if (!g_strcmp0 (s, "audio"))
    return MEDIA_AUDIO;
  return MEDIA_UNKNOWN;
}

static Media
pad_media (GstPad * pad)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  Media media = MEDIA_UNKNOWN;
  GObject *trans = NULL;

  if (caps) {
    if (gst_caps_get_size (caps) > 0)
      media = media_from_string (gst_structure_get_string
          (gst_caps_get_structure (caps, 0), "media"));
    gst_caps_unref (caps);
  }
  if (media != MEDIA_UNKNOWN)
    return media;

  /* No caps yet: the transceiver knows its kind (webrtcbin >= 1.20). */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (pad), "transceiver"))
    g_object_get (pad, "transceiver", &trans, NULL);
  if (trans) {
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (trans), "kind")) {
      GstWebRTCKind kind = GST_WEBRTC_KIND_UNKNOWN;

      g_object_get (trans, "kind", &kind, NULL);
      if (kind == GST_WEBRTC_KIND_VIDEO)
        media = MEDIA_VIDEO;
      else if (kind == GST_WEBRTC_KIND_AUDIO)
        media = MEDIA_AUDIO;
    }
    g_object_unref (trans);
  }
  return media;
}

/* Links pad to a new fakesink in bin; returns FALSE when even that fails. */
static gboolean
drain (GstBin * bin, GstPad * pad)
{
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstPad *sinkpad;
  gboolean ok;

  if (!sink)
    return FALSE;
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  if (!gst_bin_add (bin, sink))
    return FALSE;
  sinkpad = gst_element_get_static_pad (sink, "sink");
  ok = gst_pad_link (pad, sinkpad) == GST_PAD_LINK_OK;
  gst_object_unref (sinkpad);
  gst_element_sync_state_with_parent (sink);
  return ok;
}

/* webrtcbin "pad-added", on the streaming thread that exposes the pad (or
 * the JS thread for pads that existed before linkIncoming()). */
static void
on_pad_added (GstElement * webrtc, GstPad * pad, DgWebRtc * rtc)
{
  Media media;
  gchar *target_name = NULL;
  GstObject *parent = NULL;
  GstElement *target = NULL;
  GstPad *sinkpad = NULL;
  GstPadLinkReturn ret = GST_PAD_LINK_REFUSED;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC || gst_pad_is_linked (pad))
    return;
  media = pad_media (pad);
  g_mutex_lock (&rtc->pipe->lock);
  if (media != MEDIA_UNKNOWN)
    target_name = g_strdup (rtc->incoming[media]);
  g_mutex_unlock (&rtc->pipe->lock);

  parent = gst_object_get_parent (GST_OBJECT (webrtc));
  if (!parent || !GST_IS_BIN (parent))
    goto out;                   /* being torn down */
  if (target_name && (target = gst_bin_get_by_name (GST_BIN (parent),
              target_name)))
    sinkpad = gst_element_get_static_pad (target, "sink");
  if (sinkpad)
    ret = gst_pad_link (pad, sinkpad);
  if (ret == GST_PAD_LINK_OK) {
    GST_INFO_OBJECT (webrtc, "incoming %s pad %s linked to %s",
        MEDIA_NAMES[media], GST_PAD_NAME (pad), target_name);
    goto out;
  }
  if (gst_pad_is_linked (pad))
    goto out;                   /* a concurrent call linked it first */
  GST_ELEMENT_WARNING (webrtc, STREAM, DEMUX, (NULL),
      ("incoming %s stream on %s not linked (%s): discarded",
          MEDIA_NAMES[media], GST_PAD_NAME (pad), !target_name ?
          "no element for this kind" : !sinkpad ?
          "the element has no sink pad" : gst_pad_link_get_name (ret)));
  if (!drain (GST_BIN (parent), pad))
    GST_ERROR_OBJECT (webrtc, "could not drain %s", GST_PAD_NAME (pad));

out:
  if (sinkpad)
    gst_object_unref (sinkpad);
  if (target)
    gst_object_unref (target);
  if (parent)
    gst_object_unref (parent);
  g_free (target_name);
}

static void
rtc_notify (gpointer data, GClosure * closure)
{
  dg_webrtc_unref (data);
}

/* A string property of a JS object; NULL when absent or undefined. FALSE
 * (with a pending exception) when present but not a string. */
static gboolean
optional_string (napi_env env, napi_value obj, const gchar * key, gchar ** out)
{
  napi_value v;
  napi_valuetype type;

  *out = NULL;
  if (napi_get_named_property (env, obj, key, &v) != napi_ok ||
      napi_typeof (env, v, &type) != napi_ok)
    return FALSE;
  if (type == napi_undefined || type == napi_null)
    return TRUE;
  if (type != napi_string) {
    dg_throw (env, "GST_WEBRTC", "linkIncoming: %s must be an element name",
        key);
    return FALSE;
  }
  return (*out = dg_get_string (env, v)) != NULL;
}

/* Throws unless the pipeline has an element `name` with a static "sink" pad. */
static gboolean
check_target (napi_env env, DgPipe * pipe, const gchar * name)
{
  GstElement *el = gst_bin_get_by_name (GST_BIN (pipe->pipeline), name);
  GstPad *pad;

  if (!el) {
    dg_throw (env, "GST_NO_ELEMENT", "pipeline %s has no element named \"%s\"",
        pipe->name, name);
    return FALSE;
  }
  pad = gst_element_get_static_pad (el, "sink");
  gst_object_unref (el);
  if (!pad) {
    dg_throw (env, "GST_NO_ELEMENT", "%s has no pad named \"sink\"", name);
    return FALSE;
  }
  gst_object_unref (pad);
  return TRUE;
}

/* webrtcLinkIncoming(handle, webrtcName, {video?, audio?}): from now on,
 * every new webrtcbin src pad is linked by media kind to the named element's
 * "sink" pad; src pads already there and unlinked are linked at once. Once
 * per webrtcbin. */
napi_value
dg_webrtc_link_incoming (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3];
  napi_valuetype type;
  DgPipe *pipe;
  DgWebRtc *rtc = NULL;
  gchar *name = NULL, *targets[2] = { NULL, NULL };
  GstElement *el = NULL;
  gboolean already;
  GstIterator *it;
  GValue item = G_VALUE_INIT;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(pipe = dg_get_pipe (env, argv[0], FALSE)) ||
      !(name = dg_get_string (env, argv[1])))
    return NULL;
  if (!(rtc = dg_pipe_find_webrtc (pipe, name))) {
    dg_throw (env, "GST_NO_ELEMENT", "%s has no configured webrtcbin \"%s\"",
        pipe->name, name);
    goto out;
  }
  if (napi_typeof (env, argv[2], &type) != napi_ok || type != napi_object) {
    dg_throw (env, "GST_WEBRTC", "linkIncoming takes {video, audio} names");
    goto out;
  }
  if (!optional_string (env, argv[2], "video", &targets[MEDIA_VIDEO]) ||
      !optional_string (env, argv[2], "audio", &targets[MEDIA_AUDIO]))
    goto out;
  if (!targets[MEDIA_VIDEO] && !targets[MEDIA_AUDIO]) {
    dg_throw (env, "GST_WEBRTC", "linkIncoming: name a video or an audio "
        "element");
    goto out;
  }
  if ((targets[MEDIA_VIDEO] && !check_target (env, pipe, targets[MEDIA_VIDEO]))
      || (targets[MEDIA_AUDIO] && !check_target (env, pipe,
              targets[MEDIA_AUDIO])))
    goto out;

  g_mutex_lock (&pipe->lock);
  already = rtc->incoming[MEDIA_VIDEO] || rtc->incoming[MEDIA_AUDIO];
  el = rtc->webrtc ? gst_object_ref (rtc->webrtc) : NULL;
  if (!already && el) {
    rtc->incoming[MEDIA_VIDEO] = targets[MEDIA_VIDEO];
    rtc->incoming[MEDIA_AUDIO] = targets[MEDIA_AUDIO];
    targets[MEDIA_VIDEO] = targets[MEDIA_AUDIO] = NULL;
  }
  g_mutex_unlock (&pipe->lock);
  if (!el) {
    dg_throw (env, "GST_CLOSED", "pipeline %s is closed", pipe->name);
    goto out;
  }
  if (already) {
    dg_throw (env, "GST_WEBRTC", "linkIncoming was already called for %s",
        name);
    goto out;
  }
  /* Disconnected with the other handlers by dg_webrtc_disconnect (by data). */
  g_signal_connect_data (el, "pad-added", G_CALLBACK (on_pad_added),
      dg_webrtc_ref (rtc), rtc_notify, 0);

  it = gst_element_iterate_src_pads (el);
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    on_pad_added (el, g_value_get_object (&item), rtc);
    g_value_reset (&item);
  }
  if (G_IS_VALUE (&item))
    g_value_unset (&item);
  gst_iterator_free (it);

out:
  if (el)
    gst_object_unref (el);
  if (rtc)
    dg_webrtc_unref (rtc);
  g_free (targets[MEDIA_VIDEO]);
  g_free (targets[MEDIA_AUDIO]);
  g_free (name);
  return NULL;
}
