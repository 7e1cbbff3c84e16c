/* Pipelines: launch, bus events, state changes and teardown off the JS thread,
 * element properties, appsrc push. */
#include "dg.h"

#include <gst/app/gstappsrc.h>
#include <string.h>

/* Pipelines not yet closed, for the environment cleanup hook (JS thread only). */
static GList *live_pipes;

DgPipe *
dg_pipe_ref (DgPipe * pipe)
{
  g_atomic_int_inc (&pipe->refcount);
  return pipe;
}

void
dg_pipe_unref (DgPipe * pipe)
{
  if (!g_atomic_int_dec_and_test (&pipe->refcount))
    return;
  g_assert (pipe->ops == NULL && pipe->webrtcs == NULL);
  if (pipe->pipeline)           /* the environment went away unclosed, or mid-launch */
    gst_object_unref (pipe->pipeline);
  if (pipe->watch)
    dg_watch_unref (pipe->watch);
  g_mutex_clear (&pipe->lock);
  g_mutex_clear (&pipe->state_lock);
  g_cond_clear (&pipe->pool_cond);
  g_free (pipe->last_error);
  g_free (pipe->name);
  g_free (pipe);
}

/* A new ref to the pipeline, or NULL once close() has released it. */
static GstElement *
pipe_element_ref (DgPipe * pipe)
{
  GstElement *p;

  g_mutex_lock (&pipe->lock);
  p = pipe->pipeline ? gst_object_ref (pipe->pipeline) : NULL;
  g_mutex_unlock (&pipe->lock);
  return p;
}

static const gchar *
state_nick (GstState s)
{
  switch (s) {
    case GST_STATE_NULL:
      return "null";
    case GST_STATE_READY:
      return "ready";
    case GST_STATE_PAUSED:
      return "paused";
    case GST_STATE_PLAYING:
      return "playing";
    default:
      return "void-pending";
  }
}

static void
queue_latency_task (DgPipe * pipe)
{
  DgTask *task;

  g_mutex_lock (&pipe->lock);
  if (!pipe->pipeline) {
    g_mutex_unlock (&pipe->lock);
    return;
  }
  pipe->pool_tasks++;
  g_mutex_unlock (&pipe->lock);

  task = g_new0 (DgTask, 1);
  task->kind = DG_TASK_LATENCY;
  task->pipe = dg_pipe_ref (pipe);
  dg_pool_push (task);
}

static GstStructure *
message_base (GstMessage * msg, const gchar * kind)
{
  return gst_structure_new (kind, "source", G_TYPE_STRING,
      GST_MESSAGE_SRC (msg) ? GST_MESSAGE_SRC_NAME (msg) : "", NULL);
}

