import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AppError } from '../errors.js';
import { VIDEO_CODECS, type VideoCodec } from '../config/schema.js';

/**
 * gst-launch-style session graph templates (pipelines/*.pipeline). A template is checked when it is loaded:
 * its header names the codec, every {{placeholder}} must be one we know, the ones a session cannot work
 * without must be there, and the elements the session drives ("ditto", "webrtc") must be named. Rendering
 * fills placeholders in one pass from typed, validated values; strings are always emitted as gst-launch
 * quoted strings, so a path with spaces, quotes or '!' stays one property value and cannot add elements.
 */

/**
 * The fixed set of audio source fragments; which one is used is never taken from request text.
 * "file": decodebin on a file; "live": pushed audio (raw/WAV samples and Opus packets, two appsrcs into one
 * funnel); "webrtc": the viewer's microphone, the Opus RTP stream webrtcbin receives on the audio m-line.
 */
export type AudioSourceKind = 'file' | 'live' | 'webrtc';

export interface TemplateValues {
  audio_source: AudioSourceKind;
  /** Validated absolute path (file audio). */
  audio_path: string;
  source_image: string;
  frame_scale: number;
  sampling_timesteps: number;
  chunk_config: readonly [number, number, number];
  chunk_sleep: number;
  backend: string;
  video_pt: number;
  audio_pt: number;
  /** RTP SSRCs the payloaders use, declared in caps before webrtcbin so the answer can name them at once. */
  video_ssrc: number;
  audio_ssrc: number;
  webrtc_latency: number;
  /** How long the video branch holds each frame after its audio (ms): {{video_hold_ns}}. */
  video_hold_ms: number;
  /** Offered H.264 profile-level-id (6 hex digits), null for other codecs. */
  h264_profile_level_id: string | null;
  /** backend "ditto": the worker reserved for this session ({{backend_options}}); absent for other backends. */
  worker?: DittoWorkerOptions | null;
}

/** The element properties that bind a session to the worker the server reserved for it. */
export interface DittoWorkerOptions {
  socket: string;
  /** The pool's reservation ticket (hex). */
  ticket: string;
  /** worker-timeout, seconds. */
  timeoutS: number;
}

/** Name of the appsrc in the "live" audio fragment, for AppSrc.push(). */
export const LIVE_AUDIO_APPSRC = 'audio_in';
/** The pushed audio's default format (the WebSocket's raw binary frames). */
export const PUSH_PCM_CAPS = 'audio/x-raw,format=S16LE,layout=interleaved,rate=16000,channels=1';
/**
 * Name of the depayloader that starts the "webrtc" (microphone) fragment: the session links webrtcbin's incoming
 * audio pad to it by media kind (WebRtcBin.linkIncoming), not by gst-launch's delayed linking.
 */
export const MIC_DEPAY = 'mic_depay';
/** Name of the appsrc in the "live" fragment that takes Opus packets (from Ogg/Opus chunks) for opusdec. */
export const LIVE_OPUS_APPSRC = 'opus_in';
/** Caps of the Opus packets pushed into LIVE_OPUS_APPSRC (RFC 7845 mapping family 0: mono or stereo). */
export function opusCaps(channels: 1 | 2): string {
  return `audio/x-opus,channel-mapping-family=(int)0,channels=(int)${channels},rate=(int)48000`;
}
/** Both live branches meet in one funnel in this format, so switching between them never renegotiates. */
const LIVE_MIX_CAPS = 'audio/x-raw,format=S16LE,rate=16000,channels=1';

/**
 * A gst-launch quoted string: backslash and double quote escaped. GStreamer 1.22's parser misreads an escaped
 * backslash right before the closing quote (the value would end in '\\'), and control characters have no
 * safe form, so both are refused.
 */
export function quoteLaunchString(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value) || value.endsWith('\\')) {
    throw new AppError('VALIDATION_FAILED', 'a value passed to GStreamer may not contain control characters or end with a backslash', {
      details: { value },
    });
  }
  return '"' + value.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

function finite(name: string, v: number, integer: boolean): string {
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new AppError('INTERNAL', `template value ${name}=${v} is not a finite ${integer ? 'integer' : 'number'}`);
  }
  return String(v);
}

function payloadType(name: string, v: number): string {
  if (!Number.isInteger(v) || v < 0 || v > 127) throw new AppError('INTERNAL', `template value ${name}=${v} is not an RTP payload type`);
  return String(v);
}

function ssrc(name: string, v: number): string {
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new AppError('INTERNAL', `template value ${name}=${v} is not an RTP SSRC`);
  return String(v);
}

function profileLevelId(v: string | null): string {
  if (v === null || !/^[0-9a-f]{6}$/i.test(v)) throw new AppError('INTERNAL', `h264_profile_level_id=${v} is not 6 hex digits`);
  return v.toLowerCase();
}

/** level_idc (e.g. 0x1f = 31) to the caps string x264enc wants ("3.1"). */
function h264Level(id: string): string {
  const idc = parseInt(id.slice(4, 6), 16);
  const major = Math.floor(idc / 10);
  const minor = idc % 10;
  if (major < 1 || major > 6) throw new AppError('INTERNAL', `H.264 level_idc ${idc} out of range`);
  return minor === 0 ? String(major) : `${major}.${minor}`;
}

