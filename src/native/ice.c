/* ICE beyond what webrtcbin 1.22 does on its own.
 *
 *  - Agent options (dg_ice_configure_agent, called while configuring a
 *    webrtcbin): the local port range and ICE-TCP, both properties of
 *    webrtcbin's GstWebRTCNice.
 *  - ICE restart on the answering side (iceRestart): webrtcbin 1.22 reuses
 *    its ufrag/pwd in every answer ("FIXME: deal with ICE restarts") and never
 *    restarts its libnice streams, so a viewer's restart could never connect.
 *    WHEP renegotiates nothing but ICE (RFC 9725 §4.3.2), so the restart is
 *    done on libnice directly: new local credentials, the viewer's new remote
 *    ones, remote candidates cleared, local candidates kept. DTLS, SRTP and
 *    every element above the transport stay as they are, so the session (its
 *    graph, its timeline) carries on.
 *
 * libnice's headers are not packaged with GStreamer's: its functions are
 * resolved from the libnice webrtcbin itself loaded (as in webrtc.c). */
#include "dg.h"

#include <dlfcn.h>
#include <string.h>

typedef struct
{
  gboolean (*restart_stream) (gpointer agent, guint stream_id);
  gboolean (*set_remote_credentials) (gpointer agent, guint stream_id,
      const gchar * ufrag, const gchar * pwd);
  gboolean (*get_local_credentials) (gpointer agent, guint stream_id,
      gchar ** ufrag, gchar ** pwd);
  GSList *(*get_local_candidates) (gpointer agent, guint stream_id,
      guint component_id);
  gchar *(*generate_local_candidate_sdp) (gpointer agent, gpointer candidate);
  void (*candidate_free) (gpointer candidate);
} NiceFns;

static const NiceFns *
nice_fns (void)
{
  static gsize init;
  static NiceFns fns;
  static gboolean ok;

  if (g_once_init_enter (&init)) {
    void *h = dlopen ("libnice.so.10", RTLD_NOW | RTLD_NOLOAD);

    if (!h)
      h = dlopen ("libnice.so.10", RTLD_NOW);
    if (h) {
      fns.restart_stream = dlsym (h, "nice_agent_restart_stream");
      fns.set_remote_credentials = dlsym (h, "nice_agent_set_remote_credentials");
      fns.get_local_credentials = dlsym (h, "nice_agent_get_local_credentials");
      fns.get_local_candidates = dlsym (h, "nice_agent_get_local_candidates");
      fns.generate_local_candidate_sdp =
          dlsym (h, "nice_agent_generate_local_candidate_sdp");
      fns.candidate_free = dlsym (h, "nice_candidate_free");
      ok = fns.restart_stream && fns.set_remote_credentials
          && fns.get_local_credentials && fns.get_local_candidates
          && fns.generate_local_candidate_sdp && fns.candidate_free;
    }
    g_once_init_leave (&init, 1);
  }
  return ok ? &fns : NULL;
}

static gboolean
js_number_prop (napi_env env, napi_value obj, const gchar * key, double *out)
{
  napi_value v;
  napi_valuetype t;

  if (napi_get_named_property (env, obj, key, &v) != napi_ok)
    return FALSE;
  napi_typeof (env, v, &t);
  return t == napi_number && napi_get_value_double (env, v, out) == napi_ok;
}

static gboolean
js_bool_prop (napi_env env, napi_value obj, const gchar * key, bool *out)
{
  napi_value v;
  napi_valuetype t;

  if (napi_get_named_property (env, obj, key, &v) != napi_ok)
    return FALSE;
  napi_typeof (env, v, &t);
  return t == napi_boolean && napi_get_value_bool (env, v, out) == napi_ok;
}

gboolean
dg_ice_configure_agent (napi_env env, GObject * ice_agent, napi_value ice)
{
  GObjectClass *klass = G_OBJECT_GET_CLASS (ice_agent);
  double min = 0, max = 0;
  bool tcp = true;

  if (js_number_prop (env, ice, "minPort", &min)
      && js_number_prop (env, ice, "maxPort", &max) && (min > 0 || max > 0)) {
    if (min < 1 || max > 65535 || min > max) {
      dg_throw (env, "GST_WEBRTC", "ICE port range %.0f-%.0f is not valid",
          min, max);
      return FALSE;
    }
    if (!g_object_class_find_property (klass, "min-rtp-port")) {
      dg_throw (env, "GST_WEBRTC", "this webrtcbin's ICE agent has no port "
          "range (GStreamer 1.20 or later needed)");
      return FALSE;
    }
    /* max first: min may not exceed the current max */
    g_object_set (ice_agent, "max-rtp-port", (guint) max, "min-rtp-port",
        (guint) min, NULL);
  }
  if (js_bool_prop (env, ice, "tcp", &tcp)
      && g_object_class_find_property (klass, "ice-tcp"))
    g_object_set (ice_agent, "ice-tcp", (gboolean) tcp, NULL);
  return TRUE;
}

