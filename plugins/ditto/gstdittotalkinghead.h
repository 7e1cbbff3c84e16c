/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_DITTO_TALKING_HEAD_H__
#define __GST_DITTO_TALKING_HEAD_H__

#include <gst/gst.h>
#include <gst/base/gstflowcombiner.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include "ditto-backend.h"
#include "ditto-chunker.h"
#include "ditto-image.h"

G_BEGIN_DECLS

#define GST_TYPE_DITTO_TALKING_HEAD (gst_ditto_talking_head_get_type ())
G_DECLARE_FINAL_TYPE (GstDittoTalkingHead, gst_ditto_talking_head, GST,
    DITTO_TALKING_HEAD, GstElement)

typedef enum {
  GST_DITTO_MODE_OFFLINE,
  GST_DITTO_MODE_LIVE,
} GstDittoMode;

#define GST_TYPE_DITTO_MODE (gst_ditto_mode_get_type ())
GType gst_ditto_mode_get_type (void);

/* One src pad's bounded queue; drained by the pad's own task. */
typedef struct {
  GstPad *pad;
  GQueue items;              /* GstBuffer / GstEvent, oldest first */
  guint n_buffers;
  gboolean flushing;
  gboolean eos_pushed;       /* EOS (event or flow) seen: drop the rest */
  GstClockTime last_pts;     /* PTS of the last buffer pushed, for A/V drift stats */
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
  gdouble chunk_sleep;
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
  GstVideoInfo render_info;        /* what the backend renders */
  guint extra_latency_frames;
  GstDittoMode session_mode;
  guint session_past, session_current, session_future;

  /* everything below is protected by lock */
  GMutex lock;
  GCond cond;
  GstDittoOutQueue vq, aq;
  gboolean eos_posted;       /* "ditto-eos" posted once both pads pushed EOS */
  GstFlowCombiner *flow_combiner;
  gboolean flushing;
  gboolean fatal;                  /* an error was posted: stop */
  DittoChunker chunker;
  GstAudioFormat in_format;        /* current sink caps */
  GstAudioFormat out_format;       /* audio src caps (first sink caps) */
  gboolean audio_caps_sent;
  guint64 next_out_frame;          /* next frame expected from the backend (offline) / due (live) */
  gboolean eos_received;
  gboolean eos_sent;
  gint sleep_epoch;                /* bumped to interrupt chunk-sleep */

  /* live mode */
  GArray *fifo;                    /* input samples not yet on the timeline (float) */
  GQueue ready;                    /* frames from the backend waiting for their slot */
  GThread *live_thread;
  gboolean live_running;
  GstClockID live_clock_id;
  GstClockTime live_start;         /* running time of frame live_base_frame */
  guint64 live_base_frame;
  GstClockTime live_latency;
  gboolean live_latency_checked;   /* re-asked upstream at the first input */
  GstBuffer *last_video;
  gboolean live_drained;
  gint live_frames_since_feed;

  /* video output conversion when downstream refuses the render format */
  GstVideoInfo out_info;
  gboolean video_negotiated;
  GstVideoConverter *converter;

  /* stats */
  guint64 frames_out, frames_late, silence_frames;
  gint64 stats_last_time;
  guint64 stats_last_frames;
  gboolean face_posted;
  gint face[4];
  gboolean face_known, face_fallback, face_warned;
  guint32 seek_seqnum;
};

G_END_DECLS

#endif /* __GST_DITTO_TALKING_HEAD_H__ */
