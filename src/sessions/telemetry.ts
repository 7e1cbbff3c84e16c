import type { WebRtcBin } from '../gst/index.js';
import type { PipelineEvents } from '../gst/types.js';
import type { Logger } from '../logger.js';
import { bitrate, dittoStatsFromMessage, summariseRtpStats, type DittoStats, type RtpSummary } from './session-stats.js';

/**
 * What a session knows about itself besides its connection: the element's "ditto-stats" / "ditto-face" /
 * "ditto-eos" messages and webrtcbin's RTP stats with the bitrate between two reads.
 */

/** The element's own figures, as session-stats.ts normalises them. */
export type ElementFigures = Pick<DittoStats, 'frames_out' | 'frames_late' | 'silence_frames' | 'fps' | 'pts_s' | 'av_drift_ms'>;

export interface TelemetryHooks {
  /** New frames reported by the element since its previous report. */
  frames(n: number): void;
  /** The element pushed EOS: file audio has ended. */
  eos(): void;
}

export class SessionTelemetry {
  private dittoStats: DittoStats | null = null;
  private faceValue: Record<string, unknown> | null = null;
  private lastBytes: { atMs: number; bytes: number } | null = null;
  private lastBitrate: number | null = null;

  constructor(
    private readonly hooks: TelemetryHooks,
    private readonly log: Logger,
  ) {}

  get framesOut(): number | null {
    return this.dittoStats?.frames_out ?? null;
  }

  get face(): Record<string, unknown> | null {
    return this.faceValue;
  }

  get elementStats(): Record<string, unknown> | null {
    return this.dittoStats?.raw ?? null;
  }

  get bitrateBps(): number | null {
    return this.lastBitrate;
  }

  figures(): ElementFigures {
    const d = this.dittoStats;
    return {
      frames_out: d?.frames_out ?? null,
      frames_late: d?.frames_late ?? null,
      silence_frames: d?.silence_frames ?? null,
      fps: d?.fps ?? null,
      pts_s: d?.pts_s ?? null,
      av_drift_ms: d?.av_drift_ms ?? null,
    };
  }

  /**
   * webrtcbin posts no pipeline EOS while its transport is not (or no longer) flowing, so the end of file
   * audio is taken from dittotalkinghead itself (a "ditto-eos" message, or "ditto-stats" with eos=true,
   * posted when it pushes EOS).
   */
  readonly onElement = (m: PipelineEvents['element'][0]) => {
    if (m.name === 'ditto-stats') {
      const stats = dittoStatsFromMessage(m.fields);
      const before = this.dittoStats?.frames_out ?? 0;
      this.dittoStats = stats;
      if (stats.frames_out !== null && stats.frames_out > before) this.hooks.frames(stats.frames_out - before);
      if (m.fields['eos'] === true) this.hooks.eos();
    } else if (m.name === 'ditto-eos') {
      this.hooks.eos();
    } else if (m.name === 'ditto-face') {
      this.faceValue = m.fields;
      this.log.info({ face: m.fields }, 'face located');
    }
  };

  /** webrtcbin's RTP stats, and the bitrate since the previous call (or since `connectedAt`). */
  async rtp(webrtc: WebRtcBin, connectedAt: number | null): Promise<RtpSummary | null> {
    try {
      const rtp = summariseRtpStats(await webrtc.stats());
      const now = { atMs: Date.now(), bytes: rtp.bytes_sent };
      const fresh = bitrate(this.lastBytes ?? (connectedAt ? { atMs: connectedAt, bytes: 0 } : null), now);
      if (fresh !== null) {
        this.lastBitrate = fresh;
        this.lastBytes = now;
      } else if (!this.lastBytes) this.lastBytes = now;
      return rtp;
    } catch (e) {
      this.log.debug({ err: e }, 'webrtcbin stats unavailable');
      return null;
    }
  }
}
