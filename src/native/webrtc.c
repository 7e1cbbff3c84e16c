/* webrtcbin control: ICE agent configuration, state events, the
 * offer -> answer chain in GstPromise change functions, stats, RTCP liveness.
 *
 * answer() chain (no step waits on JS, no step runs on the JS thread except
 * the first emission):
 *   set-remote-description ─┐
 *   caps on every sink pad ─┴─> payload check -> create-answer
 *     -> set-local-description -> ICE gathering complete (bounded)
 *     -> local-description text (with candidates) resolves the promise.
 * Waiting for caps is what puts `a=ssrc:<ssrc> msid:<stream> <track>` lines in
 * the answer: webrtcbin 1.22 writes them from the ssrc in the sink pad caps.
 *
 * offer() chain (the client side, same rules):
 *   create-offer -> set-local-description -> ICE gathering complete (bounded)
 *     -> local-description text (with candidates) resolves the promise;
 * acceptAnswer(): set-remote-description, resolved from its promise. */
#include "dg.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define CAPS_POLL_MS 2

static gboolean is_mdns_candidate (const gchar * candidate);

DgWebRtc *
dg_webrtc_ref (DgWebRtc * rtc)
{
  g_atomic_int_inc (&rtc->refcount);
  return rtc;
}

void
dg_webrtc_unref (DgWebRtc * rtc)
{
  if (!g_atomic_int_dec_and_test (&rtc->refcount))
    return;
  g_assert (rtc->webrtc == NULL && rtc->gather_waiters == NULL);
  if (rtc->ice_context)
    g_main_context_unref (rtc->ice_context);
  dg_pipe_unref (rtc->pipe);
  g_free (rtc->incoming[0]);
  g_free (rtc->incoming[1]);
  g_free (rtc->name);
  g_free (rtc);
}

/* A new ref to the webrtcbin, or NULL once the pipeline is closing. */
static GstElement *
rtc_element (DgWebRtc * rtc)
{
  GstElement *el;

  g_mutex_lock (&rtc->pipe->lock);
  el = rtc->webrtc ? gst_object_ref (rtc->webrtc) : NULL;
  g_mutex_unlock (&rtc->pipe->lock);
  return el;
}

DgWebRtc *
dg_pipe_find_webrtc (DgPipe * pipe, const gchar * name)
{
  DgWebRtc *found = NULL;
  GList *l;

  g_mutex_lock (&pipe->lock);
  for (l = pipe->webrtcs; l; l = l->next)
    if (!strcmp (((DgWebRtc *) l->data)->name, name)) {
      found = dg_webrtc_ref (l->data);
      break;
    }
  g_mutex_unlock (&pipe->lock);
  return found;
}

void
dg_webrtc_disconnect (DgWebRtc * rtc)
{
  GstElement *el, *rtpbin;
  GList *waiters, *l;

  g_mutex_lock (&rtc->pipe->lock);
  el = rtc->webrtc;
  rtpbin = rtc->rtpbin;
  waiters = rtc->gather_waiters;
  rtc->webrtc = rtc->rtpbin = NULL;
  rtc->gather_waiters = NULL;
  g_mutex_unlock (&rtc->pipe->lock);

  if (el) {
    g_signal_handlers_disconnect_by_data (el, rtc);
    gst_object_unref (el);
  }
  if (rtpbin) {
    g_signal_handlers_disconnect_by_data (rtpbin, rtc);
    gst_object_unref (rtpbin);
  }
  for (l = waiters; l; l = l->next)
    dg_op_unref (l->data);      /* close() rejects the ops themselves */
  g_list_free (waiters);
}

/* libnice closes a removed stream's sockets from a source on the agent's
 * context; webrtcbin's ICE thread may stop before dispatching it, and that
 * source then keeps the agent (and its sockets) alive forever (measured: 2
 * sockets + 2 eventfds per pipeline closed during set-local-description).
 * Once the pipeline is gone nobody else runs that context: run what is left. */
void
dg_webrtc_drain_ice (DgWebRtc * rtc)
{
  GMainContext *ctx = rtc->ice_context;
  guint n = 0;

  if (!ctx || !g_main_context_acquire (ctx))
    return;                     /* still owned by a running ICE thread */
  while (g_main_context_iteration (ctx, FALSE) && n < 100)
    n++;
  g_main_context_release (ctx);
  if (n)
    GST_DEBUG ("%s/%s: ran %u pending ICE sources", rtc->pipe->name,
        rtc->name, n);
}

static const gchar *
enum_nick (GType type, gint value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const gchar *nick = v ? v->value_nick : "new";

  g_type_class_unref (klass);   /* enum classes are static: nick stays valid */
  return nick;
}

/* ---- signals (webrtcbin / rtpbin threads) ---- */

static void
on_ice_candidate (GstElement * webrtc, guint mline, gchar * candidate,
    DgWebRtc * rtc)
{
  dg_post_emit (rtc->pipe, rtc->name, "ice-candidate",
      gst_structure_new ("ice-candidate", "sdpMLineIndex", G_TYPE_UINT, mline,
          "candidate", G_TYPE_STRING, candidate, NULL), NULL);
}

static gboolean finish_local (gpointer data);