/* Runs on whichever thread posts: convert, queue, drop. Never waits on JS. */
static GstBusSyncReply
bus_sync (GstBus * bus, GstMessage * msg, gpointer data)
{
  DgPipe *pipe = data;
  GstStructure *s;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_WARNING:{
      GError *err = NULL;
      gchar *debug = NULL;
      gboolean is_error = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR;

      if (is_error)
        gst_message_parse_error (msg, &err, &debug);
      else
        gst_message_parse_warning (msg, &err, &debug);
      s = message_base (msg, is_error ? "error" : "warning");
      gst_structure_set (s, "message", G_TYPE_STRING, err->message,
          "debug", G_TYPE_STRING, debug, NULL);
      if (is_error) {
        gst_structure_set (s, "domain", G_TYPE_STRING,
            g_quark_to_string (err->domain), "code", G_TYPE_INT, err->code,
            NULL);
        /* The first error explains a failure best; later ones are echoes
         * ("state change failed and some element failed to post..."). */
        g_mutex_lock (&pipe->lock);
        if (!pipe->last_error)
          pipe->last_error = g_strdup_printf ("%s: %s",
              GST_MESSAGE_SRC_NAME (msg), err->message);
        g_mutex_unlock (&pipe->lock);
      }
      dg_post_emit (pipe, NULL, is_error ? "error" : "warning", s, NULL);
      g_error_free (err);
      g_free (debug);
      break;
    }
    case GST_MESSAGE_EOS:
      dg_post_emit (pipe, NULL, "eos", NULL, NULL);
      break;
    case GST_MESSAGE_STATE_CHANGED:{
      GstState old, cur, pending;

      /* Only the pipeline's own transitions (pointer comparison, no deref). */
      if ((gpointer) GST_MESSAGE_SRC (msg) != (gpointer) pipe->pipeline)
        break;
      gst_message_parse_state_changed (msg, &old, &cur, &pending);
      s = gst_structure_new ("state-changed", "old", G_TYPE_STRING,
          state_nick (old), "current", G_TYPE_STRING, state_nick (cur),
          "pending", G_TYPE_STRING, state_nick (pending), NULL);
      dg_post_emit (pipe, NULL, "state-changed", s, NULL);
      if (cur == GST_STATE_PLAYING)
        queue_latency_task (pipe);
      break;
    }
    case GST_MESSAGE_ELEMENT:{
      const GstStructure *ms = gst_message_get_structure (msg);

      if (!ms)
        break;
      s = message_base (msg, "element");
      gst_structure_set (s, "name", G_TYPE_STRING, gst_structure_get_name (ms),
          "fields", GST_TYPE_STRUCTURE, ms, NULL);
      /* Element messages are telemetry (stats, faces): a flood of them is
       * dropped rather than queued without bound. An element's end-of-stream
       * report ("…-eos") says something once, so it always arrives. */
      if (g_str_has_suffix (gst_structure_get_name (ms), "-eos"))
        dg_post_emit (pipe, NULL, "element", s, NULL);
      else
        dg_post_emit_droppable (pipe, NULL, "element", s);
      break;
    }
    case GST_MESSAGE_LATENCY:
      /* Like gst-launch: a pipeline only redistributes latency when told to. */
      dg_post_emit (pipe, NULL, "latency", message_base (msg, "latency"), NULL);
      queue_latency_task (pipe);
      break;
    default:
      break;
  }

  /* Nobody pops this bus: dropping is what keeps it from growing, and a sync
   * handler that drops must unref. */
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

static void
pipe_external_finalize (napi_env env, void *data, void *hint)
{
  dg_pipe_unref (data);
}

static void
env_cleanup (void *arg)
{
  GList *l;

  /* The process is exiting with pipelines still open: stop their threads
   * before the runtime goes away (blocking is acceptable at exit). */
  for (l = live_pipes; l; l = l->next) {
    DgPipe *pipe = l->data;
    GstElement *p;

    if (!g_atomic_int_compare_and_exchange (&pipe->closing, 0, 1))
      continue;
    if ((p = pipe_element_ref (pipe))) {
      gst_element_set_state (p, GST_STATE_NULL);
      gst_object_unref (p);
    }
  }
  g_list_free (live_pipes);
  live_pipes = NULL;
}

/* The JS-thread half of a launch. The bus handler holds a ref on the pipe,
 * which owns the pipeline, which owns the bus: a cycle only close() breaks.
 * It is installed here, where JS gets the handle to close() with, so a parse
 * that finishes after its environment went away leaves nothing behind. */
napi_value
dg_pipe_launched (napi_env env, DgPipe * pipe)
{
  static gboolean cleanup_hooked;
  napi_value out;
  GstBus *bus;

  if (napi_create_external (env, dg_pipe_ref (pipe), pipe_external_finalize,
          NULL, &out) != napi_ok) {
    dg_pipe_unref (pipe);
    return NULL;
  }
  bus = gst_element_get_bus (pipe->pipeline);
  gst_bus_set_sync_handler (bus, bus_sync, dg_pipe_ref (pipe),
      (GDestroyNotify) dg_pipe_unref);
  gst_object_unref (bus);

  if (!cleanup_hooked) {
    napi_add_env_cleanup_hook (env, env_cleanup, NULL);
    cleanup_hooked = TRUE;
  }
  live_pipes = g_list_prepend (live_pipes, pipe);
  return out;
}

