import type { RtpStats } from '../gst/types.js';

/**
 * Turns the two raw stats sources of a session into plain numbers: the "ditto-stats" element messages of
 * dittotalkinghead (frames out, fps, PTS, A/V drift) and webrtcbin's get-stats (bytes sent, RTCP feedback).
 * Field names are looked up under the spellings GStreamer structures use (dashes) and JS ones (underscores).
 */

export interface DittoStats {
  frames_out: number | null;
  /** Live mode: frames repeated because the animator missed the deadline. */
  frames_late: number | null;
  /** Live mode: frames animated from silence because audio starved. */
  silence_frames: number | null;
  fps: number | null;
  /** Timestamp of the last video frame, seconds (frame k is at k * 40 ms by the element's timing rule). */
  pts_s: number | null;
  /** Audio minus video position, ms (positive = audio ahead); null unless the element reports both. */
  av_drift_ms: number | null;
  /** The last message's fields as posted, for anything not normalised above. */
  raw: Record<string, unknown>;
}

export interface RtpSummary {
  bytes_sent: number;
  packets_sent: number;
  packets_lost: number | null;
  round_trip_time_ms: number | null;
  jitter_s: number | null;
  /** Per outbound stream: kind (audio/video, when the stats say), ssrc, bytes. */
  streams: Array<{ id: string; kind: string | null; ssrc: number | null; bytes_sent: number; packets_sent: number }>;
}

const NS_PER_S = 1e9;
/** dittotalkinghead emits 25 fps, frame k at k * 40 ms. */
export const FRAME_DURATION_S = 0.04;

function num(fields: Record<string, unknown>, ...names: string[]): number | null {
  for (const n of names) {
    for (const key of [n, n.replace(/-/g, '_')]) {
      const v = fields[key];
      if (typeof v === 'number' && Number.isFinite(v)) return v;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
    }
  }
  return null;
}

/**
 * "ditto-stats" as dittotalkinghead posts it (frames-out, frames-late, silence-frames, fps; guint64 may
 * arrive as bigint). PTS and drift are read when the element posts them (GstClockTime, ns); without a PTS
 * field the position follows from the frame count.
 */
export function dittoStatsFromMessage(fields: Record<string, unknown>): DittoStats {
  const frames = num(fields, 'frames-out', 'frames');
  const videoNs = num(fields, 'video-pts', 'pts');
  const audioNs = num(fields, 'audio-pts');
  const driftNs = num(fields, 'av-drift', 'drift');
  const driftMs = num(fields, 'av-drift-ms', 'drift-ms');
  return {
    frames_out: frames,
    frames_late: num(fields, 'frames-late'),
    silence_frames: num(fields, 'silence-frames'),
    fps: num(fields, 'fps', 'frame-rate'),
    pts_s: videoNs !== null ? videoNs / NS_PER_S : frames !== null && frames > 0 ? (frames - 1) * FRAME_DURATION_S : null,
    av_drift_ms:
      driftMs ?? (driftNs !== null ? driftNs / 1e6 : audioNs !== null && videoNs !== null ? (audioNs - videoNs) / 1e6 : null),
    raw: fields,
  };
}

function statsType(entry: Record<string, unknown>): string | null {
  const t = entry['type'];
  if (typeof t === 'string') return t;
  // GstWebRTCStatsType values, in case the enum arrives as a number.
  const byNumber: Record<number, string> = { 3: 'outbound-rtp', 4: 'remote-inbound-rtp' };
  return typeof t === 'number' ? (byNumber[t] ?? null) : null;
}

export function summariseRtpStats(stats: RtpStats): RtpSummary {
  const summary: RtpSummary = { bytes_sent: 0, packets_sent: 0, packets_lost: null, round_trip_time_ms: null, jitter_s: null, streams: [] };
  for (const [id, entry] of Object.entries(stats)) {
    const type = statsType(entry);
    if (type === 'outbound-rtp') {
      const bytes = num(entry, 'bytes-sent') ?? 0;
      const packets = num(entry, 'packets-sent') ?? 0;
      summary.bytes_sent += bytes;
      summary.packets_sent += packets;
      const kind = typeof entry['kind'] === 'string' ? entry['kind'] : null;
      summary.streams.push({ id, kind, ssrc: num(entry, 'ssrc'), bytes_sent: bytes, packets_sent: packets });
    } else if (type === 'remote-inbound-rtp') {
      const lost = num(entry, 'packets-lost');
      if (lost !== null) summary.packets_lost = (summary.packets_lost ?? 0) + lost;
      const rtt = num(entry, 'round-trip-time');
      if (rtt !== null) summary.round_trip_time_ms = Math.max(summary.round_trip_time_ms ?? 0, rtt * 1000);
      const jitter = num(entry, 'jitter');
      if (jitter !== null) summary.jitter_s = Math.max(summary.jitter_s ?? 0, jitter);
    }
  }
  return summary;
}

/** Bits per second between two byte counters, or null when the interval is too short to mean anything. */
export function bitrate(prev: { atMs: number; bytes: number } | null, now: { atMs: number; bytes: number }): number | null {
  if (!prev) return null;
  const dt = (now.atMs - prev.atMs) / 1000;
  if (dt < 0.2 || now.bytes < prev.bytes) return null;
  return ((now.bytes - prev.bytes) * 8) / dt;
}
