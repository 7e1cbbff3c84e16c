/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The dittotalkinghead instance, shared by the element's parts:
 *   gstdittotalkinghead.c  class, properties, state changes
 *   ditto-input.c          sink pad: caps, chain, events, offline feeding
 *   ditto-session.c        session open/close and the backend callbacks
 *   ditto-live.c           live mode: clock and render threads, latency,
 *                          interrupt
 *   ditto-output.c         per-src-pad queues and streaming tasks, stats
 *   ditto-video-out.c      video caps from the rendered frames,
 *                          negotiation, conversion, buffer pool
 * Locking: properties under the element's object lock, except those the
 * streaming threads read (chunk-sleep, post-stats), which live under
 * `lock` with everything from `lock` on. Never take the element's object
 * lock (nor post a message, which takes it) while holding `lock`.
 */
#ifndef __GST_DITTO_TALKING_HEAD_PRIVATE_H__
#define __GST_DITTO_TALKING_HEAD_PRIVATE_H__

#include <gst/gst.h>
#include <gst/base/gstflowcombiner.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include "gstdittotalkinghead.h"
#include "ditto-backend.h"
#include "ditto-chunker.h"
#include "ditto-image.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_ditto_talking_head_debug);

#define SPF DITTO_SAMPLES_PER_FRAME
#define FRAME_DURATION (GST_SECOND / DITTO_FPS)

/* One src pad's bounded queue; drained by the pad's own task. */
typedef struct {
  GstPad *pad;
  GQueue items;              /* GstBuffer / GstEvent, oldest first */
  guint n_buffers;
  gboolean flushing;
  gboolean active;           /* the pad is activated (its task may run) */
  gboolean eos_pushed;       /* EOS (event or flow) seen: drop the rest */
  GstClockTime last_pts;     /* PTS of the last buffer pushed */
  /* that buffer's PTS minus its frame's nominal time (frame index from its
   * offset): the A/V drift is the audio's minus the video's, so it does not
   * depend on which pad happened to push last */
  gint64 last_skew;
  gboolean have_skew;
  guint64 dropped;           /* live: buffers dropped while the branch stalled */
} GstDittoOutQueue;

struct _GstDittoTalkingHead {
  GstElement parent;

  GstPad *sinkpad;
  GstPad *video_srcpad;
  GstPad *audio_srcpad;

  /* properties, under the object lock */
  gchar *source_image;
  gdouble frame_scale;
  guint sampling_timesteps;
  guint chunk_past, chunk_current, chunk_future;
  gchar *backend_name;
  GstDittoMode mode;
  gint face_box[4];
  guint seed;
  gchar *model_dir;
  gchar *worker_socket;
  gchar *worker_ticket;
  gdouble worker_timeout;
  guint overlap_v2;

  /* session (READY->PAUSED .. PAUSED->READY) */
  DittoImage *image;
  const DittoBackendClass *bclass;
  DittoBackend *backend;
  DittoBackendConfig config;
  GstVideoInfo render_info;        /* what the backend renders: the session's
                                    * size until a frame says otherwise (the
                                    * video task writes it, under the object
                                    * lock) */
  guint extra_latency_frames;
  GstDittoMode session_mode;
  guint session_past, session_current, session_future;

  /* everything below is protected by lock */
  GMutex lock;
  GCond cond;
  gdouble chunk_sleep;             /* a property, but read by the feed path */
  gboolean post_stats;             /* a property, read by the src tasks */
  GstDittoOutQueue vq, aq;
  GQueue pending_events;           /* serialized events waiting for their frames */
  gboolean eos_posted;       /* "ditto-eos" posted once both pads pushed EOS */
  GstFlowCombiner *flow_combiner;
  gboolean flushing;
  gboolean fatal;                  /* an error was posted: stop */
  DittoChunker chunker;
  GstAudioFormat in_format;        /* current sink caps */
  GstSegment in_segment;           /* current sink segment */
  GstClockTime in_next_rt;         /* running time the next input sample is due at */
  GstEvent *out_segment;           /* offline: the input's segment, for both src pads */
  GstClockTime out_origin;         /* offline: PTS of frame 0 (the first input sample's) */
  GstAudioFormat out_format;       /* audio src caps (first sink caps) */
  gboolean audio_caps_sent;
  guint64 next_out_frame;          /* next frame expected from the backend (offline) / due (live) */
  gboolean eos_received;
  gboolean eos_sent;
  gint sleep_epoch;                /* bumped to interrupt chunk-sleep */