const RENDERERS: Record<string, (v: TemplateValues) => string> = {
  audio_source: (v) => {
    switch (v.audio_source) {
      case 'file':
        return `filesrc location=${quoteLaunchString(v.audio_path)} ! decodebin`;
      case 'live':
        // The element takes input in arrival order, so a funnel (not a mixer) is right: whichever branch has
        // audio feeds the element, one utterance after the other.
        return [
          `appsrc name=${LIVE_AUDIO_APPSRC} is-live=true format=time do-timestamp=true caps=${quoteLaunchString(PUSH_PCM_CAPS)} !`,
          `audioconvert ! audioresample ! ${LIVE_MIX_CAPS} ! live_mix.`,
          `appsrc name=${LIVE_OPUS_APPSRC} is-live=true format=time do-timestamp=true caps=${quoteLaunchString(opusCaps(1))} !`,
          `opusdec plc=true ! audioconvert ! audioresample ! ${LIVE_MIX_CAPS} ! live_mix.`,
          'funnel name=live_mix forward-sticky-events=true',
        ].join(' ');
      case 'webrtc':
        // No delayed link ("webrtc. ! …" links whichever pad appears first, and a webrtcbin src pad's caps
        // query does not say its media): the session links the incoming audio pad here by kind (linkIncoming).
        return `rtpopusdepay name=${MIC_DEPAY} ! opusdec plc=true`;
      default:
        throw new AppError('INTERNAL', `unknown audio source kind ${String(v.audio_source)}`);
    }
  },
  audio_path: (v) => quoteLaunchString(v.audio_path),
  source_image: (v) => quoteLaunchString(v.source_image),
  frame_scale: (v) => finite('frame_scale', v.frame_scale, false),
  sampling_timesteps: (v) => finite('sampling_timesteps', v.sampling_timesteps, true),
  chunk_config: (v) => quoteLaunchString(v.chunk_config.map((n, i) => finite(`chunk_config[${i}]`, n, true)).join(',')),
  chunk_sleep: (v) => finite('chunk_sleep', v.chunk_sleep, false),
  backend: (v) => {
    if (!/^[a-z][a-z0-9_-]*$/.test(v.backend)) throw new AppError('INTERNAL', `backend name ${v.backend} is not an identifier`);
    return v.backend;
  },
  video_pt: (v) => payloadType('video_pt', v.video_pt),
  audio_pt: (v) => payloadType('audio_pt', v.audio_pt),
  video_ssrc: (v) => ssrc('video_ssrc', v.video_ssrc),
  audio_ssrc: (v) => ssrc('audio_ssrc', v.audio_ssrc),
  webrtc_latency: (v) => finite('webrtc_latency', v.webrtc_latency, true),
  video_hold_ns: (v) => finite('video_hold_ns', Math.round(v.video_hold_ms * 1e6), true),
  // Backend-specific element properties: empty unless a worker was reserved, so one template serves every backend.
  backend_options: (v) => {
    if (!v.worker) return '';
    if (v.backend !== 'ditto') throw new AppError('INTERNAL', `a worker reservation was given to backend ${v.backend}`);
    if (!/^[0-9a-f]{8,64}$/i.test(v.worker.ticket)) throw new AppError('INTERNAL', `worker ticket ${v.worker.ticket} is not hex`);
    return [
      `worker-socket=${quoteLaunchString(v.worker.socket)}`,
      `worker-ticket=${v.worker.ticket}`,
      `worker-timeout=${finite('worker_timeout', v.worker.timeoutS, false)}`,
    ].join(' ');
  },
  h264_level: (v) => `(string)${h264Level(profileLevelId(v.h264_profile_level_id))}`,
  h264_rtp_caps: (v) => quoteLaunchString(`application/x-rtp,profile-level-id=(string)${profileLevelId(v.h264_profile_level_id)}`),
};

export const KNOWN_PLACEHOLDERS: readonly string[] = Object.keys(RENDERERS);
// The SSRCs are required: webrtcbin writes the answer's `a=ssrc … msid` lines (Chrome's A/V sync) from the
// caps it can query on its sink pads, so declaring them lets the answer go out before the first frame.
const REQUIRED = ['video_pt', 'audio_pt', 'video_ssrc', 'audio_ssrc', 'source_image'];
/** Factories added by the {{audio_source}} fragments (for probing what a template needs). */
const AUDIO_SOURCE_FACTORIES = ['filesrc', 'decodebin', 'appsrc', 'funnel', 'opusdec', 'rtpopusdepay'];

export interface PipelineTemplate {
  /** File name, e.g. "vp8.pipeline". */
  name: string;
  file: string;
  codec: VideoCodec;
  description: string;
  /** The launch description with comments removed and lines joined. */
  body: string;
  placeholders: ReadonlySet<string>;
  /** Element factories the graph needs, checked against the registry before use. */
  factories: readonly string[];
}

const PLACEHOLDER = /\{\{\s*([a-zA-Z0-9_]+)\s*\}\}/g;

