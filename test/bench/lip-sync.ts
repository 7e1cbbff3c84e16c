/**
 * Lip-sync measurement by content: a test clip of tone bursts (silence, then bursts of a vowel-like tone at
 * irregular times) makes the animated mouth open and close; the offset between what the viewer sees and
 * hears is the lag that best aligns the mouth-region change with the audio level (cross-correlation).
 *
 * The same computation runs on two inputs, so sender and receiver can be told apart:
 *  - elementOffsetMs(): the element's own output (offline, straight from GStreamer, frame k shown during
 *    [40k, 40k + 40) ms against the clip itself) — what the animation does by construction;
 *  - receivedOffsetMs(): a Chromium receiver's capture (ChromiumReceiver.timeline()) — what the viewer gets.
 *  - recordingTimeline(): what a GStreamer receiver (`ditto-gst client --record`: webrtcbin, rtpbin's
 *    RTCP-based stream sync) recorded — the sender's timing without the browser's playout.
 * Their differences tell the element, the sender (encoders, RTP/RTCP) and the browser apart.
 *
 * Sign, as Chrome's estimatedPlayoutTimestamp video - audio: positive = video ahead (the mouth moves before
 * the sound), negative = video late.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureOptions, ReceivedTimeline } from '../helpers/chromium.js';
import { probe } from '../helpers/gst-probe.js';

const RATE = 16_000;
const FRAME_MS = 40;
const GRID_MS = 5;
const MAX_LAG_MS = 300;

/** Where the demo portrait's mouth is in the element's output (x, y, width, height as fractions). */
export const DEMO_MOUTH_REGION: CaptureOptions['region'] = [0.33, 0.26, 0.25, 0.16];

/** Burst onsets (s) and lengths (s) after the lead-in silence: irregular, so no lag aliases another. */
export const BURSTS: readonly [onsetS: number, lengthS: number][] = [
  [0.5, 0.3], [1.25, 0.2], [1.85, 0.45], [2.9, 0.25], [3.45, 0.35], [4.4, 0.2], [4.95, 0.5], [6.0, 0.3],
  [6.7, 0.25], [7.6, 0.4], [8.45, 0.2], [9.0, 0.35],
];

/** The bursts' pattern repeats with this period (s) in clips longer than one pattern. */
export const BURST_PERIOD_S = 10;

/**
 * A 16 kHz mono 16-bit WAV: `leadS` of silence, then the bursts (a 600 Hz tone with two harmonics),
 * repeated every BURST_PERIOD_S to the end, so a long measurement has bursts all through its window.
 */
export function toneBurstWav(leadS = 0, totalS = 10): Buffer {
  const n = Math.round(totalS * RATE);
  const pcm = Buffer.alloc(44 + n * 2);
  const repeats = Math.max(1, Math.ceil((totalS - leadS) / BURST_PERIOD_S));
  const bursts = Array.from({ length: repeats }, (_, r) => BURSTS.map(([onset, len]) => [onset + r * BURST_PERIOD_S, len] as const)).flat();
  for (const [onset, len] of bursts) {
    const a = Math.round((leadS + onset) * RATE);
    const b = Math.min(n, a + Math.round(len * RATE));
    for (let i = a; i < b; i++) {
      const t = (i - a) / RATE;
      // 5 ms ramps: a clean onset without a click.
      const ramp = Math.min(1, t / 0.005, (b - i) / RATE / 0.005);
      const x = 0.3 * Math.sin(2 * Math.PI * 600 * t) + 0.1 * Math.sin(2 * Math.PI * 1200 * t) + 0.05 * Math.sin(2 * Math.PI * 2400 * t);
      pcm.writeInt16LE(Math.round(x * ramp * 32767), 44 + i * 2);
    }
  }
  pcm.write('RIFF', 0);
  pcm.writeUInt32LE(36 + n * 2, 4);
  pcm.write('WAVEfmt ', 8);
  pcm.writeUInt32LE(16, 16);
  pcm.writeUInt16LE(1, 20);
  pcm.writeUInt16LE(1, 22);
  pcm.writeUInt32LE(RATE, 24);
  pcm.writeUInt32LE(RATE * 2, 28);
  pcm.writeUInt16LE(2, 32);
  pcm.writeUInt16LE(16, 34);
  pcm.write('data', 36);
  pcm.writeUInt32LE(n * 2, 40);
  return pcm;
}

/** A step function sampled on a grid: the value of the last point at or before each grid time. */
function sampleHeld(points: readonly [number, number][], t0: number, n: number): Float64Array {
  const out = new Float64Array(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const t = t0 + i * GRID_MS;
    while (j + 1 < points.length && points[j + 1]![0] <= t) j++;
    out[i] = points[j]![1];
  }
  return out;
}

