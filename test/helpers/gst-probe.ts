/**
 * Runs real GStreamer pipelines against the built ditto plugin (build/plugin, built by the setup step).
 *
 *   const r = await probe(`${speechSrc(wav)} ! ${dittoElement({ 'source-image': PORTRAIT })} ${FAKE_SINKS}`);
 *   r.video.count, r.video.pts, r.audio.sizes, r.errors, r.messages ...
 *
 * `probe` runs build/plugin/tests/ditto-probe, which prints one JSON object about what reached the fakesinks
 * named vsink and asink. `gstLaunch` runs gst-launch-1.0 itself. Both use GST_PLUGIN_PATH=build/plugin/ditto.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PLUGIN_DIR = join(ROOT, 'build', 'plugin', 'ditto');
export const PROBE = join(ROOT, 'build', 'plugin', 'tests', 'ditto-probe');
/** The element again with test backends (backend=slow), built by plugins/tests/plugin; load it alone. */
export const TEST_PLUGIN_DIR = join(ROOT, 'build', 'plugin', 'tests', 'plugin');
export const PORTRAIT = join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg');
export const SPEECH_WAV = join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav');

export const FRAME_NS = 40_000_000;
export const SAMPLES_PER_FRAME = 640;

export interface PadReport {
  count: number;
  eos: boolean;
  gaps: number;
  /** video: buffers whose GstVideoMeta disagrees with the caps */
  bad_meta: number;
  /** video: buffers without a meta smaller than the caps' frame size */
  bad_map: number;
  /** buffers that reached the sink before the eventAtS marker event; -1 without one */
  marker_at: number;
  /** the last SEGMENT event's start (ns), -1: none */
  segment_start: number;
  /** whether that segment carries the seqnum of ProbeOptions.seekS's seek */
  segment_is_seek: boolean;
  /** PTS of the first buffer after that segment, -1: none */
  segment_first_pts: number;
  /** ALLOCATION queries that reached the sink */
  allocation_queries: number;
  /** buffers that came from a buffer pool */
  pooled: number;
  caps: string;
  bytes: number;
  total_duration_ns: number;
  first_pts?: number;
  last_pts?: number;
  last_end?: number;
  min_pts_delta?: number;
  max_pts_delta?: number;
  max_arrival_gap_us?: number;
  first_arrival_us?: number;
  last_arrival_us?: number;
  pts?: number[];
  durations?: number[];
  sizes?: number[];
  arrival_us?: number[];
  /** with a region: mean absolute luma difference against frame 0 */
  region_diff?: number[];
  /** with a region: the same against the previous frame */
  region_step?: number[];
}

export interface BusText {
  source: string;
  message: string;
  debug: string;
  /** the GError's domain, e.g. "gst-stream-error-quark", and its code in that domain (GST_STREAM_ERROR_DECODE = 7) */
  domain: string;
  code: number;
}

export interface Latency {
  live: boolean;
  min_ns: number;
  max_ns: number;
}

export interface ProbeReport {
  parse_error?: string;
  eos: boolean;
  error: boolean;
  timed_out: boolean;
  wall_s: number;
  video: PadReport;
  audio: PadReport;
  errors: BusText[];
  warnings: BusText[];
  /** element messages as GstStructure strings, e.g. "ditto-stats, frames-out=(guint64)25, ..." */
  messages: string[];
  latency: Latency | null;
  element_latency: Latency | null;
  /** the element's latency queried again after the run */
  final_element_latency: Latency | null;
  /** LATENCY messages the element posted */
  latency_messages: number;
  /** the answer to ProbeOptions.acceptCaps; null without it */
  accept_caps: boolean | null;
  /** QOS messages the element posted */
  qos_messages: number;
}