static void
on_state_notify (GObject * obj, GParamSpec * pspec, DgWebRtc * rtc)
{
  gint value = 0;
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);
  const gchar *event;
  GList *waiters = NULL, *l;

  g_object_get (obj, pspec->name, &value, NULL);
  if (!strcmp (pspec->name, "connection-state")) {
    g_atomic_int_set (&rtc->conn_state, value);
    event = "connection-state";
  } else if (!strcmp (pspec->name, "ice-connection-state")) {
    g_atomic_int_set (&rtc->ice_state, value);
    event = "ice-connection-state";
  } else {
    g_mutex_lock (&rtc->pipe->lock);
    g_atomic_int_set (&rtc->gathering_state, value);
    if (value == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) {
      waiters = rtc->gather_waiters;
      rtc->gather_waiters = NULL;
    }
    g_mutex_unlock (&rtc->pipe->lock);
    event = "ice-gathering-state";
  }
  dg_post_emit (rtc->pipe, rtc->name, event, NULL, enum_nick (type, value));

  /* Read the description on the control thread, never inside webrtcbin's
   * own notification. */
  for (l = waiters; l; l = l->next)
    g_main_context_invoke_full (dg_control_context (), G_PRIORITY_DEFAULT,
        finish_local, l->data, (GDestroyNotify) dg_op_unref);
  g_list_free (waiters);
}

static void
on_ssrc_active (GstElement * rtpbin, guint session, guint ssrc, DgWebRtc * rtc)
{
  /* Emitted for every RTCP packet from a remote source: receiver reports. */
  DG_SET64 (&rtc->last_rtcp_us, g_get_monotonic_time ());
}

/* RTCP timing for lip sync. A browser can only place audio and video on one
 * clock once it holds two sender reports per stream; rtpsession's default
 * 5 s minimum interval made Chrome wait about 8 s before it synchronised at
 * all (measured: no estimatedPlayoutTimestamp before the third SR). WebRTC
 * peers accept a reduced minimum (RFC 4585 §3.4); 1 s gets sync within 2 s. */
#define RTCP_MIN_INTERVAL (1 * GST_SECOND)

static void
on_rtpbin_element_added (GstBin * rtpbin, GstElement * element,
    DgWebRtc * rtc)
{
  if (strcmp (G_OBJECT_TYPE_NAME (element), "GstRtpSession") == 0)
    g_object_set (element, "rtcp-min-interval", (guint64) RTCP_MIN_INTERVAL,
        NULL);
}

/* ---- ICE agent configuration ---- */

typedef gpointer (*NiceAddressNewFn) (void);
typedef gboolean (*NiceAddressSetFromStringFn) (gpointer addr, const gchar * s);
typedef gboolean (*NiceAgentAddLocalAddressFn) (gpointer agent, gpointer addr);
typedef void (*NiceAddressFreeFn) (gpointer addr);

/* libnice's headers are not packaged with GStreamer's: resolve the four
 * functions from the libnice that webrtcbin itself loaded. */
static gboolean
add_local_address (GObject * agent, const gchar * address, gchar ** err)
{
  static gsize init;
  static NiceAddressNewFn addr_new;
  static NiceAddressSetFromStringFn addr_set;
  static NiceAgentAddLocalAddressFn add_local;
  static NiceAddressFreeFn addr_free;
  gpointer addr;
  gboolean ok;

  if (g_once_init_enter (&init)) {
    void *h = dlopen ("libnice.so.10", RTLD_NOW | RTLD_NOLOAD);

    if (!h)
      h = dlopen ("libnice.so.10", RTLD_NOW);
    if (h) {
      addr_new = (NiceAddressNewFn) dlsym (h, "nice_address_new");
      addr_set = (NiceAddressSetFromStringFn) dlsym (h,
          "nice_address_set_from_string");
      add_local = (NiceAgentAddLocalAddressFn) dlsym (h,
          "nice_agent_add_local_address");
      addr_free = (NiceAddressFreeFn) dlsym (h, "nice_address_free");
    }
    g_once_init_leave (&init, 1);
  }
  if (!addr_new || !addr_set || !add_local || !addr_free) {
    *err = g_strdup ("libnice's nice_agent_add_local_address is unavailable");
    return FALSE;
  }
  addr = addr_new ();
  ok = addr_set (addr, address);
  if (!ok)
    *err = g_strdup_printf ("\"%s\" is not an IP address", address);
  else if (!(ok = add_local (agent, addr)))
    *err = g_strdup_printf ("libnice refused local address %s", address);
  addr_free (addr);
  return ok;
}

static gchar *
js_string_prop (napi_env env, napi_value obj, const gchar * key)
{
  napi_value v;
  napi_valuetype t;

  if (napi_get_named_property (env, obj, key, &v) != napi_ok)
    return NULL;
  napi_typeof (env, v, &t);
  return t == napi_string ? dg_get_string (env, v) : NULL;
}

static gchar **
js_string_array_prop (napi_env env, napi_value obj, const gchar * key)
{
  napi_value v, item;
  bool is_array = false;
  uint32_t n, i;
  GPtrArray *out;

  if (napi_get_named_property (env, obj, key, &v) != napi_ok)
    return NULL;
  napi_is_array (env, v, &is_array);
  if (!is_array)
    return NULL;
  napi_get_array_length (env, v, &n);
  out = g_ptr_array_new ();
  for (i = 0; i < n; i++) {
    napi_get_element (env, v, i, &item);
    g_ptr_array_add (out, dg_get_string (env, item));
  }
  g_ptr_array_add (out, NULL);
  return (gchar **) g_ptr_array_free (out, FALSE);
}

