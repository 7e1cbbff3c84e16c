import { EventEmitter } from 'node:events';
import type { AppSrc, Pipeline, WebRtcBin } from '../gst/index.js';
import type {
  IceConfig,
  PipelineEvents,
  WebRtcConnectionState,
  WebRtcEvents,
  WebRtcIceConnectionState,
  WebRtcIceGatheringState,
} from '../gst/types.js';
import { AppError } from '../errors.js';
import { gstErrorCode, type GstApi } from '../gst/loader.js';
import { LIVE_AUDIO_APPSRC, LIVE_OPUS_APPSRC, PUSH_PCM_CAPS, opusCaps } from '../pipelines/pipeline-template.js';
import type { Logger } from '../logger.js';
import type { SessionParams } from '../offers/offer-params.js';
import type { CodecSelection } from '../offers/sdp-offer.js';
import { bitrate, dittoStatsFromMessage, summariseRtpStats, type DittoStats, type RtpSummary } from './session-stats.js';

/**
 * One viewer: owns its Pipeline (and through it the webrtcbin), watches the connection and tears everything
 * down exactly once, for whichever reason comes first. close() is idempotent and cascades to the pipeline.
 */

export type SessionState = 'starting' | 'answered' | 'connecting' | 'connected' | 'disconnected' | 'closing' | 'closed';

export type CloseReason =
  | 'deleted'
  | 'shutdown'
  | 'eos'
  | 'connect-timeout'
  | 'disconnected-timeout'
  | 'connection-failed'
  | 'connection-closed'
  | 'rtcp-silence'
  | 'pipeline-error'
  | 'start-failed';

/** Reasons that count as a failure in metrics (the others are normal ends). */
export const FAILURE_REASONS: ReadonlySet<CloseReason> = new Set([
  'connect-timeout',
  'disconnected-timeout',
  'connection-failed',
  'rtcp-silence',
  'pipeline-error',
  'start-failed',
]);

export interface SessionTimeouts {
  iceGatherTimeoutMs: number;
  connectTimeoutMs: number;
  disconnectedGraceMs: number;
  rtcpSilenceTimeoutMs: number;
}

export interface SessionSpec {
  id: string;
  /** Rendered launch description (from a validated template). */
  description: string;
  offerSdp: string;
  pipelineName: string;
  codecs: CodecSelection;
  params: SessionParams;
  /**
   * "push": the graph's audio comes from the appsrcs LIVE_AUDIO_APPSRC and LIVE_OPUS_APPSRC, fed by pushAudio()
   * and pushOpus(); "mic": from the viewer's microphone on the same peer connection. Default "file".
   */
  audioSource?: AudioSource;
}

export type AudioSource = 'file' | 'push' | 'mic';

export interface SessionContext {
  gst: GstApi;
  ice: IceConfig;
  timeouts: SessionTimeouts;
  logger: Logger;
}

export interface SessionEvents {
  state: [SessionState];
  /** New frames reported by the element since the previous report. */
  frames: [number];
  closed: [{ reason: CloseReason; detail: string | null }];
}

/** The element's own figures, as session-stats.ts normalises them. */
type ElementFigures = Pick<DittoStats, 'frames_out' | 'frames_late' | 'silence_frames' | 'fps' | 'pts_s' | 'av_drift_ms'>;

export interface SessionSnapshot extends ElementFigures {
  session_id: string;
  state: SessionState;
  created_at: string;
  age_s: number;
  pipeline: string;
  video_codec: string;
  audio_codec: string;
  params: SessionParams;
  connection_state: WebRtcConnectionState | null;
  ice_connection_state: WebRtcIceConnectionState | null;
  ice_gathering_state: WebRtcIceGatheringState | null;
  ms_since_last_rtcp: number | null;
  latency_ms: number | null;
  close_reason: CloseReason | null;
  close_detail: string | null;
  audio_source: AudioSource;
  /** Push sessions: seconds of audio pushed and interrupts. */
  pushed_audio_s?: number;
  interrupts?: number;
}