/* Pool thread: gst_parse_launch loads plugins and constructs every element
 * (tens of ms for a session graph), time the JS thread must not wait. */
static void
run_launch (DgPipe * pipe, DgOp * op, const gchar * desc)
{
  GError *err = NULL;
  GstElement *el;
  gint64 t0 = g_get_monotonic_time ();

  el = gst_parse_launch_full (desc, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!el || err) {
    if (el)
      gst_object_unref (gst_object_ref_sink (el));
    /* No pipeline: the rejection is the pipe's last event. */
    dg_post_last (pipe, op, "GST_PARSE",
        g_strdup (err ? err->message : "could not build the pipeline"));
    g_clear_error (&err);
    return;
  }
  el = gst_object_ref_sink (el);
  if (!GST_IS_PIPELINE (el)) {
    /* A description of a single element: give it a pipeline (and a bus). */
    GstElement *p = gst_pipeline_new (NULL);

    gst_bin_add (GST_BIN (p), el);
    gst_object_unref (el);
    el = gst_object_ref_sink (p);
  }
  /* Nothing reads the name before the launch resolves. */
  if (pipe->name)
    gst_object_set_name (GST_OBJECT (el), pipe->name);
  g_free (pipe->name);
  pipe->name = gst_object_get_name (GST_OBJECT (el));
  dg_watch_add (pipe->watch, el);

  g_mutex_lock (&pipe->lock);
  pipe->pipeline = el;
  g_mutex_unlock (&pipe->lock);
  GST_INFO ("%s: parsed in %" G_GINT64_FORMAT " us", pipe->name,
      g_get_monotonic_time () - t0);
  dg_op_resolve_pipeline (op);
}

/* pipelineLaunch(description, name, dispatch) -> Promise<handle>: parsed on a
 * pool thread; the handle is made on the JS thread once it is done. The
 * event queue exists from the start: it settles the launch. */
napi_value
dg_pipeline_launch (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3], promise;
  napi_valuetype t;
  gchar *desc = NULL, *name = NULL;
  DgPipe *pipe;
  DgOp *op;
  DgTask *task;

  if (!dg_ensure_init (env))
    return NULL;
  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(desc = dg_get_string (env, argv[0])))
    return NULL;
  napi_typeof (env, argv[1], &t);
  if (t == napi_string && !(name = dg_get_string (env, argv[1]))) {
    g_free (desc);
    return NULL;
  }

  pipe = g_new0 (DgPipe, 1);
  pipe->refcount = 1;           /* the launch task's */
  pipe->name = name;            /* the requested one until parsed */
  pipe->latency_ns = -1;
  g_mutex_init (&pipe->lock);
  g_mutex_init (&pipe->state_lock);
  g_cond_init (&pipe->pool_cond);
  pipe->watch = dg_watch_new ();

  if (dg_tsfn_create (env, pipe, argv[2]) != napi_ok) {
    dg_pipe_unref (pipe);
    g_free (desc);
    dg_throw (env, "GST_INIT", "could not create the event queue");
    return NULL;
  }
  if (!(op = dg_op_new (pipe, DG_OP_LAUNCH, env, &promise))) {
    napi_release_threadsafe_function (pipe->tsfn, napi_tsfn_release);
    dg_pipe_unref (pipe);
    g_free (desc);
    dg_throw_last (env);
    return NULL;
  }

  task = g_new0 (DgTask, 1);
  task->kind = DG_TASK_LAUNCH;
  task->pipe = pipe;            /* takes the first ref */
  task->op = op;                /* takes dg_op_new's ref */
  task->description = desc;
  dg_pool_push (task);
  return promise;
}