static gboolean
configure_ice (napi_env env, GstElement * webrtc, napi_value ice,
    GMainContext ** ice_ctx)
{
  GObject *ice_agent = NULL, *agent = NULL;
  gchar *stun = NULL, **turns = NULL, **locals = NULL, *err = NULL;
  napi_valuetype t = napi_undefined;
  gboolean ok = TRUE;
  gchar **s;

  g_object_get (webrtc, "ice-agent", &ice_agent, NULL);
  if (ice_agent && g_object_class_find_property (G_OBJECT_GET_CLASS (ice_agent),
          "agent"))
    g_object_get (ice_agent, "agent", &agent, NULL);
  if (!agent) {
    dg_throw (env, "GST_WEBRTC", "%s has no libnice agent to configure",
        GST_ELEMENT_NAME (webrtc));
    ok = FALSE;
    goto out;
  }
  if (ice_ctx && g_object_class_find_property (G_OBJECT_GET_CLASS (agent),
          "main-context"))
  {
    g_object_get (agent, "main-context", ice_ctx, NULL);      /* a pointer, no ref */
    if (*ice_ctx)
      g_main_context_ref (*ice_ctx);
  }
  /* UPnP discovery costs ~200 ms of gathering and is useless for a server. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "upnp"))
    g_object_set (agent, "upnp", FALSE, NULL);

  if (ice)
    napi_typeof (env, ice, &t);
  if (t != napi_object)
    goto out;

  stun = js_string_prop (env, ice, "stunServer");
  turns = js_string_array_prop (env, ice, "turnServers");
  locals = js_string_array_prop (env, ice, "localAddresses");

  if (!dg_ice_configure_agent (env, ice_agent, ice)) {      /* ice.c */
    ok = FALSE;
    goto out;
  }
  if (stun && *stun)
    g_object_set (webrtc, "stun-server", stun, NULL);
  for (s = turns; s && *s; s++) {
    gboolean added = FALSE;

    g_signal_emit_by_name (webrtc, "add-turn-server", *s, &added);
    if (!added) {
      dg_throw (env, "GST_WEBRTC", "webrtcbin refused TURN server %s", *s);
      ok = FALSE;
      goto out;
    }
  }
  for (s = locals; s && *s; s++) {
    if (!add_local_address (agent, *s, &err)) {
      dg_throw (env, "GST_WEBRTC", "%s", err);
      ok = FALSE;
      goto out;
    }
  }

out:
  g_free (err);
  g_free (stun);
  g_strfreev (turns);
  g_strfreev (locals);
  if (agent)
    g_object_unref (agent);
  if (ice_agent)
    g_object_unref (ice_agent);
  return ok;
}

/* webrtcbin bundles every stream through one rtpfunnel, which forwards the
 * first EOS it gets: the other stream's later data then meets an EOS'd pad
 * ("Could not push segment", a flow error), so a short clip whose audio ends
 * before its video is encoded failed the session. webrtcbin never acts on EOS
 * (a session ends on the element's "ditto-eos"), so it is dropped at its door. */
static GstPadProbeReturn
drop_eos (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  (void) pad;
  (void) data;
  return GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS ?
      GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

static void
drop_eos_at_sink_pads (GstElement * webrtc)
{
  GstIterator *it = gst_element_iterate_sink_pads (webrtc);
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    gst_pad_add_probe (g_value_get_object (&item),
        GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, drop_eos, NULL, NULL);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

static void
rtc_closure_notify (gpointer data, GClosure * closure)
{
  dg_webrtc_unref (data);
}

/* ---- exports: configure, states ---- */

static DgWebRtc *
get_rtc (napi_env env, napi_value handle, napi_value jname)
{
  DgPipe *pipe = dg_get_pipe (env, handle, FALSE);
  gchar *name;
  DgWebRtc *rtc;

  if (!pipe || !(name = dg_get_string (env, jname)))
    return NULL;
  rtc = dg_pipe_find_webrtc (pipe, name);
  if (!rtc)
    dg_throw (env, "GST_NO_ELEMENT", "%s has no configured webrtcbin \"%s\"",
        pipe->name, name);
  g_free (name);
  return rtc;
}

napi_value
dg_webrtc_configure (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3];
  DgPipe *pipe;
  gchar *name;
  GstElement *el;
  DgWebRtc *rtc;
  GMainContext *ice_ctx = NULL;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(pipe = dg_get_pipe (env, argv[0], FALSE)))
    return NULL;
  if (!(name = dg_get_string (env, argv[1])))
    return NULL;
  if ((rtc = dg_pipe_find_webrtc (pipe, name))) {
    dg_webrtc_unref (rtc);      /* already configured */
    g_free (name);
    return NULL;
  }
  el = gst_bin_get_by_name (GST_BIN (pipe->pipeline), name);
  if (!el) {
    dg_throw (env, "GST_NO_ELEMENT", "pipeline %s has no element named \"%s\"",
        pipe->name, name);
    g_free (name);
    return NULL;
  }
  if (strcmp (G_OBJECT_TYPE_NAME (el), "GstWebRTCBin") != 0) {
    dg_throw (env, "GST_WEBRTC", "%s is a %s, not a webrtcbin", name,
        G_OBJECT_TYPE_NAME (el));
    gst_object_unref (el);
    g_free (name);
    return NULL;
  }
  if (!configure_ice (env, el, argc > 2 ? argv[2] : NULL, &ice_ctx)) {
    if (ice_ctx)
      g_main_context_unref (ice_ctx);
    gst_object_unref (el);
    g_free (name);
    return NULL;
  }

  rtc = g_new0 (DgWebRtc, 1);
  rtc->ice_context = ice_ctx;
  rtc->refcount = 1;            /* pipe->webrtcs */
  rtc->pipe = dg_pipe_ref (pipe);
  rtc->webrtc = el;
  rtc->name = name;
  rtc->rtpbin = gst_bin_get_by_name (GST_BIN (el), "rtpbin");
  g_object_get (el, "connection-state", &rtc->conn_state,
      "ice-connection-state", &rtc->ice_state, "ice-gathering-state",
      &rtc->gathering_state, NULL);
  dg_watch_add (pipe->watch, el);
  drop_eos_at_sink_pads (el);

#define CONNECT(obj, sig, cb) \
  g_signal_connect_data (obj, sig, G_CALLBACK (cb), dg_webrtc_ref (rtc), \
      rtc_closure_notify, 0)
  CONNECT (el, "on-ice-candidate", on_ice_candidate);
  CONNECT (el, "notify::connection-state", on_state_notify);
  CONNECT (el, "notify::ice-connection-state", on_state_notify);
  CONNECT (el, "notify::ice-gathering-state", on_state_notify);
  if (rtc->rtpbin) {
    CONNECT (rtc->rtpbin, "on-ssrc-active", on_ssrc_active);
    CONNECT (rtc->rtpbin, "element-added", on_rtpbin_element_added);
    /* Sender reports map RTP time to the capture time (the buffers' running
     * time), as the RTP timestamps themselves are: with the default send time
     * each stream's SR also carried its own encoder and queue delay. */
    g_object_set (rtc->rtpbin, "rtcp-sync-send-time", FALSE, NULL);
  }
#undef CONNECT

  g_mutex_lock (&pipe->lock);
  pipe->webrtcs = g_list_prepend (pipe->webrtcs, rtc);
  g_mutex_unlock (&pipe->lock);
  return NULL;
}

