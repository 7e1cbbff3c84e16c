/* ditto-gst native addon: shared internal declarations.
 *
 * Threading model (the reason this addon exists, see shared/notes/gstreamer-in-node.md):
 *  - GStreamer threads never wait on JS: every event goes through one
 *    napi_threadsafe_function per pipeline, called non-blocking.
 *  - The JS thread never waits on GStreamer: parsing (launch), state changes
 *    and teardown run on small GThreadPools; webrtcbin's offer/answer chain
 *    runs in GstPromise change functions; timers (caps wait, gathering bound)
 *    run on one control thread with its own GMainContext.
 *  - Media never crosses into JS (appsrc push copies the JS Buffer once into a
 *    GstBuffer; nothing is ever pulled into JS).
 */
#ifndef DG_H
#define DG_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

GST_DEBUG_CATEGORY_EXTERN (dg_debug);

/* 64-bit atomics (GLib 2.74 has none for gint64). */
#define DG_GET64(p) __atomic_load_n ((p), __ATOMIC_SEQ_CST)
#define DG_SET64(p, v) __atomic_store_n ((p), (v), __ATOMIC_SEQ_CST)
#define GST_CAT_DEFAULT dg_debug

typedef struct _DgPipe DgPipe;
typedef struct _DgWebRtc DgWebRtc;
typedef struct _DgOp DgOp;
typedef struct _DgEvent DgEvent;
typedef struct _DgFinalizeWatch DgFinalizeWatch;

/* ---- operations: one JS promise each, settled exactly once through the tsfn ---- */
typedef enum
{
  DG_OP_SET_STATE,
  DG_OP_CLOSE,
  DG_OP_ANSWER,
  DG_OP_STATS,
  DG_OP_OFFER,                  /* create-offer -> set-local -> gathering */
  DG_OP_SET_REMOTE,             /* set-remote-description of an answer */
  DG_OP_EOS,                    /* EOS sent into an element, on a pool thread */
  DG_OP_LAUNCH,                 /* parse on a pool thread; resolves with the handle */
} DgOpKind;

struct _DgOp
{
  gint refcount;                /* atomic */
  gint settled;                 /* atomic: 0 until the first settle wins */
  DgOpKind kind;
  DgPipe *pipe;                 /* ref */
  napi_deferred deferred;       /* JS thread only */

  /* DG_OP_SET_STATE */
  GstState target_state;

  /* DG_OP_ANSWER / DG_OP_OFFER / DG_OP_SET_REMOTE / DG_OP_STATS */
  DgWebRtc *rtc;                /* ref */
  GstWebRTCSessionDescription *offer;
  GstSDPMessage *offer_sdp;     /* borrowed from offer */
  gint answer_gates;            /* atomic: remote-set + caps-ready must both open */
  guint caps_wait_ms;
  guint gather_timeout_ms;
  GSource *timer;               /* caps poll or gathering bound, control thread; guarded by pipe->lock */
  gint64 t_start, t_remote_set, t_caps, t_created, t_local_set;
  gboolean waiting_gathering;   /* guarded by pipe->lock */
  gint negotiating;             /* atomic: counted in pipe->negotiating */
};

DgOp *dg_op_new (DgPipe * pipe, DgOpKind kind, napi_env env, napi_value * promise);
DgOp *dg_op_ref (DgOp * op);
void dg_op_unref (DgOp * op);
/* An answer chain stops counting as negotiating (idempotent). */
void dg_op_end_negotiation (DgOp * op);
/* Settle from any thread; the first call wins. Takes ownership of result/s. */
gboolean dg_op_resolve_string (DgOp * op, gchar * str);
gboolean dg_op_resolve_structure (DgOp * op, GstStructure * s);
gboolean dg_op_resolve_nick (DgOp * op, const gchar * nick);
gboolean dg_op_resolve_void (DgOp * op);
/* A launch op: resolves with the JS handle, made on the JS thread. */
gboolean dg_op_resolve_pipeline (DgOp * op);
gboolean dg_op_reject (DgOp * op, const gchar * code, const gchar * fmt, ...)
    G_GNUC_PRINTF (3, 4);

/* ---- pipeline ---- */
struct _DgPipe
{
  gint refcount;                /* atomic */
  GstElement *pipeline;         /* owned until close finishes */
  gchar *name;

  GMutex lock;                  /* guards everything below marked (L) */
  gboolean tsfn_open;           /* (L) posting allowed */
  napi_threadsafe_function tsfn;
  GList *ops;                   /* (L) unsettled ops, each ref'd */
  GList *webrtcs;               /* (L) DgWebRtc*, each ref'd */
  gchar *last_error;            /* (L) last bus error text, for state failures */
  guint pool_tasks;             /* (L) latency tasks in flight */
  guint negotiating;            /* (L) answer chains before set-local-description completed */
  GCond pool_cond;
  gint droppable_queued;        /* atomic: droppable events posted, not yet run on the JS thread */

