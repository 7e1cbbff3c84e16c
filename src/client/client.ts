import { rm } from 'node:fs/promises';
import type { VideoCodec } from '../config/schema.js';
import { AppError } from '../errors.js';
import { agentIceFromClientServers } from '../ice/ice-servers.js';
import type { IceConfig, Pipeline, WebRtcBin } from '../gst/index.js';
import type { GstApi } from '../gst/loader.js';
import { receiverDescription, TRANSCEIVER_CAPS } from './receiver-pipeline.js';
import type { Container } from './record.js';
import type { OfferAnswer, ServerApi } from './server-api.js';
import { formatStats, StatsMeter, type StatsSample } from './stats.js';

/**
 * One client session: our webrtcbin offers recvonly audio + video, the server answers (POST /webrtc/offer),
 * media is recorded as received and/or measured, and the session ends on --duration, on a signal, when the
 * server ends it (it disappears or reports closed) or when the connection fails. It always ends the same
 * way: recording finished with EOS, the server's session deleted, the pipeline closed.
 */

export interface ClientOptions {
  audioPath: string;
  sourcePath: string;
  videoCodec: VideoCodec;
  record: { path: string; container: Container } | null;
  stats: boolean;
  durationS: number | null;
  latencyMs: number;
  ice: IceConfig;
  /** Only the tuning values the user gave; the server's defaults apply to the rest. */
  setupKwargs: Record<string, unknown>;
  runKwargs: Record<string, unknown>;
  connectTimeoutMs: number;
}

export type EndReason = 'duration' | 'signal' | 'session-ended' | 'connection-failed';

export interface ClientResult {
  sessionId: string;
  endReason: EndReason;
  videoCodec: string;
  videoFrames: number;
  audioPackets: number;
  receivedS: number;
  recordPath: string | null;
  /** Video frames written to the recording (counted behind the valve once the file is finished); null without one. */
  recordedFrames: number | null;
  last: StatsSample | null;
}

export interface ClientIo {
  out: (line: string) => void;
  err: (line: string) => void;
  signal: AbortSignal;
}