napi_value
dg_pipeline_name (napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1], out;
  DgPipe *pipe;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (!(pipe = dg_get_pipe (env, argv[0], TRUE)))
    return NULL;
  napi_create_string_utf8 (env, pipe->name, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* ---- state changes and teardown (pool threads) ---- */

static void
run_set_state (DgPipe * pipe, DgOp * op)
{
  GstStateChangeReturn ret;
  GstElement *p;
  gchar *why;

  g_mutex_lock (&pipe->lock);
  g_clear_pointer (&pipe->last_error, g_free);
  g_mutex_unlock (&pipe->lock);

  g_mutex_lock (&pipe->state_lock);
  if (g_atomic_int_get (&pipe->closing) || !(p = pipe_element_ref (pipe))) {
    g_mutex_unlock (&pipe->state_lock);
    dg_op_reject (op, "GST_CLOSED", "pipeline %s is closing", pipe->name);
    return;
  }
  ret = gst_element_set_state (p, op->target_state);
  g_mutex_unlock (&pipe->state_lock);
  gst_object_unref (p);

  switch (ret) {
    case GST_STATE_CHANGE_SUCCESS:
      dg_op_resolve_nick (op, "success");
      break;
    case GST_STATE_CHANGE_ASYNC:
      dg_op_resolve_nick (op, "async");
      break;
    case GST_STATE_CHANGE_NO_PREROLL:
      dg_op_resolve_nick (op, "no-preroll");
      break;
    default:
      g_mutex_lock (&pipe->lock);
      why = g_strdup (pipe->last_error);
      g_mutex_unlock (&pipe->lock);
      dg_op_reject (op, "GST_STATE", "pipeline %s could not go to %s%s%s",
          pipe->name, state_nick (op->target_state), why ? ": " : "",
          why ? why : "");
      g_free (why);
      break;
  }
}

static void
run_close (DgPipe * pipe, DgOp * close_op)
{
  GstElement *p = pipe_element_ref (pipe);
  GList *rtcs, *ops, *l;
  GstBus *bus;
  gint64 t0 = g_get_monotonic_time (), until = t0 + G_USEC_PER_SEC;

  /* webrtcbin 1.22 leaks a transport bin (its nicesrc keeps the ICE sockets
   * open: 2 sockets + 2 eventfds) when it stops between set-remote- and the
   * end of set-local-description: let an answer chain in flight get there
   * first (milliseconds; bounded). */
  g_mutex_lock (&pipe->lock);
  while (pipe->negotiating > 0 &&
      g_cond_wait_until (&pipe->pool_cond, &pipe->lock, until));
  g_mutex_unlock (&pipe->lock);

  g_mutex_lock (&pipe->state_lock);
  gst_element_set_state (p, GST_STATE_NULL);
  /* Once more: webrtcbin joins its thread while going to NULL, and a task
   * that was running then (set-local-description) may have added transport
   * bins (nicesrc/nicesink) after the bin had walked its children. A NULL ->
   * NULL change reaches them; left playing they are never finalized and keep
   * the ICE sockets open (measured: 2 sockets + 2 eventfds per pipeline
   * closed during set-local-description). */
  gst_element_set_state (p, GST_STATE_NULL);
  g_mutex_unlock (&pipe->state_lock);

  /* Streaming and webrtcbin threads are stopped: cut every signal. */
  g_mutex_lock (&pipe->lock);
  rtcs = pipe->webrtcs;
  pipe->webrtcs = NULL;
  g_mutex_unlock (&pipe->lock);
  for (l = rtcs; l; l = l->next)
    dg_webrtc_disconnect (l->data);

  bus = gst_element_get_bus (p);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);

  g_mutex_lock (&pipe->lock);
  while (pipe->pool_tasks > 0)
    g_cond_wait (&pipe->pool_cond, &pipe->lock);
  pipe->pipeline = NULL;
  ops = pipe->ops;
  pipe->ops = NULL;
  g_mutex_unlock (&pipe->lock);

  gst_object_unref (p);         /* our task ref */
  gst_object_unref (p);         /* the pipeline's own */

  for (l = ops; l; l = l->next) {
    dg_op_reject (l->data, "GST_CLOSED", "pipeline %s was closed", pipe->name);
    dg_op_unref (l->data);
  }
  g_list_free (ops);

  /* Resolve only when the pipeline and its webrtcbins are really finalized:
   * their threads are joined and their sockets closed. */
  if (!dg_watch_wait (pipe->watch, 5 * G_USEC_PER_SEC))
    GST_WARNING ("%s: still referenced 5 s after close", pipe->name);
  for (l = rtcs; l; l = l->next) {
    dg_webrtc_drain_ice (l->data);
    dg_webrtc_unref (l->data);
  }
  g_list_free (rtcs);
  dg_release_freed_memory ();
  GST_INFO ("%s: closed in %" G_GINT64_FORMAT " us", pipe->name,
      g_get_monotonic_time () - t0);

  dg_post_last (pipe, close_op, NULL, NULL);
}

