/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ditto-chunker.h"

#include <string.h>

#define SPF DITTO_SAMPLES_PER_FRAME

void
ditto_chunker_init (DittoChunker * c, guint past, guint current, guint future)
{
  memset (c, 0, sizeof (*c));
  c->past = past;
  c->current = current;
  c->future = future;
  c->flags = g_byte_array_new ();
  c->scratch = g_new0 (gfloat, (gsize) (past + current + future) * SPF);
}

void
ditto_chunker_clear (DittoChunker * c)
{
  g_free (c->data);
  g_free (c->scratch);
  if (c->flags)
    g_byte_array_unref (c->flags);
  memset (c, 0, sizeof (*c));
}

void
ditto_chunker_reset (DittoChunker * c)
{
  c->len = 0;
  c->base = 0;
  c->flag_base = 0;
  g_byte_array_set_size (c->flags, 0);
  c->next_frame = 0;
  c->eos = FALSE;
}

guint64
ditto_chunker_end (const DittoChunker * c)
{
  return c->base + c->len;
}

guint64
ditto_chunker_total_frames (const DittoChunker * c)
{
  return (ditto_chunker_end (c) + SPF - 1) / SPF;
}

static void
mark_frames (DittoChunker * c, guint64 from_sample, guint64 to_sample,
    gboolean real)
{
  guint64 f, first = from_sample / SPF, last;

  if (to_sample <= from_sample)
    return;
  last = (to_sample - 1) / SPF;
  for (f = first; f <= last; f++) {
    guint64 idx = f - c->flag_base;
    if (idx >= c->flags->len) {
      guint8 v = 0;
      g_byte_array_append (c->flags, &v, 1);
    }
    if (real)
      c->flags->data[idx] = 1;
  }
}

static void
ensure_room (DittoChunker * c, gsize n)
{
  if (c->len + n > c->alloc) {
    c->alloc = MAX (c->alloc * 2, c->len + n);
    c->alloc = MAX (c->alloc, (gsize) 16 * SPF);
    c->data = g_renew (gfloat, c->data, c->alloc);
  }
}

void
ditto_chunker_append (DittoChunker * c, const gfloat * samples, gsize n,
    gboolean real)
{
  guint64 start = ditto_chunker_end (c);

  g_return_if_fail (!c->eos);
  if (n == 0)
    return;
  ensure_room (c, n);
  if (samples)
    memcpy (c->data + c->len, samples, n * sizeof (gfloat));
  else
    memset (c->data + c->len, 0, n * sizeof (gfloat));
  c->len += n;
  mark_frames (c, start, start + n, real);
}

void
ditto_chunker_append_silence (DittoChunker * c, gsize n)
{
  ditto_chunker_append (c, NULL, n, FALSE);
}

void
ditto_chunker_set_eos (DittoChunker * c)
{
  c->eos = TRUE;
}

gsize
ditto_chunker_read (const DittoChunker * c, guint64 from, gsize n,
    gfloat * dest)
{
  guint64 end = ditto_chunker_end (c);
  guint64 to = MIN (from + n, end);

  if (from < c->base || from >= to)
    return 0;
  memcpy (dest, c->data + (from - c->base), (to - from) * sizeof (gfloat));
  return to - from;
}

static gboolean
frame_is_real (const DittoChunker * c, guint64 f)
{
  if (f < c->flag_base || f - c->flag_base >= c->flags->len)
    return FALSE;
  return c->flags->data[f - c->flag_base] != 0;
}

gboolean
ditto_chunker_next (DittoChunker * c, DittoChunk * chunk)
{
  guint64 end = ditto_chunker_end (c);
  guint64 total = ditto_chunker_total_frames (c);
  guint64 first = c->next_frame, f;
  guint n_current, i;
  gsize n_samples = (gsize) (c->past + c->current + c->future) * SPF;
  gint64 s0;

  if (!c->eos) {
    /* current + future frames beyond the last fed position must be there */
    if (end < (first + c->current + c->future) * SPF)
      return FALSE;
    n_current = c->current;
  } else {
    if (first >= total)
      return FALSE;
    n_current = (guint) MIN ((guint64) c->current, total - first);
  }

  /* samples[past * 640] is the first sample of frame `first`; anything
   * before the stream start or beyond the timeline is zero. */
  s0 = (gint64) first * SPF - (gint64) c->past * SPF;
  for (i = 0; i < n_samples; i++) {
    gint64 s = s0 + (gint64) i;
    gfloat v = 0.0f;
    if (s >= (gint64) c->base && s < (gint64) end) {
      v = c->data[s - (gint64) c->base];
      v = CLAMP (v, -1.0f, 1.0f);
    }
    c->scratch[i] = v;
  }

  chunk->samples = c->scratch;
  chunk->first_frame = first;
  chunk->n_current = n_current;
  chunk->n_real_future = 0;
  for (f = first + c->current; f < first + c->current + c->future; f++) {
    if (f * SPF < end && frame_is_real (c, f))
      chunk->n_real_future++;
  }
  chunk->is_last = c->eos && first + n_current >= total;
  c->next_frame = first + n_current;
  return TRUE;
}

guint64
ditto_chunker_silence_from (DittoChunker * c, guint64 from)
{
  guint64 end = ditto_chunker_end (c), f, first;

  from = MAX (from, c->base);
  if (from >= end)
    return 0;
  memset (c->data + (from - c->base), 0, (end - from) * sizeof (gfloat));
  /* a frame keeps its flag if real input remains in its first part */
  first = (from + SPF - 1) / SPF;
  for (f = MAX (first, c->flag_base); f - c->flag_base < c->flags->len; f++)
    c->flags->data[f - c->flag_base] = 0;
  return (end - from + SPF - 1) / SPF;
}

void
ditto_chunker_rewind (DittoChunker * c, guint64 frame)
{
  if (frame < c->next_frame)
    c->next_frame = frame;
}

void
ditto_chunker_trim (DittoChunker * c, guint64 keep_from)
{
  guint64 min_needed, drop, fdrop;

  /* the next chunk's past frames must stay */
  min_needed = c->next_frame > c->past ? (c->next_frame - c->past) * SPF : 0;
  keep_from = MIN (keep_from, min_needed);
  keep_from = MIN (keep_from, ditto_chunker_end (c));
  /* only trim in frame steps, and only when it is worth a memmove */
  keep_from -= keep_from % SPF;
  if (keep_from <= c->base + (guint64) 8 * SPF)
    return;
  drop = keep_from - c->base;
  memmove (c->data, c->data + drop, (c->len - drop) * sizeof (gfloat));
  c->len -= drop;
  c->base = keep_from;

  fdrop = keep_from / SPF - c->flag_base;
  fdrop = MIN (fdrop, (guint64) c->flags->len);
  g_byte_array_remove_range (c->flags, 0, (guint) fdrop);
  c->flag_base += fdrop;
}
