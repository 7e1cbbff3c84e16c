/* ditto-gst native addon: module entry, GStreamer initialisation, the control
 * thread (timers) and the worker pool (state changes, teardown), napi helpers. */
#include "dg.h"

#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

GST_DEBUG_CATEGORY (dg_debug);

static GMainContext *control_ctx;
static GThreadPool *pool;       /* starts: parses, state changes, latency, EOS */
static GThreadPool *teardown_pool;      /* closes only */
static GError *init_error;

static gpointer
control_thread_main (gpointer data)
{
  g_main_loop_run (data);       /* runs for the life of the process */
  return NULL;
}

static void
pool_func (gpointer data, gpointer user_data)
{
  dg_pipe_run_task (data);
}

static gpointer
init_once (gpointer data)
{
  if (!gst_init_check (NULL, NULL, &init_error))
    return GINT_TO_POINTER (FALSE);

  GST_DEBUG_CATEGORY_INIT (dg_debug, "dittogst", 0, "ditto-gst Node addon");

  /* The control thread iterates GLib's *default* main context. Node never
   * does, yet GIO delivers GTask results there: libnice's resolution of a
   * browser's mDNS (.local) candidates completes on it, and until it does the
   * task holds a reference on webrtcbin's ICE agent, leaking its thread and
   * sockets after every session (measured: one "webrtc:ice" thread and five
   * fds per closed pipeline). */
  control_ctx = g_main_context_default ();
  g_thread_unref (g_thread_new ("dg-control", control_thread_main,
          g_main_loop_new (control_ctx, FALSE)));

  /* Shared (non-exclusive) GLib pools: threads exist only while there is
   * work. Teardown (set_state(NULL), up to seconds each under churn, and a
   * bounded wait for finalization) has its own few threads, so a burst of
   * closes never delays a starting session, and a close that waits on a
   * latency task of its pipeline never waits behind other closes. */
  pool = g_thread_pool_new (pool_func, NULL, 8, FALSE, NULL);
  teardown_pool = g_thread_pool_new (pool_func, NULL, 4, FALSE, NULL);
  return GINT_TO_POINTER (TRUE);
}

#ifdef __GLIBC__
static gint trim_pending;

static gboolean
trim_cb (gpointer data)
{
  g_atomic_int_set (&trim_pending, 0);
  malloc_trim (0);
  return G_SOURCE_REMOVE;
}
#endif

/* After a pipeline is finalized: hand the memory it freed back to the
 * system. glibc keeps freed blocks in its per-thread arenas, and a session's
 * graph touches dozens of threads, so without this RSS grew ~0.4 MB per
 * closed session under churn (300 sessions: 381 -> 507 MB) though every
 * GstObject was destroyed; malloc_trim() then returned it all (338 MB).
 * It walks every arena under its lock, so closes within a second share one
 * trim, a second after the first of them, on the control thread. */
void
dg_release_freed_memory (void)
{
#ifdef __GLIBC__
  GSource *source;

  if (!g_atomic_int_compare_and_exchange (&trim_pending, 0, 1))
    return;
  source = g_timeout_source_new (1000);
  g_source_set_callback (source, trim_cb, NULL, NULL);
  g_source_attach (source, control_ctx);
  g_source_unref (source);
#endif
}

gboolean
dg_ensure_init (napi_env env)
{
  static GOnce once = G_ONCE_INIT;

  if (GPOINTER_TO_INT (g_once (&once, init_once, NULL)))
    return TRUE;
  if (env)
    dg_throw (env, "GST_INIT", "GStreamer initialisation failed: %s",
        init_error ? init_error->message : "unknown error");
  return FALSE;
}

GMainContext *
dg_control_context (void)
{
  return control_ctx;
}

GSource *
dg_control_timeout (guint ms, GSourceFunc func, gpointer data,
    GDestroyNotify notify)
{
  GSource *src = g_timeout_source_new (ms);

  g_source_set_callback (src, func, data, notify);
  g_source_attach (src, control_ctx);
  return src;                   /* caller owns one ref */
}

void
dg_pool_push (gpointer task)
{
  g_thread_pool_push (((DgTask *) task)->kind == DG_TASK_CLOSE ?
      teardown_pool : pool, task, NULL);
}

/* ---- finalize watch ---- */

struct _DgFinalizeWatch
{
  gint refcount;
  GMutex lock;
  GCond cond;
  guint alive;
};

DgFinalizeWatch *
dg_watch_new (void)
{
  DgFinalizeWatch *w = g_new0 (DgFinalizeWatch, 1);

  w->refcount = 1;
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  return w;
}

static void
watch_notify (gpointer data, GObject * where_the_object_was)
{
  DgFinalizeWatch *w = data;

  g_mutex_lock (&w->lock);
  w->alive--;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  dg_watch_unref (w);
}

void
dg_watch_add (DgFinalizeWatch * w, gpointer gobject)
{
  g_atomic_int_inc (&w->refcount);
  g_mutex_lock (&w->lock);
  w->alive++;
  g_mutex_unlock (&w->lock);
  g_object_weak_ref (G_OBJECT (gobject), watch_notify, w);
}

gboolean
dg_watch_wait (DgFinalizeWatch * w, gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time () + timeout_us;
  gboolean done;

  g_mutex_lock (&w->lock);
  while (w->alive > 0 && g_cond_wait_until (&w->cond, &w->lock, end));
  done = w->alive == 0;
  g_mutex_unlock (&w->lock);
  return done;
}