static void
run_latency (DgPipe * pipe)
{
  GstElement *p = pipe_element_ref (pipe);

  if (p) {
    GstQuery *q = gst_query_new_latency ();
    gboolean live = FALSE;
    GstClockTime min = 0;

    gst_bin_recalculate_latency (GST_BIN (p));
    if (gst_element_query (p, q)) {
      gst_query_parse_latency (q, &live, &min, NULL);
      DG_SET64 (&pipe->latency_ns, live ? (gint64) min : 0);
    }
    gst_query_unref (q);
    gst_object_unref (p);
  }

  g_mutex_lock (&pipe->lock);
  pipe->pool_tasks--;
  g_cond_broadcast (&pipe->pool_cond);
  g_mutex_unlock (&pipe->lock);
}

/* A serialized event waits for the pad's stream lock, which a streaming
 * thread holds while it pushes: never on the JS thread. */
static void
run_eos (DgPipe * pipe, DgOp * op, GstElement * el)
{
  if (g_atomic_int_get (&pipe->closing)) {
    dg_op_reject (op, "GST_CLOSED", "pipeline %s is closing", pipe->name);
    return;
  }
  if (gst_element_send_event (el, gst_event_new_eos ()))
    dg_op_resolve_void (op);
  else
    dg_op_reject (op, "GST_STATE", "%s did not take the EOS event",
        GST_ELEMENT_NAME (el));
}

void
dg_pipe_run_task (DgTask * task)
{
  switch (task->kind) {
    case DG_TASK_SET_STATE:
      run_set_state (task->pipe, task->op);
      break;
    case DG_TASK_CLOSE:
      run_close (task->pipe, task->op);
      break;
    case DG_TASK_LATENCY:
      run_latency (task->pipe);
      break;
    case DG_TASK_EOS:
      run_eos (task->pipe, task->op, task->element);
      break;
    case DG_TASK_LAUNCH:
      run_launch (task->pipe, task->op, task->description);
      break;
  }
  g_free (task->description);
  if (task->element)
    gst_object_unref (task->element);
  if (task->op)
    dg_op_unref (task->op);
  dg_pipe_unref (task->pipe);
  g_free (task);
}

static void
push_task (DgTaskKind kind, DgPipe * pipe, DgOp * op)
{
  DgTask *task = g_new0 (DgTask, 1);

  task->kind = kind;
  task->pipe = dg_pipe_ref (pipe);
  task->op = dg_op_ref (op);
  dg_pool_push (task);
}

napi_value
dg_pipeline_set_state (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2], promise;
  DgPipe *pipe;
  gchar *state;
  GstState target;
  DgOp *op;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(pipe = dg_get_pipe (env, argv[0], FALSE)))
    return NULL;
  if (!(state = dg_get_string (env, argv[1])))
    return NULL;
  if (!strcmp (state, "ready"))
    target = GST_STATE_READY;
  else if (!strcmp (state, "paused"))
    target = GST_STATE_PAUSED;
  else if (!strcmp (state, "playing"))
    target = GST_STATE_PLAYING;
  else {
    dg_throw (env, "GST_STATE", "unknown target state \"%s\"", state);
    g_free (state);
    return NULL;
  }
  g_free (state);

  op = dg_op_new (pipe, DG_OP_SET_STATE, env, &promise);
  op->target_state = target;
  push_task (DG_TASK_SET_STATE, pipe, op);
  dg_op_unref (op);
  return promise;
}

