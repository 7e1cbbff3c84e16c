import { randomInt } from 'node:crypto';
import { z } from 'zod';
import type { ServerConfig, VideoCodec } from '../config/schema.js';
import { AppError } from '../errors.js';
import type { GstLoader } from '../gst/loader.js';
import { resolveMediaPath, type MediaPolicy } from './media-paths.js';
import { offerPayloadSchema, offerSendsAudio, resolveAudioSource, resolveOfferParams, type ParamWarning, type SessionParams } from './offer-params.js';
import { renderTemplate, type PipelineCatalog, type PipelineTemplate } from '../pipelines/pipeline-template.js';
import { parseOffer, selectCodecs } from './sdp-offer.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { AudioSource } from '../sessions/session.js';
import { selectTemplates, type TemplateSelection } from '../pipelines/template-selection.js';
import type { DittoWorkerPool } from '../workers/worker-pool.js';
import type { MediaCheck } from '../uploads/media-check.js';

/**
 * POST /webrtc/offer without the HTTP: validate the predecessor's payload, resolve media paths, read the SDP,
 * pick the pipeline for the negotiated codec, fill its template and start the session. Every refusal is an
 * AppError with a stable code; the answer goes back as soon as webrtcbin has produced it.
 */

export interface AnswerBody {
  sdp: string;
  type: 'answer';
  session_id: string;
  params: SessionParams & {
    video_codec: VideoCodec;
    audio_codec: 'OPUS';
    video_pt: number;
    audio_pt: number;
    pipeline: string;
    audio_source: AudioSource;
  };
  warnings: ParamWarning[];
}

export interface OfferServiceDeps {
  config: ServerConfig;
  catalog: PipelineCatalog;
  sessions: SessionManager;
  loadGst: GstLoader;
  /** backend "ditto": the worker pool every session reserves a worker from before its pipeline is built. */
  workers?: DittoWorkerPool | null;
  /** Content checks of the offer's media files, before any graph is built. */
  media: MediaCheck;
}