export interface SessionDetail extends SessionSnapshot {
  bitrate_bps: number | null;
  rtp: RtpSummary | null;
  element_stats: Record<string, unknown> | null;
  face: Record<string, unknown> | null;
}

const RTCP_POLL_MS = 1000;
/** Time given to the encoders, payloaders and the network to send the last frames after the element's EOS. */
const EOS_DRAIN_MS = 500;

export class Session extends EventEmitter<SessionEvents> {
  readonly id: string;
  readonly createdAt = Date.now();
  private stateValue: SessionState = 'starting';
  private pipeline: Pipeline | null = null;
  private webrtc: WebRtcBin | null = null;
  private connectionState: WebRtcConnectionState | null = null;
  private iceConnectionState: WebRtcIceConnectionState | null = null;
  private iceGatheringState: WebRtcIceGatheringState | null = null;
  private connectedAt: number | null = null;
  private dittoStats: DittoStats | null = null;
  private face: Record<string, unknown> | null = null;
  private lastBytes: { atMs: number; bytes: number } | null = null;
  private lastBitrate: number | null = null;
  private timers = new Set<NodeJS.Timeout>();
  private connectTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private eosTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private closeReason: CloseReason | null = null;
  private closeDetail: string | null = null;
  private readonly log: Logger;
  private audioIn: AppSrc | null = null;
  private audioInCaps = PUSH_PCM_CAPS;
  private opusIn: AppSrc | null = null;
  private opusChannels: 1 | 2 = 1;
  private pushedS = 0;
  private interrupts = 0;

  private constructor(
    private readonly spec: SessionSpec,
    private readonly ctx: SessionContext,
  ) {
    super();
    this.id = spec.id;
    this.log = ctx.logger.child({ session_id: spec.id });
  }

  /**
   * Builds and starts the graph and answers the offer. Resolves with the answer as soon as webrtcbin has it;
   * never waits for the connection. On failure the session is already closed and an AppError is thrown.
   */
  static async start(spec: SessionSpec, ctx: SessionContext): Promise<{ session: Session; answer: string }> {
    const session = new Session(spec, ctx);
    try {
      const answer = await session.launchAndAnswer();
      return { session, answer };
    } catch (e) {
      const code = gstErrorCode(e);
      const message = (e as Error).message;
      await session.close('start-failed', message);
      if (e instanceof AppError) throw e;
      throw new AppError('PIPELINE_START_FAILED', `could not start the session pipeline: ${message}`, {
        details: { gst_code: code, pipeline: spec.pipelineName },
        cause: e,
      });
    }
  }

  get audioSource(): AudioSource {
    return this.spec.audioSource ?? 'file';
  }

  /**
   * Live audio (audio_source "push"): queues raw samples in the graph's appsrc. `caps` describes them
   * (default S16LE 16 kHz mono); a change is sent in-band and the converters after the appsrc follow it.
   * Returns false once the session no longer takes audio.
   */
  pushAudio(data: Buffer, caps: string = PUSH_PCM_CAPS, durationS = data.length / 32000): boolean {
    if (!this.audioIn || this.closing) return false;
    if (caps !== this.audioInCaps) {
      this.audioIn.set('caps', caps);
      this.audioInCaps = caps;
    }
    const ok = this.audioIn.push(data);
    if (ok) this.pushedS += durationS;
    return ok;
  }

  /**
   * Live audio: queues Opus packets (one per buffer, as opusdec wants them) in the graph's Opus appsrc.
   * A change of channel count is sent in-band; opusdec re-initialises for it. Returns false once the
   * session no longer takes audio.
   */
  pushOpus(packets: readonly Buffer[], channels: 1 | 2, durationS: number): boolean {
    if (!this.opusIn || this.closing) return false;
    if (channels !== this.opusChannels) {
      this.opusIn.set('caps', opusCaps(channels));
      this.opusChannels = channels;
    }
    for (const p of packets) if (!this.opusIn.push(p)) return false;
    this.pushedS += durationS;
    return true;
  }