static GObject *
nice_agent_of (GstElement * webrtc)
{
  GObject *ice_agent = NULL, *agent = NULL;

  g_object_get (webrtc, "ice-agent", &ice_agent, NULL);
  if (ice_agent && g_object_class_find_property (G_OBJECT_GET_CLASS
          (ice_agent), "agent"))
    g_object_get (ice_agent, "agent", &agent, NULL);
  if (ice_agent)
    g_object_unref (ice_agent);
  return agent;
}

/* The libnice streams of an agent: ids from 1 on, one per ICE transport
 * (a single one with BUNDLE). */
#define MAX_STREAMS 16

/* iceRestart(handle, name, remoteUfrag, remotePwd)
 *   -> { ufrag, pwd, candidates: ["candidate:…", …] } */
napi_value
dg_webrtc_ice_restart (napi_env env, napi_callback_info info)
{
  size_t argc = 4;
  napi_value argv[4], out = NULL, arr, v;
  DgPipe *pipe;
  DgWebRtc *rtc = NULL;
  GstElement *el = NULL;
  GObject *agent = NULL;
  gchar *name = NULL, *ufrag = NULL, *pwd = NULL;
  gchar *local_ufrag = NULL, *local_pwd = NULL;
  const NiceFns *fns = nice_fns ();
  guint ids[MAX_STREAMS], n = 0, i, id;
  GSList *cands = NULL, *l;
  uint32_t k = 0;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 4 || !(pipe = dg_get_pipe (env, argv[0], FALSE)))
    return NULL;
  if (!(name = dg_get_string (env, argv[1])) ||
      !(ufrag = dg_get_string (env, argv[2])) ||
      !(pwd = dg_get_string (env, argv[3])))
    goto done;
  if (!fns) {
    dg_throw (env, "GST_WEBRTC", "libnice's restart functions are unavailable");
    goto done;
  }
  if (!(rtc = dg_pipe_find_webrtc (pipe, name))) {
    dg_throw (env, "GST_NO_ELEMENT", "%s has no configured webrtcbin \"%s\"",
        pipe->name, name);
    goto done;
  }
  g_mutex_lock (&pipe->lock);
  el = rtc->webrtc ? gst_object_ref (rtc->webrtc) : NULL;
  g_mutex_unlock (&pipe->lock);
  if (!el) {
    dg_throw (env, "GST_CLOSED", "pipeline %s is closed", pipe->name);
    goto done;
  }
  if (!(agent = nice_agent_of (el))) {
    dg_throw (env, "GST_WEBRTC", "%s has no libnice agent", name);
    goto done;
  }
  for (id = 1; id <= MAX_STREAMS; id++) {
    gchar *u = NULL, *p = NULL;

    /* libnice 0.1.21 returns TRUE for an unknown stream, with no credentials */
    if (fns->get_local_credentials (agent, id, &u, &p) && u && p)
      ids[n++] = id;
    g_free (u);
    g_free (p);
  }
  if (n == 0) {
    dg_throw (env, "GST_WEBRTC", "ICE has not started yet: nothing to restart");
    goto done;
  }
  if (n > 1) {
    /* one set of credentials in the fragment cannot serve several transports */
    dg_throw (env, "GST_WEBRTC", "ICE restart needs a BUNDLE session (%u ICE "
        "transports here)", n);
    goto done;
  }
  for (i = 0; i < n; i++) {
    if (!fns->restart_stream (agent, ids[i]) ||
        !fns->set_remote_credentials (agent, ids[i], ufrag, pwd)) {
      dg_throw (env, "GST_WEBRTC", "libnice refused to restart ICE stream %u",
          ids[i]);
      goto done;
    }
  }
  if (!fns->get_local_credentials (agent, ids[0], &local_ufrag, &local_pwd)
      || !local_ufrag || !local_pwd) {
    dg_throw (env, "GST_WEBRTC", "no local ICE credentials after the restart");
    goto done;
  }
  GST_INFO ("%s/%s: ICE restarted (local ufrag %s)", pipe->name, name,
      local_ufrag);

  napi_create_object (env, &out);
  napi_create_string_utf8 (env, local_ufrag, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property (env, out, "ufrag", v);
  napi_create_string_utf8 (env, local_pwd, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property (env, out, "pwd", v);
  napi_create_array (env, &arr);
  cands = fns->get_local_candidates (agent, ids[0], 1 /* RTP */ );
  for (l = cands; l; l = l->next) {
    gchar *sdp = fns->generate_local_candidate_sdp (agent, l->data);

    if (sdp) {
      const gchar *c = g_str_has_prefix (sdp, "a=") ? sdp + 2 : sdp;

      napi_create_string_utf8 (env, c, NAPI_AUTO_LENGTH, &v);
      napi_set_element (env, arr, k++, v);
      g_free (sdp);
    }
  }
  napi_set_named_property (env, out, "candidates", arr);

done:
  for (l = cands; l; l = l->next)
    fns->candidate_free (l->data);
  g_slist_free (cands);
  g_free (local_ufrag);
  g_free (local_pwd);
  if (agent)
    g_object_unref (agent);
  if (el)
    gst_object_unref (el);
  if (rtc)
    dg_webrtc_unref (rtc);
  g_free (name);
  g_free (ufrag);
  g_free (pwd);
  return out;
}