  /* live mode */
  GArray *fifo;                    /* input samples not yet on the timeline (float) */
  GstClockTime fifo_rt;            /* running time of fifo[0]; NONE: arrival order */
  GQueue ready;                    /* frames from the backend waiting for their slot */
  GThread *live_clock_thread;      /* emits frames on the clock */
  GThread *live_render_thread;     /* feeds the backend */
  gboolean live_running;
  GstClockID live_clock_id;
  GstClockTime live_start;         /* running time of frame live_base_frame */
  guint64 live_base_frame;
  GstClockTime live_latency;
  GstClockTime compute_latency;    /* the backend's, as budgeted in live_latency */
  guint64 live_assign_frame;       /* first frame of the next chunk to place */
  gboolean live_latency_checked;   /* re-asked upstream at the first input */
  GstBuffer *last_video;
  gboolean live_drained;
  gint live_frames_since_feed;

  /* video output conversion when downstream refuses the render format */
  GstVideoInfo out_info;
  gboolean video_negotiated;
  GstVideoConverter *converter;
  GstBufferPool *pool;             /* for converted frames (ALLOCATION query) */

  /* stats */
  guint64 frames_out, frames_late, silence_frames;
  guint64 late_samples;            /* live: timed input dropped after its slot */
  gint64 stats_last_time;
  guint64 stats_last_frames;
  gboolean face_posted;
  gint face[4];
  gboolean face_known, face_fallback, face_warned;
  guint32 seek_seqnum;
};

static inline GstClockTime
ditto_frame_time (guint64 frames)
{
  return gst_util_uint64_scale (frames, GST_SECOND, DITTO_FPS);
}

/* ditto-input.c */
GstFlowReturn gst_ditto_talking_head_chain (GstPad * pad, GstObject * parent,
    GstBuffer * buffer);
gboolean gst_ditto_talking_head_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event);
gboolean gst_ditto_talking_head_sink_query (GstPad * pad, GstObject * parent,
    GstQuery * query);

/* ditto-session.c */
gboolean ditto_session_open (GstDittoTalkingHead * self);
void ditto_session_close (GstDittoTalkingHead * self);
/* Without the lock: post the backend's error and stop the element. */
void ditto_backend_failed (GstDittoTalkingHead * self, const GError * error);

/* ditto-live.c */
gboolean ditto_latency_query (GstDittoTalkingHead * self, GstQuery * query);
void ditto_live_refine_latency (GstDittoTalkingHead * self);
void ditto_live_start (GstDittoTalkingHead * self);
void ditto_live_stop (GstDittoTalkingHead * self);
void ditto_live_interrupt (GstDittoTalkingHead * self);

/* ditto-output.c; the functions taking self expect the lock held unless
 * they say otherwise */
void ditto_out_queue_clear (GstDittoOutQueue * q);
void ditto_out_queue_push (GstDittoTalkingHead * self, GstDittoOutQueue * q,
    GstMiniObject * obj);
gboolean ditto_out_queues_full (GstDittoTalkingHead * self);
void ditto_emit_frame (GstDittoTalkingHead * self, guint64 k,
    GstBuffer * video, GstClockTime pts);
void ditto_queue_eos (GstDittoTalkingHead * self);
/* Serialized events go out after the frames of the samples before them
 * (pos: timeline samples that arrived before the event). */
void ditto_queue_serialized_event (GstDittoTalkingHead * self,
    GstEvent * event, guint64 pos);
void ditto_clear_serialized_events (GstDittoTalkingHead * self);
void ditto_send_audio_caps (GstDittoTalkingHead * self, GstAudioFormat format);
gboolean gst_ditto_talking_head_src_query (GstPad * pad, GstObject * parent,
    GstQuery * query);
gboolean gst_ditto_talking_head_src_event (GstPad * pad, GstObject * parent,
    GstEvent * event);
gboolean gst_ditto_talking_head_src_activate_mode (GstPad * pad,
    GstObject * parent, GstPadMode mode, gboolean active);
void gst_ditto_talking_head_src_loop (GstPad * pad);

/* ditto-video-out.c (no lock needed: session fields and the video task) */
GstCaps *ditto_video_caps (const GstVideoInfo * info, gboolean any_size);
void ditto_video_get_render_info (GstDittoTalkingHead * self,
    GstVideoInfo * info);
gboolean ditto_video_update_render_info (GstDittoTalkingHead * self,
    GstBuffer * frame);
gboolean ditto_video_choose_render_format (GstDittoTalkingHead * self,
    gint width, gint height);
gboolean ditto_video_negotiate (GstDittoTalkingHead * self);
GstBuffer *ditto_video_convert (GstDittoTalkingHead * self, GstBuffer * in);
void ditto_video_set_pool (GstDittoTalkingHead * self, GstBufferPool * pool);

G_END_DECLS

#endif /* __GST_DITTO_TALKING_HEAD_PRIVATE_H__ */
