import { EventEmitter } from 'node:events';
import type { Pipeline, WebRtcBin } from '../gst/index.js';
import type {
  IceConfig,
  PipelineEvents,
  WebRtcConnectionState,
  WebRtcIceConnectionState,
  WebRtcIceGatheringState,
} from '../gst/types.js';
import { AppError } from '../errors.js';
import { rtcpSilenceLimitMs } from '../ice/liveness.js';
import { SessionIce, type PatchResult } from '../ice/session-ice.js';
import { gstErrorCode, type GstApi } from '../gst/loader.js';
import type { Logger } from '../logger.js';
import type { SessionParams } from '../offers/offer-params.js';
import type { CodecSelection } from '../offers/sdp-offer.js';
import { AdaptiveBitrate, bitrateKnob, type AdaptiveBitrateSnapshot } from '../bitrate/adaptive-bitrate.js';
import { ConnectionWatchdog, type WatchdogTimeouts } from './connection-watchdog.js';
import { LiveInput } from './live-input.js';
import { MIC_DEPAY } from '../pipelines/pipeline-template.js';
import type { RtpSummary } from './session-stats.js';
import { SessionTelemetry, type ElementFigures } from './telemetry.js';

/**
 * One viewer: owns its Pipeline (and through it the webrtcbin) and tears everything down exactly once, for
 * whichever reason comes first. close() is idempotent and cascades to the pipeline. The connection watchdog
 * (connection-watchdog.ts), the live input of push sessions (live-input.ts) and the telemetry (telemetry.ts)
 * are its parts.
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
  | 'start-failed'
  // lifecycle limits (session-limits.ts) and the drain deadline on SIGTERM: normal ends, not failures
  | 'max-duration'
  | 'idle-timeout'
  | 'drain-timeout';

/** Reasons that count as a failure in metrics (the others are normal ends). */
export const FAILURE_REASONS: ReadonlySet<CloseReason> = new Set([
  'connect-timeout',
  'disconnected-timeout',
  'connection-failed',
  'rtcp-silence',
  'pipeline-error',
  'start-failed',
]);

export interface SessionTimeouts extends WatchdogTimeouts {
  iceGatherTimeoutMs: number;
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
  /** 1:1 NAT: the public address announced in place of host candidates (src/ice/announce.ts). */
  publicAddress?: string;
  timeouts: SessionTimeouts;
  logger: Logger;
  /** Adaptive video bitrate bounds (maxBps 0 = the template's rate); null = the template's fixed rate. */
  bitrate?: { minBps: number; maxBps: number } | null;
}

/** The video encoder's name in every template (its bitrate property is what adaptive bitrate drives). */
export const VIDEO_ENCODER = 'venc';

export interface SessionEvents {
  state: [SessionState];
  /** New frames reported by the element since the previous report. */
  frames: [number];
  closed: [{ reason: CloseReason; detail: string | null }];
}

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
  /** The adaptive bitrate controller's state; null when off or the template's encoder has no known knob. */
  adaptive_bitrate: AdaptiveBitrateSnapshot | null;
}

/** Time given to the encoders, payloaders and the network to send the last frames after the element's EOS. */
const EOS_DRAIN_MS = 500;
/**
 * The longest close() waits for the graph to stop. set_state(NULL) runs on the addon's worker threads and has
 * taken seconds under churn; past this the session counts as closed (its slot frees) and the native teardown
 * finishes on its own.
 */
export const TEARDOWN_DEADLINE_MS = 10_000;

export class Session extends EventEmitter<SessionEvents> {
  readonly id: string;
  readonly createdAt = Date.now();
  private stateValue: SessionState = 'starting';
  private pipeline: Pipeline | null = null;
  /** The graph while it is parsed (off the JS thread): teardown waits for it, so no pipeline outlives the session. */
  private launching: Promise<Pipeline> | null = null;
  private webrtc: WebRtcBin | null = null;
  private watchdog: ConnectionWatchdog | null = null;
  /** Set once the graph has been asked to play (the viewer's ICE connected). */
  private playing = false;
  private live: LiveInput | null = null;
  private abr: AdaptiveBitrate | null = null;
  private iceControl: SessionIce | null = null;
  private readonly telemetry: SessionTelemetry;
  private eosTimer: NodeJS.Timeout | null = null;
  /** The element finished before the answer was out: the drain starts once it is. */
  private eosPending = false;
  private closing: Promise<void> | null = null;
  private closeReason: CloseReason | null = null;
  private closeDetail: string | null = null;
  private readonly log: Logger;

