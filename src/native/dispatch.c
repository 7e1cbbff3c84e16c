/* Events from GStreamer threads to JS, and the promises ("ops") they settle.
 *
 * One napi_threadsafe_function per pipeline, always called with
 * napi_tsfn_nonblocking: a GStreamer thread only ever appends to a queue.
 * Two kinds of event share it: must-deliver ones (promise settlements, errors,
 * EOS, state and ICE events: few per session, never dropped) and droppable
 * high-rate telemetry (element messages such as ditto-stats), of which at most
 * DG_DROPPABLE_QUEUE_MAX per pipeline wait for JS; more are dropped and
 * counted (dg_events_dropped), so a busy JS thread cannot make the queue, and
 * the process's memory, grow without bound.
 * The tsfn is ref'd while promises are outstanding (Node must not exit with an
 * answer pending) and unref'd when idle (a playing pipeline alone does not keep
 * Node alive). The pipeline's last event is DG_EV_CLOSED; after it the tsfn is
 * released and nothing more is posted. */
#include "dg.h"

DgEvent *
dg_event_new (DgEventKind kind)
{
  DgEvent *ev = g_new0 (DgEvent, 1);

  ev->kind = kind;
  return ev;
}

void
dg_event_free (DgEvent * ev)
{
  g_free (ev->target);
  g_free (ev->name);
  g_free (ev->payload_str);
  g_free (ev->str);
  g_free (ev->code);
  if (ev->payload)
    gst_structure_free (ev->payload);
  if (ev->st)
    gst_structure_free (ev->st);
  if (ev->op)
    dg_op_unref (ev->op);
  g_free (ev);
}

static guint64 events_dropped;  /* __atomic builtins: GLib has no 64-bit atomics */

guint64
dg_events_dropped (void)
{
  return __atomic_load_n (&events_dropped, __ATOMIC_RELAXED);
}

static void
count_dropped (void)
{
  __atomic_fetch_add (&events_dropped, 1, __ATOMIC_RELAXED);
}

void
dg_post (DgPipe * pipe, DgEvent * ev)
{
  gboolean posted = FALSE;

  if (ev->droppable && g_atomic_int_add (&pipe->droppable_queued,
          1) >= DG_DROPPABLE_QUEUE_MAX) {
    g_atomic_int_add (&pipe->droppable_queued, -1);
    count_dropped ();
    dg_event_free (ev);
    return;
  }

  g_mutex_lock (&pipe->lock);
  if (pipe->tsfn_open)
    posted = napi_call_threadsafe_function (pipe->tsfn, ev,
        napi_tsfn_nonblocking) == napi_ok;
  if (ev->kind == DG_EV_CLOSED)
    pipe->tsfn_open = FALSE;
  g_mutex_unlock (&pipe->lock);

  if (!posted) {
    if (ev->droppable)
      g_atomic_int_add (&pipe->droppable_queued, -1);
    dg_event_free (ev);
  }
}

void
dg_post_emit (DgPipe * pipe, const gchar * target, const gchar * name,
    GstStructure * payload, const gchar * payload_str)
{
  DgEvent *ev = dg_event_new (DG_EV_EMIT);

  ev->target = g_strdup (target);
  ev->name = g_strdup (name);
  ev->payload = payload;
  ev->payload_str = g_strdup (payload_str);
  dg_post (pipe, ev);
}

void
dg_post_emit_droppable (DgPipe * pipe, const gchar * target,
    const gchar * name, GstStructure * payload)
{
  DgEvent *ev = dg_event_new (DG_EV_EMIT);

  ev->target = g_strdup (target);
  ev->name = g_strdup (name);
  ev->payload = payload;
  ev->droppable = TRUE;
  dg_post (pipe, ev);
}

void
dg_post_last (DgPipe * pipe, DgOp * op, const gchar * code, gchar * msg)
{
  DgEvent *ev = dg_event_new (DG_EV_CLOSED);

  ev->op = dg_op_ref (op);
  if (code) {
    ev->rkind = DG_RES_ERROR;
    ev->code = g_strdup (code);
    ev->str = msg;
  }
  g_atomic_int_set (&op->settled, 1);
  dg_post (pipe, ev);
}

/* ---- JS thread side ---- */

void
dg_pending_inc (DgPipe * pipe)
{
  if (pipe->pending++ == 0)
    napi_ref_threadsafe_function (pipe->env, pipe->tsfn);
}

void
dg_pending_dec (DgPipe * pipe)
{
  g_assert (pipe->pending > 0);
  if (--pipe->pending == 0)
    napi_unref_threadsafe_function (pipe->env, pipe->tsfn);
}