/** Mean over a centred window of `w` samples (the audio level over one video frame's span). */
function boxSmooth(x: Float64Array, w: number): Float64Array {
  const out = new Float64Array(x.length);
  let s = 0;
  const h = Math.floor(w / 2);
  for (let i = 0; i < x.length + h; i++) {
    if (i < x.length) s += x[i]!;
    if (i - w >= 0) s -= x[i - w]!;
    const c = i - h;
    if (c >= 0 && c < x.length) out[c] = s / Math.min(w, i + 1);
  }
  return out;
}

function normalise(x: Float64Array): Float64Array {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  const sd = Math.sqrt(x.reduce((a, b) => a + (b - m) ** 2, 0) / x.length) || 1;
  return x.map((v) => (v - m) / sd);
}

export interface OffsetResult {
  /** How far the video is ahead of the sound at the best alignment, ms (negative: video late). */
  offsetMs: number;
  /** Normalised correlation at that lag (1: identical shapes); low values mean the figure is not trustworthy. */
  correlation: number;
}

/** The lag (ms) that best aligns the mouth signal with the audio level; points are [ms, value], sorted. */
export function envelopeOffset(video: readonly [number, number][], audio: readonly [number, number][]): OffsetResult {
  if (video.length < 10 || audio.length < 10) return { offsetMs: NaN, correlation: 0 };
  const t0 = Math.max(video[0]![0], audio[0]![0]) + MAX_LAG_MS;
  const t1 = Math.min(video[video.length - 1]![0], audio[audio.length - 1]![0]) - MAX_LAG_MS;
  const n = Math.floor((t1 - t0) / GRID_MS);
  if (n < 100) return { offsetMs: NaN, correlation: 0 };
  const maxLag = MAX_LAG_MS / GRID_MS;
  const v = normalise(sampleHeld(video, t0, n));
  // Audio over the whole lag range, so every lag compares the same video span.
  const aStart = t0 - MAX_LAG_MS;
  const a = normalise(boxSmooth(sampleHeld(audio, aStart, n + 2 * maxLag), FRAME_MS / GRID_MS));
  let best = -Infinity;
  let bestLag = 0;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    // video(t) against audio(t - lag): a late video matches earlier audio.
    let s = 0;
    for (let i = 0; i < n; i++) s += v[i]! * a[i + maxLag - lag]!;
    if (s > best) {
      best = s;
      bestLag = lag;
    }
  }
  return { offsetMs: -bestLag * GRID_MS, correlation: best / n };
}

/** Audio level per 128-sample block of a 16-bit mono WAV (44-byte header), as [ms, rms] points. */
function wavLevels(wav: Buffer): [number, number][] {
  const n = (wav.length - 44) / 2;
  const out: [number, number][] = [];
  for (let k = 0; k + 128 <= n; k += 128) {
    let s = 0;
    for (let i = k; i < k + 128; i++) s += (wav.readInt16LE(44 + i * 2) / 32768) ** 2;
    out.push([(k / RATE) * 1000, Math.sqrt(s / 128)]);
  }
  return out;
}

/** Mouth-region signal per frame, computed like the page does: mean |ΔY| of a 32x32 luma crop against frame 0. */
function mouthSignal(gray: Buffer, frames: number): [number, number][] {
  const px = 32 * 32;
  const out: [number, number][] = [];
  for (let k = 0; k < frames; k++) {
    let s = 0;
    for (let i = 0; i < px; i++) s += Math.abs(gray[k * px + i]! - gray[i]!);
    out.push([k * FRAME_MS, s / px]);
  }
  return out;
}

/**
 * The element's own audio-to-mouth offset: the clip through dittotalkinghead offline, the mouth region of
 * every frame (the same crop as the page's) against the clip's level, frame k shown during [40k, 40k + 40).
 */