export interface ProbeOptions {
  /** x,y,w,h in output video pixels: per-frame mean absolute luma difference against frame 0 */
  region?: [number, number, number, number];
  timeoutS?: number;
  /** raw S16LE 16 kHz mono pushed into the appsrc named "src" */
  feed?: string;
  feedGap?: [number, number];
  feedFast?: boolean;
  /** timestamp the fed buffers (running time at the feed's start + position; a feedGap leaves a gap in them) */
  feedPts?: boolean;
  /** a serialized custom event ("ditto-probe-marker") after that many seconds of fed audio */
  eventAtS?: number;
  /** a flushing accurate seek to that position (s) once PLAYING */
  seekS?: number;
  /** an error does not end the run: it runs on until EOS or the timeout */
  continueAfterError?: boolean;
  /** [at, len]: a GAP event of len s at at s of audio (implies feedPts; the timestamps after it jump by len) */
  feedGapEvent?: [number, number];
  /** [at, len]: no pushes for len s at at s, then that audio at once with its own timestamps */
  feedStall?: [number, number];
  eosAfterS?: number;
  maxList?: number;
  env?: Record<string, string>;
  /** "seconds:element:prop=value": set a property that long after the start */
  set?: string[];
  /** "seconds:element:signal": emit an action signal that long after the start */
  emit?: string[];
  /** "element:prop=v1,v2": set the property back and forth from a thread for the whole run */
  toggle?: string;
  /** caps to ask the element's sink pad about (ACCEPT_CAPS) before starting */
  acceptCaps?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function gstEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GST_PLUGIN_PATH: PLUGIN_DIR,
    // a private registry so a stale cache from another build never hides our plugin
    GST_REGISTRY: join(tmpdir(), `ditto-gst-registry-${process.getuid?.() ?? 0}.bin`),
    ...extra,
  };
}

/** Environment for probe() that loads the test plugin (the element plus test backends) instead of ours. */
export function testPluginEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    GST_PLUGIN_PATH: TEST_PLUGIN_DIR,
    GST_REGISTRY: join(tmpdir(), `ditto-gst-test-registry-${process.getuid?.() ?? 0}.bin`),
    ...extra,
  };
}