napi_value
dg_webrtc_states (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2], out, v;
  DgWebRtc *rtc;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  napi_create_object (env, &out);
#define SET(key, type, field) \
  napi_create_string_utf8 (env, enum_nick (type, g_atomic_int_get (&rtc->field)), \
      NAPI_AUTO_LENGTH, &v); \
  napi_set_named_property (env, out, key, v)
  SET ("connection", GST_TYPE_WEBRTC_PEER_CONNECTION_STATE, conn_state);
  SET ("ice", GST_TYPE_WEBRTC_ICE_CONNECTION_STATE, ice_state);
  SET ("gathering", GST_TYPE_WEBRTC_ICE_GATHERING_STATE, gathering_state);
#undef SET
  dg_webrtc_unref (rtc);
  return out;
}

napi_value
dg_webrtc_rtcp_age (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2], out;
  DgWebRtc *rtc;
  gint64 last;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  last = DG_GET64 (&rtc->last_rtcp_us);
  if (last == 0)
    napi_get_null (env, &out);
  else
    napi_create_double (env, (g_get_monotonic_time () - last) / 1000.0, &out);
  dg_webrtc_unref (rtc);
  return out;
}

napi_value
dg_webrtc_add_candidate (napi_env env, napi_callback_info info)
{
  size_t argc = 4;
  napi_value argv[4];
  DgWebRtc *rtc;
  uint32_t mline;
  gchar *cand;
  GstElement *el;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 4 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  if (napi_get_value_uint32 (env, argv[2], &mline) != napi_ok) {
    dg_webrtc_unref (rtc);
    dg_throw (env, "GST_WEBRTC", "sdpMLineIndex must be a non-negative integer");
    return NULL;
  }
  cand = dg_get_string (env, argv[3]);
  /* mDNS candidates: see strip_mdns_candidates() */
  if (cand && !is_mdns_candidate (cand) && (el = rtc_element (rtc))) {
    /* Only queues a task on webrtcbin's thread. */
    g_signal_emit_by_name (el, "add-ice-candidate", mline, cand);
    gst_object_unref (el);
  }
  g_free (cand);
  dg_webrtc_unref (rtc);
  return NULL;
}

/* ---- mDNS candidates ----
 * Browsers hide their addresses behind mDNS names (<uuid>.local). libnice
 * 0.1.21 + webrtcbin 1.22 resolve them with a GTask whose result is delivered
 * to the ICE thread's main context; when the pipeline closes while a lookup is
 * in flight, that context is never iterated again, the task keeps the ICE
 * agent alive and its thread and sockets leak (measured: one "webrtc:ice"
 * thread and ~5 fds per pipeline closed mid-lookup). The names cannot be
 * resolved on a server anyway, and the connection does not need them: the
 * browser's checks reach our candidates and become peer-reflexive. So they
 * are dropped before webrtcbin sees them. */
static gboolean
is_mdns_candidate (const gchar * candidate)
{
  gchar **tokens = g_strsplit (candidate, " ", 6);
  gsize len = g_strv_length (tokens) >= 5 ? strlen (tokens[4]) : 0;
  gboolean mdns = len > 6 && !g_ascii_strcasecmp (tokens[4] + len - 6, ".local");

  g_strfreev (tokens);
  return mdns;
}

