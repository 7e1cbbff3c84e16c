import type { RtpStats } from '../gst/types.js';
import type { LinkReport } from './controller.js';

/**
 * The video stream's link figures between two webrtcbin get-stats snapshots: what was sent (outbound-rtp
 * bytes) and what the viewer's receiver reports say (remote-inbound-rtp: fraction-lost 0..1 and
 * round-trip-time in seconds, as webrtcbin converts RTCP's fixed-point fields). The video stream is the one
 * with the given SSRC, else the one a video codec entry names.
 */

export interface VideoCounters {
  atMs: number;
  ssrc: number | null;
  bytesSent: number;
  packetsSent: number;
  packetsLost: number | null;
  fractionLost: number | null;
  rttMs: number | null;
}

function num(e: Record<string, unknown>, key: string): number | null {
  const v = e[key] ?? e[key.replace(/-/g, '_')];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  return null;
}

/**
 * The video SSRC from the stats alone. webrtcbin 1.22 labels every outbound-rtp "kind":"audio" and points them
 * all at one codec-id, but its codec entries carry the SSRC with the right mime type: trust those first.
 */
function videoSsrcOf(stats: RtpStats): number | null {
  for (const e of Object.values(stats)) {
    const mime = e['mime-type'];
    if (e['type'] === 'codec' && typeof mime === 'string' && mime.toLowerCase().startsWith('video/')) {
      const ssrc = num(e, 'ssrc');
      if (ssrc !== null) return ssrc;
    }
  }
  return null;
}

export function videoCounters(stats: RtpStats, atMs: number, videoSsrc: number | null = null): VideoCounters | null {
  const entries = Object.values(stats);
  const ssrcWanted = videoSsrc ?? videoSsrcOf(stats);
  const outbound = entries.find((e) => e['type'] === 'outbound-rtp' && (ssrcWanted !== null ? num(e, 'ssrc') === ssrcWanted : e['kind'] === 'video'));
  if (!outbound) return null;
  const ssrc = num(outbound, 'ssrc');
  const remote = entries.find((e) => e['type'] === 'remote-inbound-rtp' && ssrc !== null && num(e, 'ssrc') === ssrc);
  const rtt = remote ? num(remote, 'round-trip-time') : null;
  return {
    atMs,
    ssrc,
    bytesSent: num(outbound, 'bytes-sent') ?? 0,
    packetsSent: num(outbound, 'packets-sent') ?? 0,
    packetsLost: remote ? num(remote, 'packets-lost') : null,
    fractionLost: remote ? num(remote, 'fraction-lost') : null,
    // 0 means "no report yet" in RTCP's fixed point
    rttMs: rtt !== null && rtt > 0 ? rtt * 1000 : null,
  };
}

/**
 * One controller report from two consecutive snapshots. Loss comes from the cumulative counters (packets the
 * receiver reports lost per packet sent in the interval): the last report's fraction-lost would be counted
 * again at every poll until the next receiver report. It is the fallback when the counters are missing.
 */
export function linkReport(prev: VideoCounters | null, now: VideoCounters): LinkReport {
  let sentBps: number | null = null;
  let lossFraction: number | null = now.fractionLost;
  if (prev && now.atMs > prev.atMs && now.bytesSent >= prev.bytesSent) {
    sentBps = ((now.bytesSent - prev.bytesSent) * 8 * 1000) / (now.atMs - prev.atMs);
    const sent = now.packetsSent - prev.packetsSent;
    if (prev.packetsLost !== null && now.packetsLost !== null && sent > 0) {
      lossFraction = Math.min(1, Math.max(0, now.packetsLost - prev.packetsLost) / sent);
    }
  }
  return { atMs: now.atMs, lossFraction, rttMs: now.rttMs, sentBps };
}