  GMutex state_lock;            /* serializes set_state calls (pool threads only) */
  gint closing;                 /* atomic: close() was called, no new work */
  gint64 latency_ns;            /* atomic: cached pipeline latency, -1 unknown */

  /* JS thread only */
  guint pending;                /* outstanding promises: tsfn is ref'd while > 0 */
  napi_env env;
  DgFinalizeWatch *watch;       /* waits for the pipeline and webrtcbins to finalize */
};

DgPipe *dg_pipe_ref (DgPipe * pipe);
void dg_pipe_unref (DgPipe * pipe);

/* ---- webrtcbin context ---- */
struct _DgWebRtc
{
  gint refcount;                /* atomic */
  DgPipe *pipe;                 /* ref */
  GstElement *webrtc;           /* ref */
  GstElement *rtpbin;           /* ref, may be NULL */
  gchar *name;
  gint conn_state, ice_state, gathering_state;  /* atomic enum values */
  gint64 last_rtcp_us;          /* atomic monotonic time of the peer's last RTCP, 0 = never */
  GList *gather_waiters;        /* (pipe->lock) DgOp* waiting for gathering complete */
  GMainContext *ice_context;    /* ref: the libnice agent's context, drained at close */
  gchar *incoming[2];           /* (pipe->lock) linkIncoming targets: video, audio */
};

DgWebRtc *dg_webrtc_ref (DgWebRtc * rtc);
void dg_webrtc_unref (DgWebRtc * rtc);
void dg_webrtc_disconnect (DgWebRtc * rtc);
void dg_webrtc_drain_ice (DgWebRtc * rtc);

/* ---- events to JS ---- */
typedef enum
{
  DG_EV_EMIT,                   /* listener event: target (webrtc name or NULL), name, payload */
  DG_EV_SETTLE,                 /* op result */
  DG_EV_CLOSED,                 /* last event of a pipeline: resolves close() (or rejects
                                 * a launch that failed), releases the tsfn */
} DgEventKind;

typedef enum
{
  DG_RES_NONE,
  DG_RES_STRING,
  DG_RES_STRUCTURE,
  DG_RES_ERROR,
  DG_RES_PIPELINE,              /* the op's launched pipeline, as a JS handle */
} DgResultKind;

struct _DgEvent
{
  DgEventKind kind;
  gchar *target;
  gchar *name;
  GstStructure *payload;        /* DG_EV_EMIT object payload, or NULL */
  gchar *payload_str;           /* DG_EV_EMIT string payload (state nicks), or NULL */
  gboolean droppable;           /* high-rate telemetry: dropped when its queue is full */
  DgOp *op;                     /* DG_EV_SETTLE / DG_EV_CLOSED, ref */
  DgResultKind rkind;
  gchar *str;                   /* DG_RES_STRING value or DG_RES_ERROR message */
  gchar *code;                  /* DG_RES_ERROR code */
  GstStructure *st;             /* DG_RES_STRUCTURE */
};

DgEvent *dg_event_new (DgEventKind kind);
void dg_event_free (DgEvent * ev);
/* Non-blocking; frees the event when the pipeline's tsfn is gone. */
void dg_post (DgPipe * pipe, DgEvent * ev);
void dg_post_emit (DgPipe * pipe, const gchar * target, const gchar * name,
    GstStructure * payload, const gchar * payload_str);
/* The pipe's last event: settles op (resolves close(), or rejects with
 * code and msg, taken, a launch that failed) and releases the tsfn. */
void dg_post_last (DgPipe * pipe, DgOp * op, const gchar * code, gchar * msg);
napi_status dg_tsfn_create (napi_env env, DgPipe * pipe, napi_value dispatcher);
/* Droppable events one pipeline may have queued for JS before more are dropped. */
#define DG_DROPPABLE_QUEUE_MAX 256
/* Droppable events dropped so far, all pipelines (atomic reads). */
guint64 dg_events_dropped (void);
/* Posts a high-rate telemetry event (element messages): when the JS thread
 * is behind by DG_DROPPABLE_QUEUE_MAX of them, it is dropped and counted. */
void dg_post_emit_droppable (DgPipe * pipe, const gchar * target,
    const gchar * name, GstStructure * payload);
void dg_pending_inc (DgPipe * pipe);
void dg_pending_dec (DgPipe * pipe);

/* ---- finalize watch: close() waits until GStreamer objects are really gone ---- */
DgFinalizeWatch *dg_watch_new (void);
void dg_watch_add (DgFinalizeWatch * w, gpointer gobject);
gboolean dg_watch_wait (DgFinalizeWatch * w, gint64 timeout_us);
void dg_watch_unref (DgFinalizeWatch * w);