static guint
strip_mdns_candidates (GstSDPMessage * sdp)
{
  guint i, removed = 0;
  gint j;

  for (i = 0; i < gst_sdp_message_medias_len (sdp); i++) {
    GstSDPMedia *m = (GstSDPMedia *) gst_sdp_message_get_media (sdp, i);

    for (j = (gint) gst_sdp_media_attributes_len (m) - 1; j >= 0; j--) {
      const GstSDPAttribute *a = gst_sdp_media_get_attribute (m, j);

      if (!g_strcmp0 (a->key, "candidate") && a->value &&
          is_mdns_candidate (a->value)) {
        gst_sdp_media_remove_attribute (m, j);
        removed++;
      }
    }
  }
  return removed;
}

/* ---- promise helpers ---- */

/* TRUE when the promise was replied without an "error" field. */
static gboolean
promise_ok (GstPromise * promise, const GstStructure ** reply, gchar ** why)
{
  GstPromiseResult r = gst_promise_wait (promise);      /* already settled */
  const GstStructure *s;
  GError *err = NULL;

  if (r != GST_PROMISE_RESULT_REPLIED) {
    *why = g_strdup (r == GST_PROMISE_RESULT_INTERRUPTED ?
        "interrupted (webrtcbin is shutting down)" : "expired");
    return FALSE;
  }
  s = gst_promise_get_reply (promise);
  if (s && gst_structure_has_field (s, "error")) {
    gst_structure_get (s, "error", G_TYPE_ERROR, &err, NULL);
    *why = g_strdup (err ? err->message : "unknown webrtcbin error");
    g_clear_error (&err);
    return FALSE;
  }
  if (reply)
    *reply = s;
  return TRUE;
}

/* A step failed: because close() is tearing webrtcbin down, or for real. */
static void
chain_failed (DgOp * op, const gchar * step, const gchar * why)
{
  if (g_atomic_int_get (&op->pipe->closing))
    dg_op_reject (op, "GST_CLOSED", "pipeline %s was closed during %s",
        op->pipe->name, step);
  else
    dg_op_reject (op, "GST_WEBRTC", "%s failed: %s", step, why);
}

static void
emit_with_promise (DgOp * op, const gchar * signal, gpointer arg,
    GstPromiseChangeFunc func)
{
  GstElement *el = rtc_element (op->rtc);
  GstPromise *promise;

  if (!el) {
    dg_op_reject (op, "GST_CLOSED", "pipeline %s was closed", op->pipe->name);
    return;
  }
  promise = gst_promise_new_with_change_func (func, dg_op_ref (op),
      (GDestroyNotify) dg_op_unref);
  g_signal_emit_by_name (el, signal, arg, promise);
  gst_promise_unref (promise);
  gst_object_unref (el);
}

/* ---- answer chain ---- */

static const gchar *
offer_encoding (const GstSDPMedia * m, gint pt, gchar buf[64])
{
  guint i;

  for (i = 0; i < gst_sdp_media_attributes_len (m); i++) {
    const GstSDPAttribute *a = gst_sdp_media_get_attribute (m, i);
    gchar *end;

    if (g_strcmp0 (a->key, "rtpmap") || !a->value)
      continue;
    if (strtol (a->value, &end, 10) != pt || *end != ' ')
      continue;
    g_strlcpy (buf, end + 1, 64);
    if ((end = strchr (buf, '/')))
      *end = '\0';
    return buf;
  }
  return NULL;
}

/* webrtcbin 1.22 aborts the process (`_connect_input_stream: assertion failed:
 * (trans->stream)`) when a sink pad's payload type belongs to another codec in
 * the offer: refuse such an answer with an error instead. */