const TICK_MS = 1000;
const RECORD_FINISH_MS = 5000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export class ClientSession {
  private pipeline: Pipeline | null = null;
  private webrtc: WebRtcBin | null = null;
  private sessionId: string | null = null;
  private pipelineError: string | null = null;
  private connection = 'new';
  private ended: EndReason | null = null;
  /** Connected: from here on the recording is kept (and finished) whatever ends the session. */
  private receiving = false;
  private recordedFrames: number | null = null;
  private readonly wake = new AbortController();

  constructor(
    private readonly gst: GstApi,
    private readonly api: ServerApi,
    private readonly opts: ClientOptions,
    private readonly io: ClientIo,
  ) {}

  async run(): Promise<ClientResult> {
    const onAbort = () => this.end('signal');
    this.io.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const answer = await this.negotiate();
      await this.awaitConnection();
      const result = await this.receive(answer);
      await this.close();
      return { ...result, recordedFrames: this.recordedFrames };
    } finally {
      this.io.signal.removeEventListener('abort', onAbort);
      await this.close();
    }
  }

  private end(reason: EndReason): void {
    if (this.ended) return;
    this.ended = reason;
    this.wake.abort();
  }

  private async negotiate(): Promise<OfferAnswer> {
    const o = this.opts;
    const graph = receiverDescription({ videoCodec: o.videoCodec, latencyMs: o.latencyMs, record: o.record });
    const p = await this.gst.Pipeline.launch(graph.description, { name: 'ditto-client' });
    this.pipeline = p;
    p.on('error', (e) => {
      this.pipelineError ??= `${e.source}: ${e.message}`;
      this.end('connection-failed');
    });
    // The server's STUN/TURN servers (TURN credentials minted for us) join what the command line gave.
    const served = agentIceFromClientServers(await this.api.iceServers());
    const webrtc = p.webrtc('webrtc', {
      ...o.ice,
      ...(o.ice.stunServer || !served.stunServer ? {} : { stunServer: served.stunServer }),
      turnServers: [...(o.ice.turnServers ?? []), ...served.turnServers],
    });
    this.webrtc = webrtc;
    webrtc.on('connection-state', (s) => {
      this.connection = s;
      if (s === 'failed' || s === 'closed') this.end('connection-failed');
    });
    webrtc.addRecvonlyTransceiver(TRANSCEIVER_CAPS[o.videoCodec]);
    webrtc.addRecvonlyTransceiver(TRANSCEIVER_CAPS.OPUS);
    webrtc.linkIncoming(graph.incoming);
    p.element('vout').watchPad('src');
    p.element('aout').watchPad('src');
    // What reaches the file: frames can still arrive between the last stats sample and the valve closing.
    if (o.record) p.element('vvalve').watchPad('src');
    await p.setState('playing');
    const offer = await webrtc.offer();
    if (this.ended) throw new AppError('VALIDATION_FAILED', 'stopped before the offer was sent');
    // No video hold: the server's default compensates a browser's deeper audio buffer, and rtpbin plays both
    // streams on their arrival time (a held video was recorded 50 ms behind its sound).
    const body: Record<string, unknown> = { sdp: offer, type: 'offer', audio_path: o.audioPath, source_path: o.sourcePath, video_hold_ms: 0 };
    if (Object.keys(o.setupKwargs).length) body['setup_kwargs'] = o.setupKwargs;
    if (Object.keys(o.runKwargs).length) body['run_kwargs'] = o.runKwargs;
    const answer = await this.api.offer(body);
    this.sessionId = answer.session_id;
    // 'default' only says the server's own default applies to a value we did not give: not worth a line.
    for (const w of (answer.warnings ?? []).filter((x) => x.code !== 'default')) this.io.err(`server warning: ${w.field}: ${w.message}`);
    await webrtc.acceptAnswer(answer.sdp);
    this.io.err(`session ${answer.session_id}: ${String(answer.params.video_codec ?? o.videoCodec)} + Opus`);
    return answer;
  }

  private async awaitConnection(): Promise<void> {
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    while (this.connection !== 'connected' && !this.ended) {
      if (Date.now() >= deadline) throw new AppError('PIPELINE_START_FAILED', `no WebRTC connection within ${this.opts.connectTimeoutMs} ms (state ${this.connection})`);
      await sleep(20, this.wake.signal);
    }
    if (this.ended === 'connection-failed') throw this.failure();
  }

  private failure(): AppError {
    return new AppError('PIPELINE_START_FAILED', this.pipelineError ? `receiving pipeline failed: ${this.pipelineError}` : `WebRTC connection ${this.connection}`);
  }

  private async receive(answer: OfferAnswer): Promise<ClientResult> {
    this.receiving = true;
    const started = Date.now();
    const meter = new StatsMeter(started);
    let last: StatsSample | null = null;
    const stopAt = this.opts.durationS === null ? null : started + this.opts.durationS * 1000;
    let nextTick = started + TICK_MS;
    while (!this.ended) {
      const wait = Math.min(nextTick, stopAt ?? Infinity) - Date.now();
      if (wait > 0) await sleep(wait, this.wake.signal);
      if (this.ended) break;
      if (stopAt !== null && Date.now() >= stopAt) {
        this.end('duration');
        break;
      }
      if (Date.now() < nextTick) continue;
      nextTick += TICK_MS;
      last = await this.sample(meter);
      if (this.opts.stats && last) this.io.out(formatStats(last));
      // The server ends a file session at the end of its audio: the session disappears or reports closed.
      const detail = await this.api.session(answer.session_id).catch(() => undefined);
      if (detail === null || detail?.['state'] === 'closed' || detail?.['state'] === 'closing') this.end('session-ended');
    }
    if (this.ended === 'connection-failed' && this.pipelineError) throw this.failure();
    const final = (await this.sample(meter)) ?? last;
    return {
      sessionId: answer.session_id,
      endReason: this.ended!,
      videoCodec: String(answer.params.video_codec ?? this.opts.videoCodec),
      videoFrames: final?.videoFrames ?? 0,
      audioPackets: final?.audioPackets ?? 0,
      receivedS: (Date.now() - started) / 1000,
      recordPath: this.opts.record?.path ?? null,
      recordedFrames: null,
      last: final,
    };
  }

  private async sample(meter: StatsMeter): Promise<StatsSample | null> {
    const p = this.pipeline;
    if (!p || p.closed) return null;
    const rtp = await this.webrtc!.stats().catch(() => null);
    if (p.closed) return null;
    return meter.sample({
      atMs: Date.now(),
      video: p.element('vout').padCounters('src'),
      audio: p.element('aout').padCounters('src'),
      rtp,
      connection: this.connection,
    });
  }

  /** Idempotent teardown: finish the recording, delete the server's session, close the pipeline. */
  private async close(): Promise<void> {
    const p = this.pipeline;
    const id = this.sessionId;
    this.pipeline = null;
    this.sessionId = null;
    const deleting = id ? this.api.deleteSession(id).catch((e: Error) => this.io.err(`could not delete session ${id}: ${e.message}`)) : null;
    const record = this.opts.record;
    if (p && record && this.receiving && !p.closed) {
      await this.finishRecording(p).catch((e: Error) => this.io.err(`recording not finalized: ${e.message}`));
      if (!p.closed) this.recordedFrames = p.element('vvalve').padCounters('src').buffers;
    }
    await deleting;
    if (p) await p.close();
    // The filesink opened the file before the offer: a session that never got to receive leaves no empty file.
    if (record && !this.receiving) await rm(record.path, { force: true }).catch(() => undefined);
  }

  /**
   * Stops the flow at the valves, then EOS through both branches: the muxer writes its index (Matroska cues,
   * the MP4 moov) and passes EOS to the filesink. The pipeline itself never posts EOS (webrtcbin's own network
   * sinks never get one), so the filesink's pad tells when the file is complete.
   */
  private async finishRecording(p: Pipeline): Promise<void> {
    for (const v of ['vvalve', 'avalve']) p.element(v).set('drop', true);
    await Promise.all(['vvalve', 'avalve'].map((v) => p.element(v).sendEos()));
    const deadline = Date.now() + RECORD_FINISH_MS;
    while (!p.element('file').padCounters('sink').eos) {
      if (this.pipelineError) throw new AppError('INTERNAL', `the recording failed: ${this.pipelineError}`);
      if (Date.now() >= deadline) throw new AppError('INTERNAL', `the muxer did not finish within ${RECORD_FINISH_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