static void
surface_exception (napi_env env)
{
  bool pending = false;
  napi_value exc;

  /* Node 20 only prints DEP0168 for exceptions thrown in tsfn callbacks:
   * turn them into a real 'uncaughtException' instead of losing them. */
  if (napi_is_exception_pending (env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception (env, &exc) == napi_ok)
    napi_fatal_exception (env, exc);
}

static napi_value
settle_value (napi_env env, DgEvent * ev)
{
  napi_value v;

  switch (ev->rkind) {
    case DG_RES_STRING:
      napi_create_string_utf8 (env, ev->str, NAPI_AUTO_LENGTH, &v);
      return v;
    case DG_RES_STRUCTURE:
      return dg_structure_to_js (env, ev->st);
    default:
      napi_get_undefined (env, &v);
      return v;
  }
}

static void
call_js (napi_env env, napi_value js_cb, void *context, void *data)
{
  DgPipe *pipe = context;
  DgEvent *ev = data;
  napi_value argv[3], undef, result;

  if (ev->droppable)
    g_atomic_int_add (&pipe->droppable_queued, -1);
  if (env == NULL) {            /* the environment is going away */
    dg_event_free (ev);
    return;
  }

  napi_get_undefined (env, &undef);

  switch (ev->kind) {
    case DG_EV_EMIT:
      if (ev->target)
        napi_create_string_utf8 (env, ev->target, NAPI_AUTO_LENGTH, &argv[0]);
      else
        napi_get_null (env, &argv[0]);
      napi_create_string_utf8 (env, ev->name, NAPI_AUTO_LENGTH, &argv[1]);
      if (ev->payload_str)
        napi_create_string_utf8 (env, ev->payload_str, NAPI_AUTO_LENGTH,
            &argv[2]);
      else if (ev->payload)
        argv[2] = dg_structure_to_js (env, ev->payload);
      else
        argv[2] = undef;
      if (napi_call_function (env, undef, js_cb, 3, argv, &result) != napi_ok)
        surface_exception (env);
      break;

    case DG_EV_SETTLE:
      if (ev->rkind == DG_RES_ERROR) {
        napi_reject_deferred (env, ev->op->deferred,
            dg_make_error (env, ev->code, ev->str));
      } else if (ev->rkind == DG_RES_PIPELINE &&
          !(result = dg_pipe_launched (env, pipe))) {
        /* A parsed pipeline JS has no handle to: nothing could close it. */
        napi_reject_deferred (env, ev->op->deferred,
            dg_make_error (env, "GST_INIT", "could not create a handle"));
        dg_pending_dec (pipe);
        napi_release_threadsafe_function (pipe->tsfn, napi_tsfn_release);
        break;
      } else {
        napi_resolve_deferred (env, ev->op->deferred,
            ev->rkind == DG_RES_PIPELINE ? result : settle_value (env, ev));
      }
      dg_pending_dec (pipe);
      break;

    case DG_EV_CLOSED:
      if (ev->rkind == DG_RES_ERROR)    /* a launch that failed */
        napi_reject_deferred (env, ev->op->deferred,
            dg_make_error (env, ev->code, ev->str));
      else
        napi_resolve_deferred (env, ev->op->deferred, undef);
      dg_pending_dec (pipe);
      napi_release_threadsafe_function (pipe->tsfn, napi_tsfn_release);
      break;
  }
  dg_event_free (ev);
}

static void
tsfn_finalize (napi_env env, void *finalize_data, void *finalize_hint)
{
  DgPipe *pipe = finalize_data;

  /* Also reached at environment teardown: no posting after this point. */
  g_mutex_lock (&pipe->lock);
  pipe->tsfn_open = FALSE;
  g_mutex_unlock (&pipe->lock);
  dg_pipe_unref (pipe);
}

napi_status
dg_tsfn_create (napi_env env, DgPipe * pipe, napi_value dispatcher)
{
  napi_value name;
  napi_status st;

  napi_create_string_utf8 (env, "ditto-gst pipeline events", NAPI_AUTO_LENGTH,
      &name);
  st = napi_create_threadsafe_function (env, dispatcher, NULL, name, 0, 1,
      dg_pipe_ref (pipe), tsfn_finalize, pipe, call_js, &pipe->tsfn);
  if (st != napi_ok) {
    dg_pipe_unref (pipe);
    return st;
  }
  pipe->env = env;
  pipe->tsfn_open = TRUE;
  /* Idle until a promise is outstanding. */
  napi_unref_threadsafe_function (env, pipe->tsfn);
  return napi_ok;
}

/* ---- ops ---- */

DgOp *
dg_op_new (DgPipe * pipe, DgOpKind kind, napi_env env, napi_value * promise)
{
  DgOp *op = g_new0 (DgOp, 1);

  if (napi_create_promise (env, &op->deferred, promise) != napi_ok) {
    g_free (op);
    return NULL;
  }
  op->refcount = 1;
  op->kind = kind;
  op->pipe = dg_pipe_ref (pipe);
  op->t_start = g_get_monotonic_time ();
  /* A launch settles before there is a handle to close. */
  if (kind != DG_OP_CLOSE && kind != DG_OP_LAUNCH) {
    /* close() rejects whatever is still listed when it finishes */
    g_mutex_lock (&pipe->lock);
    pipe->ops = g_list_prepend (pipe->ops, dg_op_ref (op));
    g_mutex_unlock (&pipe->lock);
  }
  dg_pending_inc (pipe);
  return op;
}

DgOp *
dg_op_ref (DgOp * op)
{
  g_atomic_int_inc (&op->refcount);
  return op;
}

void
dg_op_unref (DgOp * op)
{
  if (!g_atomic_int_dec_and_test (&op->refcount))
    return;
  if (op->offer)
    gst_webrtc_session_description_free (op->offer);
  if (op->rtc)
    dg_webrtc_unref (op->rtc);
  dg_pipe_unref (op->pipe);
  g_free (op);
}

void
dg_op_end_negotiation (DgOp * op)
{
  if (!g_atomic_int_compare_and_exchange (&op->negotiating, 1, 0))
    return;
  g_mutex_lock (&op->pipe->lock);
  op->pipe->negotiating--;
  g_cond_broadcast (&op->pipe->pool_cond);
  g_mutex_unlock (&op->pipe->lock);
}

static gboolean
op_settle (DgOp * op, DgEvent * ev)
{
  DgPipe *pipe = op->pipe;
  GList *link;
  GSource *timer;
  gboolean listed = FALSE;

  if (!g_atomic_int_compare_and_exchange (&op->settled, 0, 1)) {
    dg_event_free (ev);
    return FALSE;
  }
  dg_op_ref (op);               /* the caller's ref may be the last one */
  ev->op = dg_op_ref (op);
  dg_op_end_negotiation (op);

  g_mutex_lock (&pipe->lock);
  if ((link = g_list_find (pipe->ops, op))) {
    pipe->ops = g_list_delete_link (pipe->ops, link);
    listed = TRUE;
  }
  timer = op->timer;
  op->timer = NULL;
  g_mutex_unlock (&pipe->lock);

  if (timer) {
    g_source_destroy (timer);
    g_source_unref (timer);
  }
  if (listed)
    dg_op_unref (op);

  GST_DEBUG ("%s: op %p settled (%s) after %" G_GINT64_FORMAT " us",
      pipe->name, op, ev->rkind == DG_RES_ERROR ? ev->str : "ok",
      g_get_monotonic_time () - op->t_start);
  dg_post (pipe, ev);
  dg_op_unref (op);
  return TRUE;
}

gboolean
dg_op_resolve_string (DgOp * op, gchar * str)
{
  DgEvent *ev = dg_event_new (DG_EV_SETTLE);

  ev->rkind = DG_RES_STRING;
  ev->str = str;
  return op_settle (op, ev);
}

gboolean
dg_op_resolve_nick (DgOp * op, const gchar * nick)
{
  return dg_op_resolve_string (op, g_strdup (nick));
}

gboolean
dg_op_resolve_void (DgOp * op)
{
  DgEvent *ev = dg_event_new (DG_EV_SETTLE);

  ev->rkind = DG_RES_NONE;
  return op_settle (op, ev);
}

gboolean
dg_op_resolve_pipeline (DgOp * op)
{
  DgEvent *ev = dg_event_new (DG_EV_SETTLE);

  ev->rkind = DG_RES_PIPELINE;
  return op_settle (op, ev);
}

gboolean
dg_op_resolve_structure (DgOp * op, GstStructure * s)
{
  DgEvent *ev = dg_event_new (DG_EV_SETTLE);

  ev->rkind = DG_RES_STRUCTURE;
  ev->st = s;
  return op_settle (op, ev);
}

gboolean
dg_op_reject (DgOp * op, const gchar * code, const gchar * fmt, ...)
{
  DgEvent *ev = dg_event_new (DG_EV_SETTLE);
  va_list args;

  ev->rkind = DG_RES_ERROR;
  ev->code = g_strdup (code);
  va_start (args, fmt);
  ev->str = g_strdup_vprintf (fmt, args);
  va_end (args);
  return op_settle (op, ev);
}
