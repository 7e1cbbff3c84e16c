import type { RtpStats } from '../gst/types.js';
import type { Logger } from '../logger.js';
import { BitrateController, type BitrateReason } from './controller.js';
import { linkReport, videoCounters, type VideoCounters } from './link-stats.js';

/**
 * Drives one session's video encoder from its viewer's RTCP: polls webrtcbin's stats once a second, feeds
 * the controller and sets the encoder's bitrate property when the target moves. The encoder is found by
 * property: vp8enc/vp9enc have `target-bitrate` (bit/s); x264enc and nvh264enc have `bitrate` (kbit/s).
 */

/** What the driver needs from the encoder element (src/gst's Element). */
export interface EncoderElement {
  get(prop: string): unknown;
  set(prop: string, value: number): void;
}

export interface BitrateKnob {
  prop: 'target-bitrate' | 'bitrate';
  /** bit/s per property unit */
  scale: number;
  startBps: number;
  apply(bps: number): void;
}

/** The encoder's bitrate property, or null when the element has none we know. */
export function bitrateKnob(encoder: EncoderElement): BitrateKnob | null {
  for (const [prop, scale] of [['target-bitrate', 1], ['bitrate', 1000]] as const) {
    let value: unknown;
    try {
      value = encoder.get(prop);
    } catch {
      continue;
    }
    const n = typeof value === 'bigint' ? Number(value) : value;
    if (typeof n !== 'number' || !(n > 0)) continue;
    return { prop, scale, startBps: n * scale, apply: (bps) => encoder.set(prop, Math.max(1, Math.round(bps / scale))) };
  }
  return null;
}

export interface AdaptiveBitrateOptions {
  stats: () => Promise<RtpStats>;
  knob: BitrateKnob;
  minBps: number;
  maxBps: number;
  videoSsrc?: number | null;
  log: Logger;
  intervalMs?: number;
}

export interface AdaptiveBitrateSnapshot {
  target_bps: number;
  min_bps: number;
  max_bps: number;
  last_reason: BitrateReason;
  changes: number;
  loss: number | null;
  rtt_ms: number | null;
  sent_bps: number | null;
}

export class AdaptiveBitrate {
  private readonly controller: BitrateController;
  private timer: NodeJS.Timeout | null = null;
  private prev: VideoCounters | null = null;
  private busy = false;
  private last: { reason: BitrateReason; loss: number | null; rtt: number | null; sent: number | null } = { reason: 'start', loss: null, rtt: null, sent: null };
  private changes = 0;

  constructor(private readonly opts: AdaptiveBitrateOptions) {
    const startBps = Math.min(opts.maxBps, Math.max(opts.minBps, opts.knob.startBps));
    this.controller = new BitrateController({ minBps: opts.minBps, maxBps: opts.maxBps, startBps });
    if (startBps !== opts.knob.startBps) opts.knob.apply(startBps);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.busy || !this.timer) return; // a slow get-stats must not pile up
    this.busy = true;
    try {
      const now = videoCounters(await this.opts.stats(), Date.now(), this.opts.videoSsrc ?? null);
      if (!now || !this.timer) return;
      const report = linkReport(this.prev, now);
      this.prev = now;
      const d = this.controller.update(report);
      this.last = { reason: d.reason, loss: report.lossFraction, rtt: report.rttMs, sent: report.sentBps };
      if (d.changed) {
        this.opts.knob.apply(d.targetBps);
        this.changes++;
        this.opts.log.debug({ target_bps: d.targetBps, reason: d.reason, loss: report.lossFraction, rtt_ms: report.rttMs, sent_bps: report.sentBps }, 'video bitrate');
      }
    } catch (e) {
      this.opts.log.debug({ err: e }, 'adaptive bitrate: stats unavailable');
    } finally {
      this.busy = false;
    }
  }

  snapshot(): AdaptiveBitrateSnapshot {
    return {
      target_bps: this.controller.targetBps,
      min_bps: this.opts.minBps,
      max_bps: this.opts.maxBps,
      last_reason: this.last.reason,
      changes: this.changes,
      loss: this.last.loss,
      rtt_ms: this.last.rtt === null ? null : Math.round(this.last.rtt),
      sent_bps: this.last.sent === null ? null : Math.round(this.last.sent),
    };
  }
}
