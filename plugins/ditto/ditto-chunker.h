/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The audio timeline of the dittotalkinghead element and its slicing into
 * (past, current, future) chunks. Timeline sample s belongs to frame s / 640.
 * All positions are integers (samples, frames), so nothing drifts.
 */
#ifndef __DITTO_CHUNKER_H__
#define __DITTO_CHUNKER_H__

#include "ditto-backend.h"

G_BEGIN_DECLS

typedef struct {
  guint past, current, future;

  gfloat *data;          /* timeline samples [base, base + len) */
  gsize len, alloc;
  guint64 base;

  /* Per-frame flag "holds real input audio" (live mode pads starved frames
   * with silence), for frames [flag_base, flag_base + flags->len). */
  GByteArray *flags;
  guint64 flag_base;

  guint64 next_frame;    /* first current frame of the next chunk */
  gboolean eos;          /* no more samples will be appended */
  gfloat *scratch;       /* samples of the chunk handed out last */
} DittoChunker;

void ditto_chunker_init (DittoChunker * c, guint past, guint current, guint future);
void ditto_chunker_clear (DittoChunker * c);
/* Back to an empty timeline at sample 0. */
void ditto_chunker_reset (DittoChunker * c);

/* Append samples; real == FALSE marks silence padding (live starvation).
 * Padding is only appended in whole frames. */
void ditto_chunker_append (DittoChunker * c, const gfloat * samples, gsize n,
    gboolean real);
void ditto_chunker_append_silence (DittoChunker * c, gsize n);
void ditto_chunker_set_eos (DittoChunker * c);

/* Samples on the timeline so far (the end position). */
guint64 ditto_chunker_end (const DittoChunker * c);
/* Frames the whole stream has once EOS is set: ceil(end / 640). */
guint64 ditto_chunker_total_frames (const DittoChunker * c);

/* Next chunk if enough audio is there: current + future frames beyond the
 * last fed position, or at EOS whatever is left (zero-padded, is_last on the
 * final one). The samples stay valid until the next call. */
gboolean ditto_chunker_next (DittoChunker * c, DittoChunk * chunk);

/* Copy timeline samples [from, from + n) clipped to what is held; returns the
 * number copied. */
gsize ditto_chunker_read (const DittoChunker * c, guint64 from, gsize n,
    gfloat * dest);

/* Replace timeline samples from `from` to the end with silence (frames from
 * there on no longer hold real input); returns the frames touched. */
guint64 ditto_chunker_silence_from (DittoChunker * c, guint64 from);

/* Feed again from frame `frame` if chunks were handed out beyond it (their
 * frames were dropped). Samples before the held range read as silence. */
void ditto_chunker_rewind (DittoChunker * c, guint64 frame);

/* Forget samples before `keep_from` (never those a future chunk needs). */
void ditto_chunker_trim (DittoChunker * c, guint64 keep_from);

G_END_DECLS

#endif /* __DITTO_CHUNKER_H__ */