static gchar *
check_payloads (GstElement * webrtc, const GstSDPMessage * offer)
{
  GstIterator *it = gst_element_iterate_sink_pads (webrtc);
  GValue item = G_VALUE_INIT;
  gchar *problem = NULL;

  while (!problem && gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = g_value_get_object (&item);
    GstCaps *caps = gst_pad_get_current_caps (pad);
    const GstStructure *s;
    const gchar *media, *enc;
    gint pt = -1;
    gboolean kind_found = FALSE, ok = FALSE;
    const gchar *other = NULL;
    gchar buf[64];
    guint i, j;

    g_value_reset (&item);
    if (!caps)
      continue;
    s = gst_caps_get_structure (caps, 0);
    media = gst_structure_get_string (s, "media");
    enc = gst_structure_get_string (s, "encoding-name");
    if (!media || !enc || !gst_structure_get_int (s, "payload", &pt)) {
      gst_caps_unref (caps);
      continue;
    }
    for (i = 0; i < gst_sdp_message_medias_len (offer) && !ok; i++) {
      const GstSDPMedia *m = gst_sdp_message_get_media (offer, i);

      if (g_strcmp0 (gst_sdp_media_get_media (m), media))
        continue;
      kind_found = TRUE;
      for (j = 0; j < gst_sdp_media_formats_len (m); j++) {
        if (atoi (gst_sdp_media_get_format (m, j)) != pt)
          continue;
        other = offer_encoding (m, pt, buf);
        if (other && !g_ascii_strcasecmp (other, enc))
          ok = TRUE;
      }
    }
    if (!kind_found)
      problem = g_strdup_printf ("the offer has no %s m-line for %s (pt %d)",
          media, enc, pt);
    else if (!ok && other)
      problem = g_strdup_printf ("payload type %d is %s in the offer but "
          "the pipeline sends %s on it", pt, other, enc);
    else if (!ok)
      problem = g_strdup_printf ("payload type %d (%s) is not in the offer's "
          "%s m-line", pt, enc, media);
    gst_caps_unref (caps);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return problem;
}

static gboolean
sink_pads_have_caps (GstElement * webrtc)
{
  GstIterator *it = gst_element_iterate_sink_pads (webrtc);
  GValue item = G_VALUE_INIT;
  gboolean all = TRUE;

  while (all && gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    all = gst_pad_has_current_caps (g_value_get_object (&item));
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return all;
}

static void on_answer_created (GstPromise * promise, gpointer data);

/* webrtcbin refuses every description while stopped ("webrtcbin is closed"):
 * throws and returns FALSE then. */
static gboolean
rtc_running (napi_env env, DgWebRtc * rtc, const gchar * what)
{
  GstElement *el = rtc_element (rtc);
  GstState state = GST_STATE_NULL;

  if (el) {
    GST_OBJECT_LOCK (el);
    state = GST_STATE (el);
    GST_OBJECT_UNLOCK (el);
    gst_object_unref (el);
  }
  if (state == GST_STATE_NULL)
    dg_throw (env, "GST_WEBRTC", "webrtcbin is not running: await "
        "setState('playing') before %s", what);
  return state != GST_STATE_NULL;
}

static void
create_answer (DgOp * op)
{
  GstElement *el = rtc_element (op->rtc);
  gchar *problem;

  if (!el) {
    dg_op_reject (op, "GST_CLOSED", "pipeline %s was closed", op->pipe->name);
    return;
  }
  problem = check_payloads (el, op->offer_sdp);
  gst_object_unref (el);
  if (problem) {
    dg_op_reject (op, "GST_WEBRTC", "cannot answer this offer: %s", problem);
    g_free (problem);
    return;
  }
  emit_with_promise (op, "create-answer", NULL, on_answer_created);
}

static void
open_gate (DgOp * op)
{
  if (g_atomic_int_dec_and_test (&op->answer_gates))
    create_answer (op);
}

static void
on_remote_set (GstPromise * promise, gpointer data)
{
  DgOp *op = data;
  gchar *why = NULL;

  if (!promise_ok (promise, NULL, &why)) {
    chain_failed (op, "set-remote-description", why);
    g_free (why);
    return;
  }
  op->t_remote_set = g_get_monotonic_time ();
  open_gate (op);
}

static gboolean
caps_poll (gpointer data)
{
  DgOp *op = data;
  GstElement *el;
  gboolean ready, expired;
  GSource *mine;

  if (g_atomic_int_get (&op->settled))
    return G_SOURCE_REMOVE;
  if (!(el = rtc_element (op->rtc)))
    return G_SOURCE_REMOVE;     /* close() rejects the op */
  ready = sink_pads_have_caps (el);
  gst_object_unref (el);
  expired = g_get_monotonic_time () - op->t_start >=
      (gint64) op->caps_wait_ms * 1000;
  if (!ready && !expired)
    return G_SOURCE_CONTINUE;

  if (!ready)
    GST_WARNING ("%s: no caps on every webrtcbin sink pad after %u ms: the "
        "answer will lack a=ssrc/msid lines", op->pipe->name, op->caps_wait_ms);
  g_mutex_lock (&op->pipe->lock);
  mine = op->timer;
  op->timer = NULL;
  g_mutex_unlock (&op->pipe->lock);
  if (mine)
    g_source_unref (mine);
  op->t_caps = g_get_monotonic_time ();
  open_gate (op);
  return G_SOURCE_REMOVE;
}

static void on_local_set (GstPromise * promise, gpointer data);

/* create-answer / create-offer replied: set the description as local. */
static void
description_created (GstPromise * promise, DgOp * op, const gchar * kind)
{
  const GstStructure *reply = NULL;
  GstWebRTCSessionDescription *desc = NULL;
  gchar *step = g_strdup_printf ("create-%s", kind);
  gchar *why = NULL;

  if (!promise_ok (promise, &reply, &why)) {
    chain_failed (op, step, why);
    g_free (why);
  } else if (!reply || !gst_structure_get (reply, kind,
          GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL) || !desc) {
    dg_op_reject (op, "GST_WEBRTC", "%s returned no %s", step, kind);
  } else {
    op->t_created = g_get_monotonic_time ();
    emit_with_promise (op, "set-local-description", desc, on_local_set);
    gst_webrtc_session_description_free (desc);
  }
  g_free (step);
}

static void
on_answer_created (GstPromise * promise, gpointer data)
{
  description_created (promise, data, "answer");
}

static gboolean
gather_timeout (gpointer data)
{
  DgOp *op = data;
  GList *link;

  GST_WARNING ("%s: ICE gathering not complete after %u ms, going on with "
      "the candidates found so far", op->pipe->name, op->gather_timeout_ms);
  g_mutex_lock (&op->pipe->lock);
  if ((link = g_list_find (op->rtc->gather_waiters, op))) {
    op->rtc->gather_waiters = g_list_delete_link (op->rtc->gather_waiters, link);
    dg_op_unref (op);           /* the list's ref; the source still holds one */
  }
  if (op->timer) {
    g_source_unref (op->timer);
    op->timer = NULL;
  }
  g_mutex_unlock (&op->pipe->lock);
  finish_local (op);
  return G_SOURCE_REMOVE;
}

static void
on_local_set (GstPromise * promise, gpointer data)
{
  DgOp *op = data;
  gchar *why = NULL;
  gboolean complete;

  dg_op_end_negotiation (op);

  if (!promise_ok (promise, NULL, &why)) {
    chain_failed (op, "set-local-description", why);
    g_free (why);
    return;
  }
  op->t_local_set = g_get_monotonic_time ();

  g_mutex_lock (&op->pipe->lock);
  complete = g_atomic_int_get (&op->rtc->gathering_state) ==
      GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE;
  if (!complete && op->rtc->webrtc) {
    op->rtc->gather_waiters = g_list_prepend (op->rtc->gather_waiters,
        dg_op_ref (op));
    op->timer = dg_control_timeout (op->gather_timeout_ms, gather_timeout,
        dg_op_ref (op), (GDestroyNotify) dg_op_unref);
  }
  g_mutex_unlock (&op->pipe->lock);
  if (complete)
    finish_local (op);
}

/* Resolves the answer (or offer) with webrtcbin's local description,
 * candidates included (the predecessor's clients do not trickle). Runs on the
 * control thread or in on_local_set. */
static gboolean
finish_local (gpointer data)
{
  DgOp *op = data;
  GstElement *el;
  GstWebRTCSessionDescription *desc = NULL;
  gint64 now = g_get_monotonic_time ();

  if (g_atomic_int_get (&op->settled))
    return G_SOURCE_REMOVE;
  if (!(el = rtc_element (op->rtc))) {
    dg_op_reject (op, "GST_CLOSED", "pipeline %s was closed", op->pipe->name);
    return G_SOURCE_REMOVE;
  }
  g_object_get (el, "local-description", &desc, NULL);
  gst_object_unref (el);
  if (!desc) {
    dg_op_reject (op, "GST_WEBRTC", "webrtcbin has no local description");
    return G_SOURCE_REMOVE;
  }
  if (op->kind == DG_OP_OFFER)
    GST_INFO ("%s: offer in %.1f ms (created %.1f, local set %.1f, gathered "
        "%.1f)", op->pipe->name, (now - op->t_start) / 1000.0,
        (op->t_created - op->t_start) / 1000.0,
        (op->t_local_set - op->t_start) / 1000.0,
        (now - op->t_local_set) / 1000.0);
  else
    GST_INFO ("%s: answer in %.1f ms (remote set %.1f, caps %.1f, created "
        "%.1f, local set %.1f, gathered %.1f)", op->pipe->name,
        (now - op->t_start) / 1000.0, (op->t_remote_set - op->t_start) / 1000.0,
        (op->t_caps - op->t_start) / 1000.0,
        (op->t_created - op->t_start) / 1000.0,
        (op->t_local_set - op->t_start) / 1000.0,
        (now - op->t_local_set) / 1000.0);
  dg_op_resolve_string (op, gst_sdp_message_as_text (desc->sdp));
  gst_webrtc_session_description_free (desc);
  return G_SOURCE_REMOVE;
}

/* The remote description argument of answer() and acceptAnswer(): SDP text
 * with media lines, without mDNS candidates (see strip_mdns_candidates).
 * NULL with a JS exception pending otherwise. */
static GstSDPMessage *
get_remote_sdp (napi_env env, DgWebRtc * rtc, napi_value value,
    const gchar * what)
{
  gchar *text = dg_get_string (env, value);
  GstSDPMessage *sdp = NULL;

  if (!text)
    return NULL;
  gst_sdp_message_new (&sdp);
  if (gst_sdp_message_parse_buffer ((const guint8 *) text, strlen (text),
          sdp) != GST_SDP_OK || gst_sdp_message_medias_len (sdp) == 0) {
    gst_sdp_message_free (sdp);
    g_free (text);
    dg_throw (env, "GST_WEBRTC", "the %s is not an SDP with media lines", what);
    return NULL;
  }
  g_free (text);
  if (strip_mdns_candidates (sdp))
    GST_DEBUG ("%s: dropped the %s's mDNS candidates", rtc->pipe->name, what);
  return sdp;
}

napi_value
dg_webrtc_answer (napi_env env, napi_callback_info info)
{
  size_t argc = 5;
  napi_value argv[5], promise;
  DgWebRtc *rtc;
  GstSDPMessage *sdp = NULL;
  uint32_t caps_wait_ms = 0, gather_ms = 0;
  DgOp *op;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 5 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  napi_get_value_uint32 (env, argv[3], &caps_wait_ms);
  napi_get_value_uint32 (env, argv[4], &gather_ms);
  if (!rtc_running (env, rtc, "answer()")
      || !(sdp = get_remote_sdp (env, rtc, argv[2], "offer"))) {
    dg_webrtc_unref (rtc);
    return NULL;
  }

  op = dg_op_new (rtc->pipe, DG_OP_ANSWER, env, &promise);
  op->rtc = rtc;                /* takes get_rtc's ref */
  op->offer = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_OFFER,
      sdp);
  op->offer_sdp = sdp;
  op->answer_gates = 2;
  op->caps_wait_ms = caps_wait_ms;
  op->gather_timeout_ms = MAX (gather_ms, 1);
  /* close() lets the chain reach a settled webrtcbin state first (see run_close) */
  op->negotiating = 1;
  g_mutex_lock (&rtc->pipe->lock);
  rtc->pipe->negotiating++;
  g_mutex_unlock (&rtc->pipe->lock);

  /* Both run at once: webrtcbin parses the offer on its thread while the
   * media branches negotiate caps. */
  g_mutex_lock (&rtc->pipe->lock);
  op->timer = dg_control_timeout (CAPS_POLL_MS, caps_poll, dg_op_ref (op),
      (GDestroyNotify) dg_op_unref);
  g_mutex_unlock (&rtc->pipe->lock);
  emit_with_promise (op, "set-remote-description", op->offer, on_remote_set);

  dg_op_unref (op);
  return promise;
}

/* ---- offer side (a client of another server) ---- */

static void
on_offer_created (GstPromise * promise, gpointer data)
{
  description_created (promise, data, "offer");
}

napi_value
dg_webrtc_offer (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3], promise;
  DgWebRtc *rtc;
  uint32_t gather_ms = 0;
  DgOp *op;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  napi_get_value_uint32 (env, argv[2], &gather_ms);
  if (!rtc_running (env, rtc, "offer()")) {
    dg_webrtc_unref (rtc);
    return NULL;
  }
  op = dg_op_new (rtc->pipe, DG_OP_OFFER, env, &promise);
  op->rtc = rtc;                /* takes get_rtc's ref */
  op->gather_timeout_ms = MAX (gather_ms, 1);
  /* set-local-description creates the ICE transports: close() waits for it
   * as for an answer (see run_close) */
  op->negotiating = 1;
  g_mutex_lock (&rtc->pipe->lock);
  rtc->pipe->negotiating++;
  g_mutex_unlock (&rtc->pipe->lock);
  emit_with_promise (op, "create-offer", NULL, on_offer_created);
  dg_op_unref (op);
  return promise;
}