function tokens(body: string): string[] {
  // Split on whitespace and '!' outside double quotes; quoted parts stay inside their token.
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\' && quoted) {
      cur += ch + (body[++i] ?? '');
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (!quoted && (/\s/.test(ch) || ch === '!')) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** Element factory names in a launch description: tokens that are not properties, caps, pad refs or placeholders. */
export function launchFactories(body: string, placeholders: ReadonlySet<string> = new Set()): string[] {
  const names = tokens(body).filter((t) => !/[=/.{}"(]/.test(t) && /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/.test(t));
  if (placeholders.has('audio_source')) names.push(...AUDIO_SOURCE_FACTORIES);
  return [...new Set(names)];
}

export function parseTemplate(text: string, file: string): PipelineTemplate {
  const name = basename(file);
  const fail = (msg: string): never => {
    throw new AppError('PIPELINE_TEMPLATE_INVALID', `pipeline template ${file}: ${msg}`);
  };
  const header: Record<string, string> = {};
  const bodyLines: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#')) {
      const h = /^#\s*([a-z-]+)\s*:\s*(.*)$/i.exec(trimmed);
      if (h && bodyLines.length === 0) header[h[1]!.toLowerCase()] = h[2]!.trim();
      continue;
    }
    if (trimmed) bodyLines.push(trimmed);
  }
  const body = bodyLines.join(' ');
  if (!body) fail('no launch description');
  const codec = (header['codec'] ?? '').toUpperCase();
  if (!(VIDEO_CODECS as readonly string[]).includes(codec)) {
    fail(`header "# codec: <${VIDEO_CODECS.join('|')}>" missing or unknown (got "${header['codec'] ?? ''}")`);
  }
  const placeholders = new Set<string>();
  for (const m of body.matchAll(PLACEHOLDER)) placeholders.add(m[1]!);
  const leftovers = body.replace(PLACEHOLDER, '');
  if (leftovers.includes('{{') || leftovers.includes('}}')) fail('malformed placeholder (use {{name}})');
  const unknown = [...placeholders].filter((p) => !KNOWN_PLACEHOLDERS.includes(p));
  if (unknown.length) fail(`unknown placeholder(s) ${unknown.map((u) => `{{${u}}}`).join(', ')}; known: ${KNOWN_PLACEHOLDERS.join(', ')}`);
  const missing = REQUIRED.filter((r) => !placeholders.has(r));
  if (!placeholders.has('audio_source') && !placeholders.has('audio_path')) missing.push('audio_source|audio_path');
  if (missing.length) fail(`missing required placeholder(s) ${missing.map((m) => `{{${m}}}`).join(', ')}`);
  if (!/\bdittotalkinghead\b[^!]*\bname=ditto\b/.test(body)) fail('needs a "dittotalkinghead name=ditto" element');
  if (!/\bwebrtcbin\b[^!]*\bname=webrtc\b/.test(body)) fail('needs a "webrtcbin name=webrtc" element');
  return {
    name,
    file,
    codec: codec as VideoCodec,
    description: header['description'] ?? '',
    body,
    placeholders,
    factories: launchFactories(body, placeholders),
  };
}

export function loadTemplate(file: string): PipelineTemplate {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AppError('PIPELINE_TEMPLATE_INVALID', `pipeline template ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseTemplate(text, file);
}

/** Renders a template; every placeholder it uses must be computable from `values`. */
export function renderTemplate(template: PipelineTemplate, values: TemplateValues): string {
  return template.body.replace(PLACEHOLDER, (_, key: string) => RENDERERS[key]!(values));
}

export interface PipelineCatalog {
  /** Every *.pipeline file in the directory, by file name (each one validated). */
  all: ReadonlyMap<string, PipelineTemplate>;
  /** The template configured for each codec. */
  byCodec: ReadonlyMap<VideoCodec, PipelineTemplate>;
}

/**
 * Loads every template in `dir` (a broken file stops startup rather than failing sessions later) and picks
 * the configured file for each codec; the file's own header must declare that codec.
 */
export function loadPipelineCatalog(dir: string, chosen: Partial<Record<VideoCodec, string>>): PipelineCatalog {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.pipeline')).sort();
  } catch (e) {
    throw new AppError('PIPELINE_TEMPLATE_INVALID', `pipelines directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const all = new Map(files.map((f) => [f, loadTemplate(join(dir, f))] as const));
  const byCodec = new Map<VideoCodec, PipelineTemplate>();
  for (const [codec, fileName] of Object.entries(chosen) as [VideoCodec, string][]) {
    const t = all.get(fileName) ?? (fileName.includes('/') ? loadTemplate(fileName) : undefined);
    if (!t) throw new AppError('PIPELINE_TEMPLATE_INVALID', `pipeline for ${codec}: ${fileName} not found in ${dir}`);
    if (t.codec !== codec) {
      throw new AppError('PIPELINE_TEMPLATE_INVALID', `pipeline for ${codec}: ${t.file} declares codec ${t.codec}`);
    }
    byCodec.set(codec, t);
  }
  return { all, byCodec };
}