napi_value
dg_pipeline_close (napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1], promise;
  DgPipe *pipe;
  DgOp *op;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 1 || !(pipe = dg_get_pipe (env, argv[0], TRUE)))
    return NULL;
  if (!g_atomic_int_compare_and_exchange (&pipe->closing, 0, 1)) {
    dg_throw (env, "GST_CLOSED", "pipeline %s is already closing", pipe->name);
    return NULL;
  }
  live_pipes = g_list_remove (live_pipes, pipe);
  op = dg_op_new (pipe, DG_OP_CLOSE, env, &promise);
  push_task (DG_TASK_CLOSE, pipe, op);
  dg_op_unref (op);
  return promise;
}

napi_value
dg_pipeline_latency (napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1], out;
  DgPipe *pipe;
  gint64 ns;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 1 || !(pipe = dg_get_pipe (env, argv[0], FALSE)))
    return NULL;
  ns = DG_GET64 (&pipe->latency_ns);
  if (ns < 0)
    napi_get_null (env, &out);
  else
    napi_create_double (env, ns / 1e6, &out);
  return out;
}

/* ---- elements (JS thread) ---- */

/* A new ref to a named element (the pipeline itself by its own name);
 * throws GST_NO_ELEMENT and returns NULL when absent. */
static GstElement *
find_element (napi_env env, napi_value handle, napi_value jname,
    DgPipe ** pipe_out)
{
  DgPipe *pipe;
  gchar *name;
  GstElement *el;

  if (!(pipe = dg_get_pipe (env, handle, FALSE)))
    return NULL;
  if (!(name = dg_get_string (env, jname)))
    return NULL;
  if (!strcmp (name, pipe->name))
    el = gst_object_ref (pipe->pipeline);
  else
    el = gst_bin_get_by_name (GST_BIN (pipe->pipeline), name);
  if (!el)
    dg_throw (env, "GST_NO_ELEMENT", "pipeline %s has no element named \"%s\"",
        pipe->name, name);
  g_free (name);
  if (pipe_out)
    *pipe_out = pipe;
  return el;
}

napi_value
dg_element_check (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2], out;
  GstElement *el;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(el = find_element (env, argv[0], argv[1], NULL)))
    return NULL;
  napi_create_string_utf8 (env, G_OBJECT_TYPE_NAME (el), NAPI_AUTO_LENGTH,
      &out);
  gst_object_unref (el);
  return out;
}

static GParamSpec *
find_pspec (napi_env env, GstElement * el, napi_value jprop, gchar ** prop_out)
{
  gchar *prop = dg_get_string (env, jprop);
  GParamSpec *pspec;

  if (!prop)
    return NULL;
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (el), prop);
  if (!pspec) {
    dg_throw (env, "GST_PROPERTY", "%s (%s) has no property \"%s\"",
        GST_ELEMENT_NAME (el), G_OBJECT_TYPE_NAME (el), prop);
    g_free (prop);
    return NULL;
  }
  *prop_out = prop;
  return pspec;
}