/** Runs a program; kills it after timeoutS (the result then has signal SIGKILL). */
export function run(cmd: string, args: string[], timeoutS = 60, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: env ?? gstEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

export async function probe(description: string, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const args: string[] = [];
  if (opts.region) args.push('--region', opts.region.join(','));
  if (opts.timeoutS !== undefined) args.push('--timeout', String(opts.timeoutS));
  if (opts.feed) args.push('--feed', opts.feed);
  if (opts.feedGap) args.push('--feed-gap', opts.feedGap.join(','));
  if (opts.feedFast) args.push('--feed-fast');
  if (opts.feedPts) args.push('--feed-pts');
  if (opts.eventAtS !== undefined) args.push('--event-at', String(opts.eventAtS));
  if (opts.seekS !== undefined) args.push('--seek', String(opts.seekS));
  if (opts.continueAfterError) args.push('--continue-after-error');
  if (opts.feedStall) args.push('--feed-stall', opts.feedStall.join(','));
  if (opts.feedGapEvent) args.push('--feed-gap-event', opts.feedGapEvent.join(','));
  if (opts.eosAfterS !== undefined) args.push('--eos-after', String(opts.eosAfterS));
  if (opts.maxList !== undefined) args.push('--max-list', String(opts.maxList));
  for (const x of opts.set ?? []) args.push('--set', x);
  for (const x of opts.emit ?? []) args.push('--emit', x);
  if (opts.toggle) args.push('--toggle', opts.toggle);
  if (opts.acceptCaps) args.push('--accept-caps', opts.acceptCaps);
  args.push(description);
  const limit = (opts.timeoutS ?? 60) + 20;
  const r = await run(PROBE, args, limit, gstEnv(opts.env));
  if (r.signal) throw new Error(`ditto-probe killed (${r.signal}) after ${limit}s: ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ProbeReport;
  } catch {
    throw new Error(`ditto-probe printed no JSON (exit ${r.code}): ${r.stdout.slice(-500)} ${r.stderr.slice(-2000)}`);
  }
}

export function gstLaunch(description: string, timeoutS = 60, env: Record<string, string> = {}): Promise<RunResult> {
  return run('gst-launch-1.0', ['-q', ...splitLaunch(description)], timeoutS, gstEnv(env));
}

/** gst-launch takes the description as argv words; quoting is not needed for our descriptions. */
function splitLaunch(description: string): string[] {
  return description.split(/\s+/).filter((w) => w.length > 0);
}

/** A dittotalkinghead element description with properties. */
export function dittoElement(props: Record<string, string | number>, name = 'd'): string {
  const parts = Object.entries(props).map(([k, v]) => `${k}=${v}`);
  return ['dittotalkinghead', `name=${name}`, ...parts].join(' ');
}

/** Decode any audio file to what the element takes. */
export function speechSrc(path: string): string {
  return `filesrc location=${path} ! decodebin ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1`;
}

export const FAKE_SINKS = 'd.video ! fakesink name=vsink d.audio ! fakesink name=asink';
/** An appsrc named "src" taking S16LE 16 kHz mono, for tests that push audio themselves. */
export const S16_APPSRC = 'appsrc name=src format=time caps=audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved';
/** The same as a live source, and sinks that sync to the clock: live mode tests. */
export const LIVE_S16_APPSRC = S16_APPSRC.replace('appsrc name=src', 'appsrc name=src is-live=true');
export const LIVE_FAKE_SINKS = 'd.video ! fakesink name=vsink sync=true d.audio ! fakesink name=asink sync=true';

/** Parses "name, key=(type)value, ..." element messages into plain objects (numbers where numeric). */
export function parseMessage(s: string): { name: string; fields: Record<string, string | number> } {
  const body = s.replace(/;\s*$/, '');
  const first = body.indexOf(',');
  const name = (first < 0 ? body : body.slice(0, first)).trim();
  const fields: Record<string, string | number> = {};
  if (first >= 0) {
    for (const m of body.slice(first + 1).matchAll(/\s*([\w-]+)=\([\w]+\)("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
      const key = m[1] as string;
      const raw = (m[2] as string).replace(/^"|"$/g, '');
      const num = Number(raw);
      fields[key] = raw !== '' && Number.isFinite(num) ? num : raw;
    }
  }
  return { name, fields };
}

export function messagesNamed(r: ProbeReport, name: string): Record<string, string | number>[] {
  return r.messages.map(parseMessage).filter((m) => m.name === name).map((m) => m.fields);
}

export function tempDir(prefix = 'ditto-el-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Fails early with a clear message when the plugin was not built. */
export function requirePlugin(): void {
  if (!existsSync(join(PLUGIN_DIR, 'libgstditto.so')) || !existsSync(PROBE)) {
    throw new Error(
      `ditto plugin not built: run "meson setup build/plugin plugins && ninja -C build/plugin" (looked in ${PLUGIN_DIR})`,
    );
  }
}

/** Makes fixtures with sox: speech (espeak-ng) or tones with silences, as WAV or raw S16LE. */
export async function sox(args: string[]): Promise<void> {
  const r = await run('sox', args, 30, process.env);
  if (r.code !== 0) throw new Error(`sox ${args.join(' ')} failed: ${r.stderr}`);
}

export async function espeak(text: string, wavPath: string): Promise<void> {
  const r = await run('espeak-ng', ['-w', wavPath, text], 30, process.env);
  if (r.code !== 0) throw new Error(`espeak-ng failed: ${r.stderr}`);
}

/** The mouth area of a reported face box (source pixels) in output pixels at a frame scale. */
export function mouthRegion(face: { x: number; y: number; width: number; height: number }, scale = 1): [number, number, number, number] {
  const x = Math.round((face.x + face.width * 0.25) * scale);
  const y = Math.round((face.y + face.height * 0.62) * scale);
  const w = Math.max(2, Math.round(face.width * 0.5 * scale));
  const h = Math.max(2, Math.round(face.height * 0.3 * scale));
  return [x, y, w, h];
}