static void
on_answer_set (GstPromise * promise, gpointer data)
{
  DgOp *op = data;
  gchar *why = NULL;

  if (!promise_ok (promise, NULL, &why)) {
    chain_failed (op, "set-remote-description", why);
    g_free (why);
    return;
  }
  dg_op_resolve_void (op);
}

napi_value
dg_webrtc_accept_answer (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3], promise;
  DgWebRtc *rtc;
  GstSDPMessage *sdp = NULL;
  GstWebRTCSessionDescription *desc;
  DgOp *op;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  if (!rtc_running (env, rtc, "acceptAnswer()")
      || !(sdp = get_remote_sdp (env, rtc, argv[2], "answer"))) {
    dg_webrtc_unref (rtc);
    return NULL;
  }
  desc = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
  op = dg_op_new (rtc->pipe, DG_OP_SET_REMOTE, env, &promise);
  op->rtc = rtc;
  emit_with_promise (op, "set-remote-description", desc, on_answer_set);
  gst_webrtc_session_description_free (desc);
  dg_op_unref (op);
  return promise;
}

/* add-transceiver only takes webrtcbin's PC lock to append to a list (no
 * task, no network): called before offer(), it never waits on a state change. */
napi_value
dg_webrtc_add_transceiver (napi_env env, napi_callback_info info)
{
  size_t argc = 4;
  napi_value argv[4];
  DgWebRtc *rtc;
  gchar *dir_nick = NULL, *caps_str = NULL;
  GstCaps *caps = NULL;
  GstWebRTCRTPTransceiver *trans = NULL;
  GstElement *el = NULL;
  GEnumClass *klass;
  GEnumValue *dir;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 4 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  if (!(dir_nick = dg_get_string (env, argv[2])) ||
      !(caps_str = dg_get_string (env, argv[3])))
    goto out;
  klass = g_type_class_ref (GST_TYPE_WEBRTC_RTP_TRANSCEIVER_DIRECTION);
  dir = g_enum_get_value_by_nick (klass, dir_nick);
  g_type_class_unref (klass);
  if (!dir || dir->value == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_NONE) {
    dg_throw (env, "GST_WEBRTC", "unknown transceiver direction \"%s\"",
        dir_nick);
    goto out;
  }
  caps = gst_caps_from_string (caps_str);
  if (!caps || gst_caps_is_empty (caps) || gst_caps_is_any (caps)) {
    dg_throw (env, "GST_WEBRTC", "transceiver caps \"%s\" are not RTP caps",
        caps_str);
    goto out;
  }
  if (!(el = rtc_element (rtc))) {
    dg_throw (env, "GST_CLOSED", "pipeline %s is closed", rtc->pipe->name);
    goto out;
  }
  g_signal_emit_by_name (el, "add-transceiver", dir->value, caps, &trans);
  if (!trans)
    dg_throw (env, "GST_WEBRTC", "webrtcbin refused a %s transceiver for %s",
        dir_nick, caps_str);
  else
    gst_object_unref (trans);

out:
  if (el)
    gst_object_unref (el);
  if (caps)
    gst_caps_unref (caps);
  g_free (dir_nick);
  g_free (caps_str);
  dg_webrtc_unref (rtc);
  return NULL;
}

/* ---- stats ---- */

static void
on_stats (GstPromise * promise, gpointer data)
{
  DgOp *op = data;
  const GstStructure *reply = NULL;
  gchar *why = NULL;

  if (!promise_ok (promise, &reply, &why) || !reply) {
    chain_failed (op, "get-stats", why ? why : "no reply");
    g_free (why);
    return;
  }
  dg_op_resolve_structure (op, gst_structure_copy (reply));
}

napi_value
dg_webrtc_stats (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2], promise;
  DgWebRtc *rtc;
  DgOp *op;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(rtc = get_rtc (env, argv[0], argv[1])))
    return NULL;
  op = dg_op_new (rtc->pipe, DG_OP_STATS, env, &promise);
  op->rtc = rtc;
  emit_with_promise (op, "get-stats", NULL, on_stats);
  dg_op_unref (op);
  return promise;
}