napi_value
dg_element_set (napi_env env, napi_callback_info info)
{
  size_t argc = 4;
  napi_value argv[4];
  GstElement *el;
  GParamSpec *pspec;
  GValue v = G_VALUE_INIT;
  gchar *prop = NULL, *err = NULL;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 4 || !(el = find_element (env, argv[0], argv[1], NULL)))
    return NULL;
  if (!(pspec = find_pspec (env, el, argv[2], &prop)))
    goto out;
  if (!(pspec->flags & G_PARAM_WRITABLE) ||
      (pspec->flags & G_PARAM_CONSTRUCT_ONLY)) {
    dg_throw (env, "GST_PROPERTY", "property \"%s\" of %s is not writable",
        prop, GST_ELEMENT_NAME (el));
    goto out;
  }
  if (!dg_js_to_gvalue (env, argv[3], pspec, &v, &err)) {
    bool pending = false;

    napi_is_exception_pending (env, &pending);
    if (!pending)
      dg_throw (env, "GST_PROPERTY", "%s.%s: %s", GST_ELEMENT_NAME (el), prop,
          err ? err : "invalid value");
    goto out;
  }
  /* GObject would clamp silently and warn on stderr: refuse instead. */
  if (g_param_value_validate (pspec, &v)) {
    dg_throw (env, "GST_PROPERTY", "%s.%s: value out of range",
        GST_ELEMENT_NAME (el), prop);
    goto out;
  }
  g_object_set_property (G_OBJECT (el), prop, &v);

out:
  if (G_IS_VALUE (&v))
    g_value_unset (&v);
  g_free (err);
  g_free (prop);
  gst_object_unref (el);
  return NULL;
}

napi_value
dg_element_get (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3], out = NULL;
  GstElement *el;
  GParamSpec *pspec;
  GValue v = G_VALUE_INIT;
  gchar *prop = NULL;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(el = find_element (env, argv[0], argv[1], NULL)))
    return NULL;
  if (!(pspec = find_pspec (env, el, argv[2], &prop)))
    goto done;
  if (!(pspec->flags & G_PARAM_READABLE)) {
    dg_throw (env, "GST_PROPERTY", "property \"%s\" of %s is not readable",
        prop, GST_ELEMENT_NAME (el));
    goto done;
  }
  g_value_init (&v, G_PARAM_SPEC_VALUE_TYPE (pspec));
  g_object_get_property (G_OBJECT (el), prop, &v);
  out = dg_gvalue_to_js (env, &v);
  g_value_unset (&v);
done:
  g_free (prop);
  gst_object_unref (el);
  return out;
}

/* ---- appsrc ---- */

static GstElement *
find_appsrc (napi_env env, napi_value handle, napi_value jname)
{
  GstElement *el = find_element (env, handle, jname, NULL);

  if (el && !GST_IS_APP_SRC (el)) {
    dg_throw (env, "GST_NO_ELEMENT", "%s is a %s, not an appsrc",
        GST_ELEMENT_NAME (el), G_OBJECT_TYPE_NAME (el));
    gst_object_unref (el);
    return NULL;
  }
  return el;
}

napi_value
dg_appsrc_check (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2];
  GstElement *el;
  gboolean block = FALSE;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(el = find_appsrc (env, argv[0], argv[1])))
    return NULL;
  g_object_get (el, "block", &block, NULL);
  if (block)
    dg_throw (env, "GST_PROPERTY",
        "%s has block=true: a full queue would stall the JS thread",
        GST_ELEMENT_NAME (el));
  gst_object_unref (el);
  return NULL;
}

napi_value
dg_appsrc_push (napi_env env, napi_callback_info info)
{
  size_t argc = 3, len = 0;
  napi_value argv[3], out;
  GstElement *el;
  void *data = NULL;
  GstFlowReturn ret;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3)
    return NULL;
  if (napi_get_buffer_info (env, argv[2], &data, &len) != napi_ok) {
    dg_throw (env, "GST_PROPERTY", "push() needs a Buffer");
    return NULL;
  }
  if (!(el = find_appsrc (env, argv[0], argv[1])))
    return NULL;
  /* One copy into GStreamer-owned memory: the JS Buffer can be reused or
   * collected at once, and nothing waits on V8's garbage collector. */
  ret = gst_app_src_push_buffer (GST_APP_SRC (el),
      gst_buffer_new_memdup (data, len));
  gst_object_unref (el);
  napi_get_boolean (env, ret == GST_FLOW_OK, &out);
  return out;
}

