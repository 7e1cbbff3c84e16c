/* Pad counters: what a receiver needs for live stats without pulling media
 * into JS. A buffer probe on a named element's pad counts buffers and bytes
 * and keeps the running time of the last buffer; JS reads them (and the pad's
 * current caps) whenever it likes.
 *
 * The probe only touches atomics (and the pad's sticky segment): a streaming
 * thread never waits on JS or on a lock JS holds. The counters live as qdata
 * on the pad and die with it; the probe holds its own reference. */
#include "dg.h"

#include <string.h>

typedef struct
{
  gint refcount;                /* atomic */
  gint64 buffers;               /* atomic */
  gint64 bytes;                 /* atomic */
  gint64 running_time;          /* atomic, ns; -1 before the first timed buffer */
} DgPadCounters;

static GQuark
counters_quark (void)
{
  static GQuark q;

  if (!q)
    q = g_quark_from_static_string ("dg-pad-counters");
  return q;
}

static DgPadCounters *
counters_ref (DgPadCounters * c)
{
  g_atomic_int_inc (&c->refcount);
  return c;
}

static void
counters_unref (gpointer data)
{
  DgPadCounters *c = data;

  if (g_atomic_int_dec_and_test (&c->refcount))
    g_free (c);
}

static void
count_buffer (GstPad * pad, DgPadCounters * c, GstBuffer * buf)
{
  GstClockTime pts = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) :
      GST_BUFFER_DTS (buf);

  DG_SET64 (&c->buffers, DG_GET64 (&c->buffers) + 1);   /* one streaming thread per pad */
  DG_SET64 (&c->bytes, DG_GET64 (&c->bytes) + gst_buffer_get_size (buf));
  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    GstEvent *ev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);

    if (ev) {
      const GstSegment *seg;
      guint64 rt;

      gst_event_parse_segment (ev, &seg);
      if (seg->format == GST_FORMAT_TIME) {
        rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
        if (GST_CLOCK_TIME_IS_VALID (rt))
          DG_SET64 (&c->running_time, (gint64) rt);
      }
      gst_event_unref (ev);
    }
  }
}

static GstPadProbeReturn
counters_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  DgPadCounters *c = data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    count_buffer (pad, c, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    guint i, n = gst_buffer_list_length (list);

    for (i = 0; i < n; i++)
      count_buffer (pad, c, gst_buffer_list_get (list, i));
  }
  return GST_PAD_PROBE_OK;
}

/* A new ref to element.pad of an open pipeline; throws and returns NULL. */
static GstPad *
find_pad (napi_env env, napi_value handle, napi_value jelement,
    napi_value jpad)
{
  DgPipe *pipe;
  gchar *ename = NULL, *pname = NULL;
  GstElement *el = NULL;
  GstPad *pad = NULL;

  if (!(pipe = dg_get_pipe (env, handle, FALSE)))
    return NULL;
  if (!(ename = dg_get_string (env, jelement)) ||
      !(pname = dg_get_string (env, jpad)))
    goto out;
  el = gst_bin_get_by_name (GST_BIN (pipe->pipeline), ename);
  if (!el) {
    dg_throw (env, "GST_NO_ELEMENT", "pipeline %s has no element named \"%s\"",
        pipe->name, ename);
    goto out;
  }
  pad = gst_element_get_static_pad (el, pname);
  if (!pad)
    dg_throw (env, "GST_NO_ELEMENT", "%s has no pad named \"%s\"", ename,
        pname);
out:
  if (el)
    gst_object_unref (el);
  g_free (ename);
  g_free (pname);
  return pad;
}

/* padWatch(handle, element, pad): starts counting; idempotent. */
napi_value
dg_pad_watch (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3];
  GstPad *pad;
  DgPadCounters *c;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(pad = find_pad (env, argv[0], argv[1], argv[2])))
    return NULL;
  GST_OBJECT_LOCK (pad);
  c = g_object_get_qdata (G_OBJECT (pad), counters_quark ());
  if (!c) {
    c = g_new0 (DgPadCounters, 1);
    c->refcount = 1;            /* the qdata's */
    c->running_time = -1;
    g_object_set_qdata_full (G_OBJECT (pad), counters_quark (), c,
        counters_unref);
  } else {
    c = NULL;                   /* already watched */
  }
  GST_OBJECT_UNLOCK (pad);
  if (c)
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
        GST_PAD_PROBE_TYPE_BUFFER_LIST, counters_probe, counters_ref (c),
        counters_unref);
  gst_object_unref (pad);
  return NULL;
}

/* padCounters(handle, element, pad) -> {buffers, bytes, runningTimeMs, caps,
 * eos} (buffers/bytes 0 and runningTimeMs null when the pad is not watched;
 * caps and eos, the pad's EOS flag, always as the pad has them now). */
napi_value
dg_pad_counters (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3], out, v;
  GstPad *pad;
  GstCaps *caps;
  DgPadCounters *c;
  gint64 buffers = 0, bytes = 0, rt = -1;
  gboolean eos;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(pad = find_pad (env, argv[0], argv[1], argv[2])))
    return NULL;
  GST_OBJECT_LOCK (pad);
  c = g_object_get_qdata (G_OBJECT (pad), counters_quark ());
  if (c) {
    buffers = DG_GET64 (&c->buffers);
    bytes = DG_GET64 (&c->bytes);
    rt = DG_GET64 (&c->running_time);
  }
  eos = GST_PAD_IS_EOS (pad);
  GST_OBJECT_UNLOCK (pad);
  caps = gst_pad_get_current_caps (pad);
  gst_object_unref (pad);

  napi_create_object (env, &out);
  napi_create_double (env, (double) buffers, &v);
  napi_set_named_property (env, out, "buffers", v);
  napi_create_double (env, (double) bytes, &v);
  napi_set_named_property (env, out, "bytes", v);
  if (rt < 0)
    napi_get_null (env, &v);
  else
    napi_create_double (env, rt / 1e6, &v);
  napi_set_named_property (env, out, "runningTimeMs", v);
  if (caps) {
    gchar *text = gst_caps_to_string (caps);

    napi_create_string_utf8 (env, text, NAPI_AUTO_LENGTH, &v);
    g_free (text);
    gst_caps_unref (caps);
  } else {
    napi_get_null (env, &v);
  }
  napi_set_named_property (env, out, "caps", v);
  napi_get_boolean (env, eos, &v);
  napi_set_named_property (env, out, "eos", v);
  return out;
}