export function validationError(error: z.ZodError, what = 'request body'): AppError {
  return new AppError('VALIDATION_FAILED', `invalid ${what}: ${error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
    details: error.issues.map((i) => ({ path: i.path.join('.'), code: i.code, message: i.message })),
  });
}

export class OfferService {
  private usable: Promise<Map<VideoCodec, PipelineTemplate>> | null = null;

  constructor(private readonly deps: OfferServiceDeps) {}

  private get mediaPolicy(): MediaPolicy {
    const { media, uploadDir } = this.deps.config;
    return { dirs: [...media.dirs, uploadDir], audioExtensions: media.audioExtensions, imageExtensions: media.imageExtensions };
  }

  /**
   * The template for each codec whose elements all exist in this GStreamer installation (probed once), in the
   * configured order of codec preference: the configured one, else the next usable one for the same codec
   * (template-selection.ts). A missing encoder falls back or disables its codec instead of failing offers later.
   */
  usableTemplates(): Promise<Map<VideoCodec, PipelineTemplate>> {
    if (!this.usable) {
      this.usable = (async () => {
        const gst = await this.deps.loadGst();
        // backend "ditto" binds each session to its reserved worker through {{backend_options}}.
        const needs = this.deps.workers ? ['backend_options'] : [];
        const selection = selectTemplates(this.deps.catalog, this.deps.config.pipelines.codecPreference, (f) => gst.hasElementFactory(f), needs);
        this.onSelected?.(selection);
        return selection.usable;
      })();
      this.usable.catch(() => {
        this.usable = null;
      });
    }
    return this.usable;
  }

  /** Called once templates are chosen, so the app can log fallbacks and disabled codecs. */
  onSelected: ((selection: TemplateSelection) => void) | null = null;

  async answer(body: unknown): Promise<AnswerBody> {
    const parsed = offerPayloadSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error, 'offer payload');
    const payload = parsed.data;
    const { params, warnings } = resolveOfferParams(payload, this.deps.config.element);
    const audioSource = resolveAudioSource(payload);
    if (audioSource === 'file' && payload.audio_path === undefined) {
      throw new AppError('VALIDATION_FAILED', 'invalid offer payload: audio_path: required unless audio_source is "push" or "mic"', {
        details: [{ path: 'audio_path', code: 'invalid_type', message: 'required unless audio_source is "push" or "mic"' }],
      });
    }
    // The microphone comes on the offer's audio m-line: the browser must send on it.
    if (audioSource === 'mic' && !offerSendsAudio(payload.sdp)) {
      throw new AppError('OFFER_MEDIA_MISSING', 'audio_source "mic" needs an offer whose audio section sends (sendrecv): add the microphone track before creating the offer', {
        details: { audio_source: 'mic' },
      });
    }
    if (audioSource !== 'file' && payload.audio_path !== undefined) {
      warnings.push({ field: 'audio_path', code: 'ignored', message: `audio_path ignored: audio_source is "${audioSource}"` });
    }
    const [audioPath, imagePath] = await Promise.all([
      audioSource === 'file' ? resolveMediaPath(payload.audio_path!, 'audio', this.mediaPolicy) : Promise.resolve(''),
      resolveMediaPath(payload.source_path, 'image', this.mediaPolicy),
    ]);
    const media = parseOffer(payload.sdp);
    // Checked against the configured codecs first, so a bad offer is refused without touching GStreamer.
    const configured = this.deps.config.pipelines.codecPreference.filter((c) => this.deps.catalog.byCodec.has(c));
    selectCodecs(media, configured);
    // Refuse early at capacity: no GStreamer work for an offer we cannot take.
    this.deps.sessions.assertAdmissible();
    // A bad file is the client's mistake (4xx with its code), found before a graph is built (cached by content).
    await Promise.all([
      audioSource === 'file' ? this.deps.media.check(audioPath, 'audio', 'audio_path') : null,
      this.deps.media.check(imagePath, 'image', 'source_path'),
    ]);
    const templates = await this.usableTemplates();
    if (templates.size === 0) {
      throw new AppError('PIPELINE_START_FAILED', 'no session pipeline is usable: required GStreamer elements are missing (see the server log)');
    }
    const codecs = selectCodecs(media, [...templates.keys()]);
    const template = templates.get(codecs.video.codec)!;
    const id = this.deps.sessions.newId();
    // backend "ditto": hold a worker before building anything (503 AT_CAPACITY / MODEL_UNAVAILABLE otherwise).
    const worker = this.deps.workers ? await this.deps.workers.reserve(id) : null;
    let answer: string;
    try {
      const description = renderTemplate(template, {
        audio_source: ({ file: 'file', push: 'live', mic: 'webrtc' } as const)[audioSource],
        audio_path: audioPath,
        source_image: imagePath,
        frame_scale: params.frame_scale,
        sampling_timesteps: params.sampling_timesteps,
        chunk_config: params.chunk_config,
        chunk_sleep: params.chunk_sleep_s,
        backend: this.deps.config.element.backend,
        video_pt: codecs.video.pt,
        audio_pt: codecs.audio.pt,
        ...randomSsrcs(),
        webrtc_latency: this.deps.config.pipelines.webrtcLatencyMs,
        video_hold_ms: payload.video_hold_ms ?? this.deps.config.pipelines.videoHoldMs,
        h264_profile_level_id: codecs.video.profileLevelId,
        worker: worker ? { socket: worker.socket, ticket: worker.ticket, timeoutS: worker.timeoutS } : null,
      });
      const started = await this.deps.sessions.create({
        id,
        description,
        offerSdp: payload.sdp,
        pipelineName: template.name,
        codecs,
        params,
        audioSource,
      });
      answer = started.answer;
      // Cancels the reservation if the session ends before its element claimed the worker.
      if (worker) started.session.once('closed', () => void this.deps.workers!.release(id));
    } catch (e) {
      // The element never claimed the worker: give it back now rather than when the reservation expires.
      if (worker) void this.deps.workers!.release(id);
      throw e;
    }
    return {
      sdp: answer,
      type: 'answer',
      session_id: id,
      params: {
        ...params,
        video_codec: codecs.video.codec,
        audio_codec: codecs.audio.codec,
        video_pt: codecs.video.pt,
        audio_pt: codecs.audio.pt,
        pipeline: template.name,
        audio_source: audioSource,
      },
      warnings,
    };
  }
}

/** Two distinct non-zero RTP SSRCs for one session's video and audio. */
function randomSsrcs(): { video_ssrc: number; audio_ssrc: number } {
  const video = randomInt(1, 0xffffffff);
  const audio = randomInt(1, 0xffffffff);
  return { video_ssrc: video, audio_ssrc: audio === video ? (video % 0xfffffffe) + 1 : audio };
}