/* elementSendEos(handle, element) -> Promise<void>: EOS into the element
 * (through a sink pad, so downstream of it finishes: muxers write their
 * index), sent from a pool thread. */
napi_value
dg_element_send_eos (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2], promise;
  GstElement *el;
  DgPipe *pipe = NULL;
  DgOp *op;
  DgTask *task;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(el = find_element (env, argv[0], argv[1], &pipe)))
    return NULL;
  op = dg_op_new (pipe, DG_OP_EOS, env, &promise);
  task = g_new0 (DgTask, 1);
  task->kind = DG_TASK_EOS;
  task->pipe = dg_pipe_ref (pipe);
  task->op = dg_op_ref (op);
  task->element = el;           /* takes find_element's ref */
  dg_pool_push (task);
  dg_op_unref (op);
  return promise;
}

napi_value
dg_appsrc_eos (napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2];
  GstElement *el;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 2 || !(el = find_appsrc (env, argv[0], argv[1])))
    return NULL;
  gst_app_src_end_of_stream (GST_APP_SRC (el));
  gst_object_unref (el);
  return NULL;
}

/* elementEmit(handle, element, signal): emits a no-argument action signal
 * (e.g. dittotalkinghead's "interrupt") on the JS thread. Such signals are
 * made to be called from any application thread and return at once. */
napi_value
dg_element_emit (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3];
  GstElement *el;
  gchar *signal;
  guint id;
  GSignalQuery q;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || !(el = find_element (env, argv[0], argv[1], NULL)))
    return NULL;
  if (!(signal = dg_get_string (env, argv[2]))) {
    gst_object_unref (el);
    return NULL;
  }
  id = g_signal_lookup (signal, G_OBJECT_TYPE (el));
  if (id)
    g_signal_query (id, &q);
  if (!id || !(q.signal_flags & G_SIGNAL_ACTION) || q.n_params != 0 ||
      (q.return_type & ~G_SIGNAL_TYPE_STATIC_SCOPE) != G_TYPE_NONE)
    dg_throw (env, "GST_PROPERTY", "%s (%s) has no action signal \"%s\" "
        "without arguments", GST_ELEMENT_NAME (el), G_OBJECT_TYPE_NAME (el),
        signal);
  else
    g_signal_emit (el, id, 0);
  g_free (signal);
  gst_object_unref (el);
  return NULL;
}

static GstPadProbeReturn
drop_event (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  return GST_PAD_PROBE_DROP;
}

/* appsrcFlush(handle, appsrc, start): one half of a flush of what the appsrc
 * has queued but not pushed. start=true stops its streaming thread from
 * pushing (its src pad goes flushing); start=false clears the queue and
 * restarts it (appsrc drops its queue on FLUSH_STOP). The flush events stay
 * inside the appsrc: downstream (the element, encoders, webrtcbin) keeps its
 * state and timeline. The stop half waits for the streaming thread to leave
 * its push: call it only once nothing downstream can hold that push. */
napi_value
dg_appsrc_flush (napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3];
  GstElement *el;
  GstPad *pad;
  bool start = false;
  gulong probe;

  DG_NAPI_CALL (env, napi_get_cb_info (env, info, &argc, argv, NULL, NULL),
      NULL);
  if (argc < 3 || napi_get_value_bool (env, argv[2], &start) != napi_ok) {
    dg_throw (env, "GST_PROPERTY", "appsrcFlush(handle, name, start)");
    return NULL;
  }
  if (!(el = find_appsrc (env, argv[0], argv[1])))
    return NULL;
  pad = gst_element_get_static_pad (el, "src");
  probe = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_FLUSH, drop_event,
      NULL, NULL);
  gst_element_send_event (el, start ? gst_event_new_flush_start () :
      gst_event_new_flush_stop (FALSE));
  gst_pad_remove_probe (pad, probe);
  gst_object_unref (pad);
  gst_object_unref (el);
  return NULL;
}