  private constructor(
    private readonly spec: SessionSpec,
    private readonly ctx: SessionContext,
  ) {
    super();
    this.id = spec.id;
    this.log = ctx.logger.child({ session_id: spec.id });
    this.telemetry = new SessionTelemetry({ frames: (n) => this.emit('frames', n), eos: () => this.onDittoEos() }, this.log);
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
      const message = (e as Error).message;
      await session.close('start-failed', message);
      if (e instanceof AppError) throw e;
      // webrtcbin refusing the remote description is the offer's fault; its reason is about the SDP only.
      const refused = gstErrorCode(e) === 'GST_WEBRTC' ? /^set-remote-description failed: (.*)$/s.exec(message) : null;
      if (refused) {
        session.log.info({ reason: refused[1] }, 'offer refused by webrtcbin');
        throw new AppError('INVALID_SDP', `invalid SDP offer: ${refused[1]!.slice(0, 200)}`, { cause: e });
      }
      // GStreamer's text names elements, pipelines and paths: the log has it, the client gets the session id.
      session.log.error({ err: e, gst_code: gstErrorCode(e), pipeline: spec.pipelineName }, 'session start failed');
      throw new AppError('PIPELINE_START_FAILED', `the session could not be started (server log: session ${spec.id})`, {
        details: { session_id: spec.id },
        cause: e,
      });
    }
  }

  get audioSource(): AudioSource {
    return this.spec.audioSource ?? 'file';
  }

  /** Live audio (audio_source "push"): see LiveInput.pushAudio. Returns false once the session no longer takes audio. */
  pushAudio(data: Buffer, caps?: string, durationS?: number): boolean {
    return this.live?.pushAudio(data, caps, durationS) ?? false;
  }

  /** Live audio: see LiveInput.pushOpus. Returns false once the session no longer takes audio. */
  pushOpus(packets: readonly Buffer[], channels: 1 | 2, durationS: number): boolean {
    return this.live?.pushOpus(packets, channels, durationS) ?? false;
  }

  /** Push sessions: seconds of pushed audio not yet played (0 for other sessions). */
  get queuedAudioS(): number {
    return this.live?.queuedS ?? 0;
  }

  /** Drops audio queued in the element and returns the face to idle (push sessions). */
  interrupt(): void {
    if (this.audioSource !== 'push') {
      throw new AppError('SESSION_NOT_LIVE', `session ${this.id} takes its audio from ${this.audioSource === 'mic' ? 'the microphone' : 'a file'}: only push sessions can be interrupted`, {
        details: { session_id: this.id, audio_source: this.audioSource },
      });
    }
    this.live?.interrupt();
  }

  /**
   * Trickle ICE and ICE restart (an RFC 8840 sdpfrag, as WHEP PATCH carries it): see SessionIce.patch.
   * AppError SESSION_NOT_FOUND once the session has ended, INVALID_SDP for a bad fragment.
   */
  patchIce(body: string): PatchResult {
    if (this.closing || !this.iceControl || this.stateValue === 'starting') {
      throw new AppError('SESSION_NOT_FOUND', `session ${this.id} is ${this.closing ? 'closed' : 'still starting'}`, { details: { session_id: this.id } });
    }
    return this.iceControl.patch(body);
  }

  /** The ICE session's entity tag (changes with every restart). */
  get iceEtag(): string {
    return this.iceControl?.etag ?? '"ice-none"';
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
    this.launching = this.ctx.gst.Pipeline.launch(this.spec.description, { name: `session-${this.id}` }).then((p) => {
      // Adopted at once, even when the session ended meanwhile: its teardown closes it.
      this.pipeline = p;
      p.on('error', this.onPipelineError);
      p.on('warning', this.onPipelineWarning);
      p.on('eos', this.onEos);
      p.on('element', this.telemetry.onElement);
      return p;
    });
    const pipeline = await this.launching;
    this.assertOpen();
    if (this.audioSource === 'push') this.live = new LiveInput(pipeline, this.log);
    const webrtc = pipeline.webrtc('webrtc', this.ctx.ice);
    this.webrtc = webrtc;
    // The viewer's microphone: its pad is linked by media kind as webrtcbin adds it (src/native/incoming.c).
    if (this.audioSource === 'mic') webrtc.linkIncoming({ audio: MIC_DEPAY });
    if (this.ctx.bitrate) {
      const knob = bitrateKnob(pipeline.element(VIDEO_ENCODER));
      if (knob) {
        const maxBps = this.ctx.bitrate.maxBps || knob.startBps;
        const minBps = Math.min(this.ctx.bitrate.minBps, maxBps);
        this.abr = new AdaptiveBitrate({ stats: () => webrtc.stats(), knob, minBps, maxBps, log: this.log });
      }
      else this.log.warn({ pipeline: this.spec.pipelineName }, `adaptive bitrate off: no video encoder "${VIDEO_ENCODER}" with a known bitrate property in the template`);
    }
    this.iceControl = new SessionIce(webrtc, this.spec.offerSdp, this.ctx.publicAddress ?? '', this.log);
    // Sized to the RTCP interval the offer negotiated; an offer without RTCP leaves it to ICE and DTLS.
    const rtcpLimit = rtcpSilenceLimitMs(this.spec.offerSdp, this.ctx.timeouts.rtcpSilenceTimeoutMs);
    if (rtcpLimit !== this.ctx.timeouts.rtcpSilenceTimeoutMs) this.log.info({ rtcp_silence_limit_ms: rtcpLimit }, 'RTCP silence limit from the offer');
    this.watchdog = new ConnectionWatchdog(webrtc, { ...this.ctx.timeouts, rtcpSilenceTimeoutMs: rtcpLimit ?? Infinity }, {
      state: (next) => this.setState(next),
      dead: (reason, detail) => void this.close(reason, detail),
    }, this.log);
    // The media timeline starts when the viewer can receive it: until ICE connects the graph waits in
    // PAUSED (the answer and ICE need no data flow), so no speech plays to nobody and nothing queued in
    // front of the transport bursts out at DTLS time (measured: ~600 ms of media in one burst, which
    // Chrome's audio jitter buffer then held for seconds, delaying the sound against the mouth).
    webrtc.on('ice-connection-state', this.onIceForStart);
    await pipeline.setState('paused');
    this.assertOpen();
    const answer = await webrtc.answer(this.spec.offerSdp, {
      // Every template declares its SSRCs in caps (a required placeholder), so the answer names them at once.
      capsWaitMs: 0,
      gatherTimeoutMs: this.ctx.timeouts.iceGatherTimeoutMs,
    });
    this.assertOpen();
    this.setState('answered');
    this.watchdog.armConnectTimeout();
    if (this.eosPending) this.drainAfterEos();
    return this.iceControl.answered(answer);
  }

  private assertOpen(): void {
    // A pipeline error or DELETE can end the session while it is still starting.
    if (this.closing) throw new Error(`session ended while starting (${this.closeReason}${this.closeDetail ? ': ' + this.closeDetail : ''})`);
  }

  private setState(next: SessionState): void {
    if (this.stateValue === next || this.stateValue === 'closing' || this.stateValue === 'closed') return;
    this.log.debug({ from: this.stateValue, to: next }, 'session state');
    this.stateValue = next;
    if (next === 'connected') this.abr?.start();
    this.emit('state', next);
  }

  private readonly onIceForStart = (s: WebRtcIceConnectionState) => {
    if ((s !== 'connected' && s !== 'completed') || this.playing || this.closing || !this.pipeline) return;
    this.playing = true;
    this.webrtc?.off('ice-connection-state', this.onIceForStart);
    this.log.debug({}, 'viewer reachable: starting the media timeline');
    this.pipeline.setState('playing').catch((e: Error) => void this.close('pipeline-error', `could not start playing: ${e.message}`));
  };

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
    this.onDittoEos();
  };

  /**
   * The element finished the file audio. The last frames are still in the encoders and the network: let them
   * drain. A very short file can end before the answer is even out: that is no failure to start, so the
   * drain then begins once the answer is sent.
   */
  private onDittoEos(): void {
    if (this.closing || this.eosTimer || this.eosPending) return;
    this.log.info({ frames_out: this.telemetry.framesOut }, 'ditto element finished the audio');
    if (this.stateValue === 'starting') this.eosPending = true;
    else this.drainAfterEos();
  }

  private drainAfterEos(): void {
    this.eosPending = false;
    if (this.closing || this.eosTimer) return;
    this.eosTimer = setTimeout(() => void this.close('eos', 'end of the audio'), EOS_DRAIN_MS);
  }

  snapshot(): SessionSnapshot {
    let msSinceRtcp: number | null = null;
    let latency: number | null = null;
    if (!this.closing) {
      try {
        msSinceRtcp = this.watchdog?.msSinceLastRtcp() ?? null;
        latency = this.pipeline?.latencyMs() ?? null;
      } catch {
        // the pipeline may be closing underneath us: stats are best effort
      }
    }
    const w = this.watchdog;
    return {
      session_id: this.id,
      state: this.stateValue,
      created_at: new Date(this.createdAt).toISOString(),
      age_s: (Date.now() - this.createdAt) / 1000,
      pipeline: this.spec.pipelineName,
      video_codec: this.spec.codecs.video.codec,
      audio_codec: this.spec.codecs.audio.codec,
      params: this.spec.params,
      connection_state: w?.connectionState ?? null,
      ice_connection_state: w?.iceConnectionState ?? null,
      ice_gathering_state: w?.iceGatheringState ?? null,
      ...this.telemetry.figures(),
      ms_since_last_rtcp: msSinceRtcp,
      latency_ms: latency,
      close_reason: this.closeReason,
      close_detail: this.closeDetail,
      audio_source: this.audioSource,
      ...(this.audioSource === 'push' ? { pushed_audio_s: this.live?.pushedS ?? 0, interrupts: this.live?.interrupts ?? 0 } : {}),
    };
  }

  /** Snapshot plus webrtcbin's RTP stats and the bitrate since the previous call. */
  async detail(): Promise<SessionDetail> {
    let rtp: RtpSummary | null = null;
    if (this.webrtc && !this.closing && this.stateValue !== 'starting') {
      rtp = await this.telemetry.rtp(this.webrtc, this.watchdog?.connectedAt ?? null);
    }
    return {
      ...this.snapshot(),
      bitrate_bps: this.telemetry.bitrateBps,
      rtp,
      element_stats: this.telemetry.elementStats,
      face: this.telemetry.face,
      adaptive_bitrate: this.abr?.snapshot() ?? null,
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
    if (this.eosTimer) clearTimeout(this.eosTimer);
    this.eosTimer = null;
    this.watchdog?.stop();
    this.abr?.stop();
    this.iceControl?.stop();
    this.live?.stop();
    const level = FAILURE_REASONS.has(reason) ? 'warn' : 'info';
    this.log[level]({ reason, detail, age_s: (Date.now() - this.createdAt) / 1000 }, 'closing session');
    // A graph still being parsed is closed like the others once it exists (a failed parse leaves none).
    if (!this.pipeline) await this.launching?.catch(() => undefined);
    const pipeline = this.pipeline;
    if (pipeline) {
      // The error listener stays until close() resolves (no events come after that): an error posted while
      // the graph stops must still have a listener, or the GStreamer layer reports it as unhandled.
      pipeline.off('warning', this.onPipelineWarning);
      pipeline.off('eos', this.onEos);
      pipeline.off('element', this.telemetry.onElement);
      let deadline: NodeJS.Timeout | undefined;
      const overran = new Promise<'overran'>((resolve) => (deadline = setTimeout(() => resolve('overran'), TEARDOWN_DEADLINE_MS)));
      const stopped = pipeline.close().then(
        () => 'stopped' as const,
        (e: unknown) => {
          this.log.error({ err: e }, 'pipeline close failed');
          return 'stopped' as const;
        },
      );
      const outcome = await Promise.race([stopped, overran]);
      clearTimeout(deadline);
      if (outcome === 'overran') {
        this.log.error({ deadline_ms: TEARDOWN_DEADLINE_MS }, 'pipeline teardown overran its deadline: the session is released, the graph stops in the background');
        void stopped.then(() => {
          pipeline.off('error', this.onPipelineError);
          this.log.info({}, 'late pipeline teardown finished');
        });
      } else pipeline.off('error', this.onPipelineError);
    }
    this.stateValue = 'closed';
    this.emit('state', 'closed');
    this.emit('closed', { reason, detail });
  }
}