  /** Drops audio queued in the element and returns the face to idle (push sessions). */
  interrupt(): void {
    if (this.audioSource !== 'push') {
      throw new AppError('SESSION_NOT_LIVE', `session ${this.id} takes its audio from ${this.audioSource === 'mic' ? 'the microphone' : 'a file'}: only push sessions can be interrupted`, {
        details: { session_id: this.id, audio_source: this.audioSource },
      });
    }
    if (!this.pipeline || this.closing) return;
    this.pipeline.element('ditto').set('interrupt', true);
    this.interrupts++;
    this.log.info({ interrupts: this.interrupts }, 'audio interrupted');
  }

  get state(): SessionState {
    return this.stateValue;
  }

  get closed(): boolean {
    return this.stateValue === 'closed';
  }

  /** Closing or closed. */
  get ended(): boolean {
    return this.closing !== null;
  }

  private async launchAndAnswer(): Promise<string> {
    this.log.debug({ pipeline: this.spec.pipelineName, description: this.spec.description }, 'launching session pipeline');
    const pipeline = this.ctx.gst.Pipeline.launch(this.spec.description, { name: `session-${this.id}` });
    this.pipeline = pipeline;
    pipeline.on('error', this.onPipelineError);
    pipeline.on('warning', this.onPipelineWarning);
    pipeline.on('eos', this.onEos);
    pipeline.on('element', this.onElement);
    if (this.audioSource === 'push') {
      this.audioIn = pipeline.appsrc(LIVE_AUDIO_APPSRC);
      this.opusIn = pipeline.appsrc(LIVE_OPUS_APPSRC);
    }
    const webrtc = pipeline.webrtc('webrtc', this.ctx.ice);
    this.webrtc = webrtc;
    webrtc.on('connection-state', this.onConnectionState);
    webrtc.on('ice-connection-state', this.onIceConnectionState);
    webrtc.on('ice-gathering-state', this.onIceGatheringState);
    await pipeline.setState('playing');
    this.assertOpen();
    const answer = await webrtc.answer(this.spec.offerSdp, {
      // Every template declares its SSRCs in caps (a required placeholder), so the answer names them at once.
      capsWaitMs: 0,
      gatherTimeoutMs: this.ctx.timeouts.iceGatherTimeoutMs,
    });
    this.assertOpen();
    this.setState('answered');
    this.connectTimer = this.after(this.ctx.timeouts.connectTimeoutMs, () => {
      void this.close('connect-timeout', `not connected within ${this.ctx.timeouts.connectTimeoutMs} ms`);
    });
    return answer;
  }

  private assertOpen(): void {
    // A pipeline error or DELETE can end the session while it is still starting.
    if (this.closing) throw new Error(`session ended while starting (${this.closeReason}${this.closeDetail ? ': ' + this.closeDetail : ''})`);
  }