/* ---- global runtime (addon.c) ---- */
gboolean dg_ensure_init (napi_env env);
GMainContext *dg_control_context (void);
GSource *dg_control_timeout (guint ms, GSourceFunc func, gpointer data,
    GDestroyNotify notify);
void dg_pool_push (gpointer task);
void dg_release_freed_memory (void);

/* Pool tasks */
typedef enum
{
  DG_TASK_SET_STATE,
  DG_TASK_CLOSE,
  DG_TASK_LATENCY,
  DG_TASK_EOS,
  DG_TASK_LAUNCH,
} DgTaskKind;

typedef struct
{
  DgTaskKind kind;
  DgPipe *pipe;                 /* ref */
  DgOp *op;                     /* ref, may be NULL */
  GstElement *element;          /* DG_TASK_EOS: ref */
  gchar *description;           /* DG_TASK_LAUNCH */
} DgTask;

void dg_pipe_run_task (DgTask * task);
/* The JS-thread half of a launch: the handle (NULL on failure), the bus
 * handler. */
napi_value dg_pipe_launched (napi_env env, DgPipe * pipe);

/* ---- napi helpers (addon.c) ---- */
#define DG_NAPI_CALL(env, call, ret)                                  \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      dg_throw_last (env);                                            \
      return ret;                                                     \
    }                                                                 \
  } while (0)

napi_value dg_make_error (napi_env env, const gchar * code, const gchar * msg);
napi_value dg_throw (napi_env env, const gchar * code, const gchar * fmt, ...)
    G_GNUC_PRINTF (3, 4);
void dg_throw_last (napi_env env);
gchar *dg_get_string (napi_env env, napi_value v);
DgPipe *dg_get_pipe (napi_env env, napi_value v, gboolean allow_closed);

/* ---- value conversion (values.c) ---- */
napi_value dg_gvalue_to_js (napi_env env, const GValue * v);
napi_value dg_structure_to_js (napi_env env, const GstStructure * s);
/* Converts a JS value for a property; on failure returns FALSE with *err set. */
gboolean dg_js_to_gvalue (napi_env env, napi_value js, GParamSpec * pspec,
    GValue * out, gchar ** err);

/* ---- exported functions ---- */
napi_value dg_version (napi_env env, napi_callback_info info);
napi_value dg_has_factory (napi_env env, napi_callback_info info);
napi_value dg_pipeline_launch (napi_env env, napi_callback_info info);
napi_value dg_pipeline_set_state (napi_env env, napi_callback_info info);
napi_value dg_pipeline_close (napi_env env, napi_callback_info info);
napi_value dg_pipeline_latency (napi_env env, napi_callback_info info);
napi_value dg_pipeline_name (napi_env env, napi_callback_info info);
napi_value dg_element_check (napi_env env, napi_callback_info info);
napi_value dg_element_set (napi_env env, napi_callback_info info);
napi_value dg_element_get (napi_env env, napi_callback_info info);
napi_value dg_appsrc_check (napi_env env, napi_callback_info info);
napi_value dg_appsrc_push (napi_env env, napi_callback_info info);
napi_value dg_appsrc_eos (napi_env env, napi_callback_info info);
napi_value dg_element_send_eos (napi_env env, napi_callback_info info);
napi_value dg_element_emit (napi_env env, napi_callback_info info);
napi_value dg_appsrc_flush (napi_env env, napi_callback_info info);
napi_value dg_webrtc_configure (napi_env env, napi_callback_info info);
napi_value dg_webrtc_answer (napi_env env, napi_callback_info info);
napi_value dg_webrtc_add_candidate (napi_env env, napi_callback_info info);
napi_value dg_webrtc_stats (napi_env env, napi_callback_info info);
napi_value dg_webrtc_states (napi_env env, napi_callback_info info);
napi_value dg_webrtc_rtcp_age (napi_env env, napi_callback_info info);
napi_value dg_webrtc_add_transceiver (napi_env env, napi_callback_info info);
napi_value dg_webrtc_offer (napi_env env, napi_callback_info info);
napi_value dg_webrtc_accept_answer (napi_env env, napi_callback_info info);
napi_value dg_webrtc_link_incoming (napi_env env, napi_callback_info info);
napi_value dg_pad_watch (napi_env env, napi_callback_info info);
napi_value dg_pad_counters (napi_env env, napi_callback_info info);

napi_value dg_webrtc_ice_restart (napi_env env, napi_callback_info info);
/* ice.c: port range and ICE-TCP on webrtcbin's ICE agent from the JS ICE
 * config; FALSE with a JS exception pending when they are not valid. */
gboolean dg_ice_configure_agent (napi_env env, GObject * ice_agent,
    napi_value ice);
/* webrtc.c helpers used by pipeline.c */
DgWebRtc *dg_pipe_find_webrtc (DgPipe * pipe, const gchar * name);

#endif /* DG_H */
