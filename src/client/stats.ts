import type { PadCounters, RtpStats } from '../gst/index.js';

/**
 * Live receive statistics from what the addon exposes without touching media: buffer counters on the
 * depayloaders' src pads (one buffer per video frame, caps with the frame size) and webrtcbin's get-stats
 * (bytes, packets lost, jitter). Rates are over the interval since the previous sample.
 */

export interface StatsInput {
  atMs: number;
  video: PadCounters;
  audio: PadCounters;
  rtp: RtpStats | null;
  connection: string;
}

export interface StatsSample {
  elapsedS: number;
  fps: number;
  width: number | null;
  height: number | null;
  bitrateBps: number;
  videoFrames: number;
  audioPackets: number;
  packetsLost: number;
  jitterMs: number | null;
  /** Running time of the last video frame minus that of the last audio packet, ms (arrival skew). */
  avMs: number | null;
  connection: string;
}

interface RtpTotals {
  bytes: number;
  lost: number;
  jitterMs: number | null;
}

/** Sums inbound-rtp entries. webrtcbin 1.22 labels every inbound stream "audio": video is told by clock rate. */
export function rtpTotals(stats: RtpStats | null): RtpTotals {
  const out: RtpTotals = { bytes: 0, lost: 0, jitterMs: null };
  if (!stats) return out;
  for (const s of Object.values(stats)) {
    if (s['type'] !== 'inbound-rtp') continue;
    out.bytes += Number(s['bytes-received'] ?? 0);
    out.lost += Math.max(0, Number(s['packets-lost'] ?? 0));
    const src = s['gst-rtpsource-stats'] as Record<string, unknown> | undefined;
    if (src?.['clock-rate'] === 90000 && typeof s['jitter'] === 'number') out.jitterMs = (s['jitter'] as number) * 1000;
  }
  return out;
}

function dimension(caps: string | null, field: 'width' | 'height'): number | null {
  const m = caps ? new RegExp(`${field}=\\(int\\)(\\d+)`).exec(caps) : null;
  return m ? Number(m[1]) : null;
}

export class StatsMeter {
  private prev: { atMs: number; frames: number; bytes: number } | null = null;

  constructor(private readonly startMs: number) {}

  sample(i: StatsInput): StatsSample {
    const rtp = rtpTotals(i.rtp);
    const prev = this.prev ?? { atMs: this.startMs, frames: 0, bytes: 0 };
    const dt = Math.max(1, i.atMs - prev.atMs) / 1000;
    this.prev = { atMs: i.atMs, frames: i.video.buffers, bytes: rtp.bytes };
    const vt = i.video.runningTimeMs;
    const at = i.audio.runningTimeMs;
    return {
      elapsedS: (i.atMs - this.startMs) / 1000,
      fps: (i.video.buffers - prev.frames) / dt,
      width: dimension(i.video.caps, 'width'),
      height: dimension(i.video.caps, 'height'),
      bitrateBps: (Math.max(0, rtp.bytes - prev.bytes) * 8) / dt,
      videoFrames: i.video.buffers,
      audioPackets: i.audio.buffers,
      packetsLost: rtp.lost,
      jitterMs: rtp.jitterMs,
      avMs: vt !== null && at !== null ? vt - at : null,
      connection: i.connection,
    };
  }
}

/** One line per sample, stable field names (scripts grep them). */
export function formatStats(s: StatsSample): string {
  const size = s.width !== null && s.height !== null ? `${s.width}x${s.height}` : '?x?';
  const av = s.avMs === null ? 'n/a' : `${s.avMs >= 0 ? '+' : ''}${s.avMs.toFixed(0)}ms`;
  const jitter = s.jitterMs === null ? 'n/a' : `${s.jitterMs.toFixed(1)}ms`;
  return (
    `stats t=${s.elapsedS.toFixed(1)}s fps=${s.fps.toFixed(1)} res=${size} bitrate=${(s.bitrateBps / 1000).toFixed(0)}kbps ` +
    `frames=${s.videoFrames} audio_packets=${s.audioPackets} lost=${s.packetsLost} jitter=${jitter} av=${av} conn=${s.connection}`
  );
}
