import type { AppSrc, Pipeline } from '../gst/index.js';
import type { Logger } from '../logger.js';
import { LIVE_AUDIO_APPSRC, LIVE_OPUS_APPSRC, PUSH_PCM_CAPS, opusCaps } from '../pipelines/pipeline-template.js';

/**
 * The live audio of a push session: raw PCM/WAV samples and Opus packets queued in the graph's two appsrcs,
 * and interrupts that make the element drop what it holds. Counts what went in, and how far the pushed audio
 * runs ahead of playback (the element plays it in real time), so a client can be slowed before it fills memory.
 */
export class LiveInput {
  pushedS = 0;
  interrupts = 0;
  private backlogS = 0;
  private backlogAt = Date.now();
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
    if (ok) this.queued(durationS);
    return ok;
  }

  /** Seconds of pushed audio not yet played (an estimate: playback drains it at one second per second). */
  get queuedS(): number {
    const now = Date.now();
    this.backlogS = Math.max(0, this.backlogS - (now - this.backlogAt) / 1000);
    this.backlogAt = now;
    return this.backlogS;
  }

  private queued(durationS: number): void {
    this.backlogS = this.queuedS + durationS;
    this.pushedS += durationS;
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
    this.queued(durationS);
    return true;
  }

  /**
   * Drops all pushed audio not yet played, in the appsrcs and in the element, and returns the face to idle.
   * The appsrcs stop pushing first; the element's interrupt then also frees a push it was holding back (its
   * input is full), so the appsrcs' threads come out and their queues are cleared; a second interrupt drops
   * what that last push brought.
   */
  interrupt(): void {
    if (!this.audioIn || !this.opusIn) return;
    const sources = [this.audioIn, this.opusIn];
    const ditto = this.pipeline.element('ditto');
    for (const src of sources) src.flush('start');
    ditto.emit('interrupt');
    for (const src of sources) src.flush('stop');
    ditto.emit('interrupt');
    this.backlogS = 0;
    this.interrupts++;
    this.log.info({ interrupts: this.interrupts }, 'audio interrupted');
  }

  /** No more audio is taken; idempotent. */
  stop(): void {
    this.audioIn = this.opusIn = null;
  }
}