void
dg_watch_unref (DgFinalizeWatch * w)
{
  if (g_atomic_int_dec_and_test (&w->refcount)) {
    g_mutex_clear (&w->lock);
    g_cond_clear (&w->cond);
    g_free (w);
  }
}

/* ---- napi helpers ---- */

napi_value
dg_make_error (napi_env env, const gchar * code, const gchar * msg)
{
  napi_value jcode, jmsg, err;

  napi_create_string_utf8 (env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_string_utf8 (env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error (env, jcode, jmsg, &err);
  return err;
}

napi_value
dg_throw (napi_env env, const gchar * code, const gchar * fmt, ...)
{
  va_list args;
  gchar *msg;

  va_start (args, fmt);
  msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  napi_throw (env, dg_make_error (env, code, msg));
  g_free (msg);
  return NULL;
}

void
dg_throw_last (napi_env env)
{
  const napi_extended_error_info *info = NULL;
  bool pending = false;

  napi_is_exception_pending (env, &pending);
  if (pending)
    return;
  napi_get_last_error_info (env, &info);
  dg_throw (env, "GST_PROPERTY", "invalid argument: %s",
      info && info->error_message ? info->error_message : "N-API call failed");
}

gchar *
dg_get_string (napi_env env, napi_value v)
{
  size_t len = 0;
  gchar *buf;

  if (napi_get_value_string_utf8 (env, v, NULL, 0, &len) != napi_ok) {
    dg_throw (env, "GST_PROPERTY", "expected a string");
    return NULL;
  }
  buf = g_malloc (len + 1);
  napi_get_value_string_utf8 (env, v, buf, len + 1, &len);
  return buf;
}

DgPipe *
dg_get_pipe (napi_env env, napi_value v, gboolean allow_closed)
{
  DgPipe *pipe = NULL;

  if (napi_get_value_external (env, v, (void **) &pipe) != napi_ok || !pipe) {
    dg_throw (env, "GST_CLOSED", "not a pipeline handle");
    return NULL;
  }
  if (!allow_closed && g_atomic_int_get (&pipe->closing)) {
    dg_throw (env, "GST_CLOSED", "pipeline %s is closed", pipe->name);
    return NULL;
  }
  return pipe;
}

/* ---- simple exports ---- */

napi_value
dg_version (napi_env env, napi_callback_info info)
{
  napi_value out;
  gchar *v;

  if (!dg_ensure_init (env))
    return NULL;
  v = gst_version_string ();
  napi_create_string_utf8 (env, v, NAPI_AUTO_LENGTH, &out);
  g_free (v);
  return out;
}

napi_value
dg_has_factory (napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1], out;
  GstElementFactory *f;
  gchar *name;

  if (!dg_ensure_init (env))
    return NULL;
  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 1 || !(name = dg_get_string (env, argv[0])))
    return NULL;
  f = gst_element_factory_find (name);
  g_free (name);
  napi_get_boolean (env, f != NULL, &out);
  if (f)
    gst_object_unref (f);
  return out;
}

/* eventsDropped(): droppable events (element messages) dropped because the
 * JS thread was behind, all pipelines, since the process started. */
static napi_value
dg_events_dropped_js (napi_env env, napi_callback_info info)
{
  napi_value out;

  napi_create_double (env, (double) dg_events_dropped (), &out);
  return out;
}

#define EXPORT(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

NAPI_MODULE_INIT ()
{
  napi_property_descriptor props[] = {
    EXPORT ("version", dg_version),
    EXPORT ("hasElementFactory", dg_has_factory),
    EXPORT ("pipelineLaunch", dg_pipeline_launch),
    EXPORT ("pipelineSetState", dg_pipeline_set_state),
    EXPORT ("pipelineClose", dg_pipeline_close),
    EXPORT ("pipelineLatency", dg_pipeline_latency),
    EXPORT ("pipelineName", dg_pipeline_name),
    EXPORT ("elementCheck", dg_element_check),
    EXPORT ("elementSet", dg_element_set),
    EXPORT ("elementGet", dg_element_get),
    EXPORT ("appsrcCheck", dg_appsrc_check),
    EXPORT ("appsrcPush", dg_appsrc_push),
    EXPORT ("appsrcEos", dg_appsrc_eos),
    EXPORT ("elementSendEos", dg_element_send_eos),
    EXPORT ("elementEmit", dg_element_emit),
    EXPORT ("appsrcFlush", dg_appsrc_flush),
    EXPORT ("webrtcConfigure", dg_webrtc_configure),
    EXPORT ("webrtcAnswer", dg_webrtc_answer),
    EXPORT ("webrtcAddIceCandidate", dg_webrtc_add_candidate),
    EXPORT ("webrtcIceRestart", dg_webrtc_ice_restart),
    EXPORT ("webrtcStats", dg_webrtc_stats),
    EXPORT ("webrtcStates", dg_webrtc_states),
    EXPORT ("webrtcRtcpAge", dg_webrtc_rtcp_age),
    EXPORT ("webrtcAddTransceiver", dg_webrtc_add_transceiver),
    EXPORT ("webrtcOffer", dg_webrtc_offer),
    EXPORT ("webrtcAcceptAnswer", dg_webrtc_accept_answer),
    EXPORT ("webrtcLinkIncoming", dg_webrtc_link_incoming),
    EXPORT ("padWatch", dg_pad_watch),
    EXPORT ("padCounters", dg_pad_counters),
    EXPORT ("eventsDropped", dg_events_dropped_js),
  };

  napi_define_properties (env, exports, G_N_ELEMENTS (props), props);
  return exports;
}
