import { extname } from 'node:path';
import { ELEMENT_LIMITS } from '../config/schema.js';
import { AppError } from '../errors.js';
import { quoteLaunchString } from '../pipelines/pipeline-template.js';

/**
 * The offline render graph: audio file -> dittotalkinghead (mode=offline, frames as fast as the backend
 * makes them) -> encoders -> MP4 (H.264 + AAC) or WebM (VP8 + Opus). The same element and backend as a live
 * session; only the mode and the sinks differ. A progressreport element after the decoder reports the
 * audio's duration, which turns the element's frame count into a percentage.
 */

export type RenderContainer = 'mp4' | 'webm';

export interface RenderSpec {
  audioPath: string;
  imagePath: string;
  /** Where the encoder writes (a temporary name; the caller renames it into place when done). */
  outputPath: string;
  container: RenderContainer;
  frameScale: number;
  samplingTimesteps: number;
  chunkConfig: readonly [number, number, number];
  backend: string;
}

export const RENDER_ELEMENT = 'ditto';
export const RENDER_PROGRESS = 'progress';

// Encoder settings for a 512x512 talking head, measured on speech.wav (12.35 s; CPU seconds of the whole
// render): x264 veryfast at its default 2 Mbit/s took 1.50 s and wrote 2.6 MB; superfast at constant quality
// 23 (pass=qual) takes 0.99 s for 0.77 MB — the element itself is 0.3 s. AAC: FFmpeg's default two-loop
// coder took 0.86 s of CPU for 62 s of 16 kHz speech, its fast coder 0.37 s for a file 2 % smaller. VP8: in realtime mode
// (deadline=1) a positive cpu-used lets libvpx pick its speed from how long frames take against their
// 40 ms duration; offline, frames come far faster than that, so it slows down to spend the "spare" time
// (1.35-6 s of CPU for the 309 frames, varying with load). A negative cpu-used pins the speed: -16 encodes
// them in 0.5-0.6 s to the same bytes as a good run at 16. And one thread: libvpx's row threads busy-wait
// for each other, which on two cores shared with the element and the audio branch cost 1.8 s instead of
// 0.45 s of CPU; the graph's queues already run decode, animation and encoding side by side.
const CONTAINER_BRANCHES: Record<RenderContainer, { video: string; audio: string; mux: string }> = {
  mp4: {
    video: 'x264enc speed-preset=superfast pass=qual quantizer=23 key-int-max=50 ! video/x-h264,profile=high ! h264parse',
    audio: 'avenc_aac bitrate=128000 aac-coder=fast ! aacparse',
    mux: 'mp4mux name=mux',
  },
  webm: {
    video: 'vp8enc deadline=1 cpu-used=-16 keyframe-max-dist=50 end-usage=vbr target-bitrate=800000 threads=1',
    audio: 'audioresample ! audio/x-raw,rate=48000 ! opusenc bitrate=64000',
    mux: 'webmmux name=mux',
  },
};

/** Element factories a render into `container` needs (doctor checks them). */
export function renderFactories(container: RenderContainer): string[] {
  const names = renderDescription({
    audioPath: '/a.wav',
    imagePath: '/i.png',
    outputPath: '/o',
    container,
    frameScale: 1,
    samplingTimesteps: 10,
    chunkConfig: [3, 5, 2],
    backend: 'builtin',
  })
    .split(/\s+/)
    .filter((t) => /^[a-z][a-z0-9_]*$/.test(t));
  return [...new Set(names)];
}

export function containerFor(outputPath: string, explicit?: string): RenderContainer {
  const c = (explicit ?? extname(outputPath).slice(1)).toLowerCase();
  if (c === 'mp4' || c === 'm4v' || c === 'mov') return 'mp4';
  if (c === 'webm' || c === 'mkv') return 'webm';
  throw new AppError('VALIDATION_FAILED', `cannot tell the container from "${outputPath}": use an .mp4 or .webm name, or --format mp4|webm`);
}

export function validateRenderParams(p: Pick<RenderSpec, 'frameScale' | 'samplingTimesteps' | 'chunkConfig'>): void {
  const { frameScale, samplingTimesteps, chunkSum, chunkPart } = ELEMENT_LIMITS;
  const bad = (what: string) => {
    throw new AppError('VALIDATION_FAILED', what);
  };
  if (!(p.frameScale >= frameScale.min && p.frameScale <= frameScale.max)) bad(`frame scale must be ${frameScale.min}..${frameScale.max}`);
  if (!Number.isInteger(p.samplingTimesteps) || p.samplingTimesteps < samplingTimesteps.min || p.samplingTimesteps > samplingTimesteps.max) {
    bad(`sampling timesteps must be an integer ${samplingTimesteps.min}..${samplingTimesteps.max}`);
  }
  const sum = p.chunkConfig.reduce((a, b) => a + b, 0);
  if (p.chunkConfig.length !== 3 || p.chunkConfig.some((n) => !Number.isInteger(n) || n < chunkPart.min) || sum < chunkSum.min || sum > chunkSum.max) {
    bad(`chunk config must be three integers >= ${chunkPart.min} adding up to ${chunkSum.min}..${chunkSum.max}`);
  }
}

export function renderDescription(spec: RenderSpec): string {
  validateRenderParams(spec);
  if (!/^[a-z][a-z0-9_-]*$/.test(spec.backend)) throw new AppError('VALIDATION_FAILED', `backend "${spec.backend}" is not a backend name`);
  const b = CONTAINER_BRANCHES[spec.container];
  return [
    `filesrc location=${quoteLaunchString(spec.audioPath)} ! decodebin ! progressreport name=${RENDER_PROGRESS} update-freq=1 silent=true !`,
    'audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 !',
    `dittotalkinghead name=${RENDER_ELEMENT} mode=offline backend=${spec.backend} source-image=${quoteLaunchString(spec.imagePath)}`,
    `frame-scale=${spec.frameScale} sampling-timesteps=${spec.samplingTimesteps} chunk-config=${quoteLaunchString(spec.chunkConfig.join(','))}`,
    `${RENDER_ELEMENT}.video ! queue max-size-buffers=50 ! videoconvert ! video/x-raw,format=I420 ! ${b.video} ! queue ! mux.`,
    `${RENDER_ELEMENT}.audio ! queue max-size-buffers=50 max-size-time=0 max-size-bytes=0 ! audioconvert ! ${b.audio} ! queue ! mux.`,
    `${b.mux} ! filesink location=${quoteLaunchString(spec.outputPath)}`,
  ].join(' ');
}