export function elementOffsetMs(opts: { pluginDir: string; imagePath: string; region: CaptureOptions['region']; chunkConfig?: string }): OffsetResult {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-lipsync-'));
  try {
    const wav = toneBurstWav(0.5);
    const wavPath = join(dir, 'bursts.wav');
    const rawPath = join(dir, 'mouth.gray');
    writeFileSync(wavPath, wav);
    // The page's crop of the 512x512 output, scaled to 32x32 luma.
    const [x, y, w, h] = opts.region.map((f) => Math.round(f * 512)) as [number, number, number, number];
    const r = spawnSync('gst-launch-1.0', ['-q',
      'filesrc', `location=${wavPath}`, '!', 'wavparse', '!', 'audioconvert', '!', 'audioresample', '!',
      'audio/x-raw,rate=16000,channels=1', '!', 'dittotalkinghead', 'name=d', 'mode=offline',
      `source-image=${opts.imagePath}`, `chunk-config=${opts.chunkConfig ?? '3,5,2'}`,
      'd.video', '!', 'videoconvert', '!', 'video/x-raw,format=I420,width=512,height=512', '!',
      'videocrop', `left=${x}`, `right=${512 - x - w}`, `top=${y}`, `bottom=${512 - y - h}`, '!', 'videoscale', '!', 'videoconvert', '!',
      'video/x-raw,format=GRAY8,width=32,height=32', '!', 'filesink', `location=${rawPath}`,
      'd.audio', '!', 'fakesink'], { env: { ...process.env, GST_PLUGIN_PATH: opts.pluginDir }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`element offset pipeline failed: ${r.stderr}`);
    const gray = readFileSync(rawPath);
    return envelopeOffset(mouthSignal(gray, Math.floor(gray.length / 1024)), wavLevels(wav));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The viewer's offset from a capture; `fromMs` skips the start (Chrome's A/V sync needs RTCP first). */
export function receivedOffsetMs(tl: ReceivedTimeline, fromMs = 0): OffsetResult {
  const start = (tl.video[0]?.[0] ?? 0) + fromMs;
  return envelopeOffset(tl.video.filter((p) => p[0] >= start), tl.audio.filter((p) => p[0] >= start));
}

/**
 * When the first burst is heard, relative to the first video frame shown (ms): the clip's first burst is
 * at leadS + BURSTS[0] in the file, so a session that starts its timeline when the viewer can receive it
 * hears it that long after the first frame. Null when no burst was heard.
 */
export function firstBurstAfterFirstFrameMs(tl: ReceivedTimeline, threshold = 0.05): number | null {
  const first = tl.video[0]?.[0];
  const onset = tl.audio.find((p) => p[1] > threshold && (first === undefined || p[0] >= first - 500));
  return first === undefined || !onset ? null : onset[0] - first;
}

/**
 * The timeline of a recording (Matroska, VP8 + Opus) as a GStreamer receiver wrote it, on its running time:
 * video frames at their PTS (25 fps from the first), the mouth region as the page computes it, and the
 * decoded audio's level from the first audio PTS on.
 */
export async function recordingTimeline(path: string, region: CaptureOptions['region']): Promise<ReceivedTimeline> {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-recording-'));
  try {
    const first = await probe(`filesrc location=${path} ! matroskademux name=m m.video_0 ! queue ! fakesink name=vsink m.audio_0 ! queue ! fakesink name=asink`, { timeoutS: 30, maxList: 0 });
    const v0 = first.video.first_pts;
    const a0 = first.audio.first_pts;
    if (v0 === undefined || a0 === undefined) throw new Error(`recording ${path} lacks video or audio`);
    const [x, y, w, h] = region.map((f) => Math.round(f * 512)) as [number, number, number, number];
    const gray = join(dir, 'v.gray');
    const pcm = join(dir, 'a.pcm');
    const r = spawnSync('gst-launch-1.0', ['-q', 'filesrc', `location=${path}`, '!', 'matroskademux', 'name=m',
      'm.video_0', '!', 'queue', '!', 'vp8dec', '!', 'videoconvert', '!', 'videoscale', '!', 'video/x-raw,format=I420,width=512,height=512', '!',
      'videocrop', `left=${x}`, `right=${512 - x - w}`, `top=${y}`, `bottom=${512 - y - h}`, '!', 'videoscale', '!', 'videoconvert', '!',
      'video/x-raw,format=GRAY8,width=32,height=32', '!', 'filesink', `location=${gray}`,
      'm.audio_0', '!', 'queue', '!', 'opusdec', '!', 'audioconvert', '!', 'audioresample', '!',
      'audio/x-raw,format=S16LE,rate=16000,channels=1', '!', 'filesink', `location=${pcm}`], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`decoding ${path} failed: ${r.stderr}`);
    const frames = readFileSync(gray);
    const video = mouthSignal(frames, Math.floor(frames.length / 1024)).map(([t, m]) => [t + v0 / 1e6, m] as [number, number]);
    const audioPcm = readFileSync(pcm);
    const header = Buffer.alloc(44);
    const audio = wavLevels(Buffer.concat([header, audioPcm])).map(([t, l]) => [t + a0 / 1e6, l] as [number, number]);
    return { video, audio };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** When the clip's first burst is heard in a recording, ms after its first audio sample (null: never). */
export function firstBurstInRecordingMs(tl: ReceivedTimeline, threshold = 0.05): number | null {
  const start = tl.audio[0]?.[0];
  const onset = tl.audio.find((p) => p[1] > threshold);
  return start === undefined || !onset ? null : onset[0] - start;
}
