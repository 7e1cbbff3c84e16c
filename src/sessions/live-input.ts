import type { AppSrc, Pipeline } from '../gst/index.js';
import type { Logger } from '../logger.js';
import { LIVE_AUDIO_APPSRC, LIVE_OPUS_APPSRC, PUSH_PCM_CAPS, opusCaps } from '../pipelines/pipeline-template.js';

/**
 * The live audio of a push session: raw PCM/WAV samples and Opus packets queued in the graph's two appsrcs,
 * and interrupts that make the element drop what it holds. Counts what went in.
 */
export class LiveInput {
  pushedS = 0;
  interrupts = 0;
  private audioIn: AppSrc | null;
  private opusIn: AppSrc | null;
  private audioInCaps = PUSH_PCM_CAPS;
  private opusChannels: 1 | 2 = 1;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly log: Logger,
  ) {
    this.audioIn = pipeline.appsrc(LIVE_AUDIO_APPSRC);
    this.opusIn = pipeline.appsrc(LIVE_OPUS_APPSRC);
  }

  /**
   * Queues raw samples. `caps` describes them (default S16LE 16 kHz mono); a change is sent in-band and the
   * converters after the appsrc follow it. Returns false once the input is stopped.
   */
  pushAudio(data: Buffer, caps: string = PUSH_PCM_CAPS, durationS = data.length / 32000): boolean {
    if (!this.audioIn) return false;
    if (caps !== this.audioInCaps) {
      this.audioIn.set('caps', caps);
      this.audioInCaps = caps;
    }
    const ok = this.audioIn.push(data);
    if (ok) this.pushedS += durationS;
    return ok;
  }

  /**
   * Queues Opus packets (one per buffer, as opusdec wants them). A change of channel count is sent in-band;
   * opusdec re-initialises for it. Returns false once the input is stopped.
   */
  pushOpus(packets: readonly Buffer[], channels: 1 | 2, durationS: number): boolean {
    if (!this.opusIn) return false;
    if (channels !== this.opusChannels) {
      this.opusIn.set('caps', opusCaps(channels));
      this.opusChannels = channels;
    }
    for (const p of packets) if (!this.opusIn.push(p)) return false;
    this.pushedS += durationS;
    return true;
  }

  /** Drops audio queued in the element and returns the face to idle. */
  interrupt(): void {
    if (!this.audioIn) return;
    this.pipeline.element('ditto').set('interrupt', true);
    this.interrupts++;
    this.log.info({ interrupts: this.interrupts }, 'audio interrupted');
  }

  /** No more audio is taken; idempotent. */
  stop(): void {
    this.audioIn = this.opusIn = null;
  }
}