  private setState(next: SessionState): void {
    if (this.stateValue === next || this.stateValue === 'closing' || this.stateValue === 'closed') return;
    this.log.debug({ from: this.stateValue, to: next }, 'session state');
    this.stateValue = next;
    this.emit('state', next);
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clear(t: NodeJS.Timeout | null): null {
    if (t) {
      clearTimeout(t);
      clearInterval(t);
      this.timers.delete(t);
    }
    return null;
  }

  private readonly onPipelineError = (e: PipelineEvents['error'][0]) => {
    // Elements stopping under a closing session report it as an error: expected, not news.
    if (this.closing) {
      this.log.debug({ source: e.source, debug: e.debug }, `pipeline error while closing: ${e.message}`);
      return;
    }
    this.log.error({ source: e.source, domain: e.domain, code: e.code, debug: e.debug }, `pipeline error: ${e.message}`);
    void this.close('pipeline-error', `${e.source}: ${e.message}`);
  };

  private readonly onPipelineWarning = (w: PipelineEvents['warning'][0]) => {
    this.log.warn({ source: w.source, debug: w.debug }, `pipeline warning: ${w.message}`);
  };

  private readonly onEos = () => {
    this.log.info({}, 'end of stream');
    void this.close('eos', 'end of the audio');
  };

  /**
   * webrtcbin posts no pipeline EOS while its transport is not (or no longer) flowing, so the end of file
   * audio is taken from dittotalkinghead itself (a "ditto-eos" message, or "ditto-stats" with eos=true,
   * posted when it pushes EOS). The last frames
   * are still in the encoders and the network when it arrives: let them drain before teardown.
   */
  private onDittoEos(): void {
    if (this.closing || this.eosTimer) return;
    this.log.info({ frames_out: this.dittoStats?.frames_out ?? null }, 'ditto element finished the audio');
    this.eosTimer = this.after(EOS_DRAIN_MS, () => void this.close('eos', 'end of the audio'));
  }

  private readonly onElement = (m: PipelineEvents['element'][0]) => {
    if (m.name === 'ditto-stats') {
      const stats = dittoStatsFromMessage(m.fields);
      const before = this.dittoStats?.frames_out ?? 0;
      this.dittoStats = stats;
      if (stats.frames_out !== null && stats.frames_out > before) this.emit('frames', stats.frames_out - before);
      if (m.fields['eos'] === true) this.onDittoEos();
    } else if (m.name === 'ditto-eos') {
      this.onDittoEos();
    } else if (m.name === 'ditto-face') {
      this.face = m.fields;
      this.log.info({ face: m.fields }, 'face located');
    }
  };

  private readonly onConnectionState = (s: WebRtcConnectionState) => {
    this.connectionState = s;
    this.log.info({ connection_state: s }, 'connection state');
    switch (s) {
      case 'connecting':
        this.setState('connecting');
        break;
      case 'connected':
        this.connectTimer = this.clear(this.connectTimer);
        this.graceTimer = this.clear(this.graceTimer);
        if (this.connectedAt === null) {
          this.connectedAt = Date.now();
          this.watchRtcp();
        }
        this.setState('connected');
        break;
      case 'disconnected':
        this.setState('disconnected');
        this.startGrace();
        break;
      case 'failed':
        void this.close('connection-failed', 'peer connection failed');
        break;
      case 'closed':
        void this.close('connection-closed', 'peer connection closed');
        break;
      default:
        break;
    }
  };

  private readonly onIceConnectionState = (s: WebRtcIceConnectionState) => {
    this.iceConnectionState = s;
    this.log.debug({ ice_connection_state: s }, 'ICE connection state');
    if (s === 'failed') void this.close('connection-failed', 'ICE failed');
    // webrtcbin 1.22 may report ICE "disconnected" without moving the aggregate connection state.
    else if (s === 'disconnected') this.startGrace();
    else if ((s === 'connected' || s === 'completed') && this.connectionState !== 'disconnected') this.graceTimer = this.clear(this.graceTimer);
  };

  private readonly onIceGatheringState = (s: WebRtcIceGatheringState) => {
    this.iceGatheringState = s;
  };

  private startGrace(): void {
    if (this.graceTimer || this.closing) return;
    this.graceTimer = this.after(this.ctx.timeouts.disconnectedGraceMs, () => {
      this.graceTimer = null;
      void this.close('disconnected-timeout', `disconnected for more than ${this.ctx.timeouts.disconnectedGraceMs} ms`);
    });
  }

  /** webrtcbin 1.22 does not notice a viewer that vanished without closing: watch its RTCP receiver reports. */
  private watchRtcp(): void {
    const limit = this.ctx.timeouts.rtcpSilenceTimeoutMs;
    const t = setInterval(() => {
      if (this.closing || !this.webrtc || this.connectedAt === null) return;
      const since = this.webrtc.msSinceLastRtcp();
      const silentFor = since ?? Date.now() - this.connectedAt;
      if (silentFor > limit) {
        void this.close('rtcp-silence', `no RTCP from the viewer for ${Math.round(silentFor)} ms`);
      }
    }, Math.min(RTCP_POLL_MS, Math.max(100, Math.floor(limit / 4))));
    this.timers.add(t);
  }

  snapshot(): SessionSnapshot {
    const d = this.dittoStats;
    let msSinceRtcp: number | null = null;
    let latency: number | null = null;
    if (!this.closing) {
      try {
        msSinceRtcp = this.webrtc?.msSinceLastRtcp() ?? null;
        latency = this.pipeline?.latencyMs() ?? null;
      } catch {
        // the pipeline may be closing underneath us: stats are best effort
      }
    }
    return {
      session_id: this.id,
      state: this.stateValue,
      created_at: new Date(this.createdAt).toISOString(),
      age_s: (Date.now() - this.createdAt) / 1000,
      pipeline: this.spec.pipelineName,
      video_codec: this.spec.codecs.video.codec,
      audio_codec: this.spec.codecs.audio.codec,
      params: this.spec.params,
      connection_state: this.connectionState,
      ice_connection_state: this.iceConnectionState,
      ice_gathering_state: this.iceGatheringState,
      frames_out: d?.frames_out ?? null,
      frames_late: d?.frames_late ?? null,
      silence_frames: d?.silence_frames ?? null,
      fps: d?.fps ?? null,
      pts_s: d?.pts_s ?? null,
      av_drift_ms: d?.av_drift_ms ?? null,
      ms_since_last_rtcp: msSinceRtcp,
      latency_ms: latency,
      close_reason: this.closeReason,
      close_detail: this.closeDetail,
      audio_source: this.audioSource,
      ...(this.audioSource === 'push' ? { pushed_audio_s: this.pushedS, interrupts: this.interrupts } : {}),
    };
  }

  /** Snapshot plus webrtcbin's RTP stats and the bitrate since the previous call. */
  async detail(): Promise<SessionDetail> {
    let rtp: RtpSummary | null = null;
    if (this.webrtc && !this.closing && this.stateValue !== 'starting') {
      try {
        rtp = summariseRtpStats(await this.webrtc.stats());
        const now = { atMs: Date.now(), bytes: rtp.bytes_sent };
        const fresh = bitrate(this.lastBytes ?? (this.connectedAt ? { atMs: this.connectedAt, bytes: 0 } : null), now);
        if (fresh !== null) {
          this.lastBitrate = fresh;
          this.lastBytes = now;
        } else if (!this.lastBytes) this.lastBytes = now;
      } catch (e) {
        this.log.debug({ err: e }, 'webrtcbin stats unavailable');
      }
    }
    return {
      ...this.snapshot(),
      bitrate_bps: this.lastBitrate,
      rtp,
      element_stats: this.dittoStats?.raw ?? null,
      face: this.face,
    };
  }

  /** Ends the session once; later calls return the same promise. */
  close(reason: CloseReason, detail: string | null = null): Promise<void> {
    if (this.closing) return this.closing;
    this.closeReason = reason;
    this.closeDetail = detail;
    this.stateValue = 'closing';
    this.emit('state', 'closing');
    this.closing = this.teardown(reason, detail);
    return this.closing;
  }

  private async teardown(reason: CloseReason, detail: string | null): Promise<void> {
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers.clear();
    this.connectTimer = this.graceTimer = this.eosTimer = null;
    const level = FAILURE_REASONS.has(reason) ? 'warn' : 'info';
    this.log[level]({ reason, detail, age_s: (Date.now() - this.createdAt) / 1000 }, 'closing session');
    this.audioIn = this.opusIn = null;
    const pipeline = this.pipeline;
    if (pipeline) {
      // The error listener stays until close() resolves (no events come after that): an error posted while
      // the graph stops must still have a listener, or the GStreamer layer reports it as unhandled.
      pipeline.off('warning', this.onPipelineWarning);
      pipeline.off('eos', this.onEos);
      pipeline.off('element', this.onElement);
      this.webrtc?.off('connection-state', this.onConnectionState);
      this.webrtc?.off('ice-connection-state', this.onIceConnectionState);
      this.webrtc?.off('ice-gathering-state', this.onIceGatheringState);
      try {
        await pipeline.close();
      } catch (e) {
        this.log.error({ err: e }, 'pipeline close failed');
      }
      pipeline.off('error', this.onPipelineError);
    }
    this.stateValue = 'closed';
    this.emit('state', 'closed');
    this.emit('closed', { reason, detail });
  }
}
