import { z } from 'zod';
import { ELEMENT_LIMITS, type ElementDefaults } from '../config/schema.js';
import { parseOffer } from './sdp-offer.js';

/**
 * The predecessor's (ditto-container) POST /webrtc/offer payload, accepted as its clients send it, and the
 * normalisation of its tuning kwargs into the values a session actually uses. Like the predecessor, a bad
 * tuning value never fails the request: it is clamped or replaced, and a warning says so. Unlike the
 * predecessor, the server's configured defaults apply where the offer is silent, and the warnings go back to
 * the client.
 */

export const offerPayloadSchema = z
  .object({
    sdp: z.string().min(1, 'sdp must not be empty'),
    type: z.literal('offer'),
    /** Required for file audio; push and microphone sessions take their audio while they run. */
    audio_path: z.string().min(1).optional(),
    source_path: z.string().min(1),
    /**
     * Where the session's speech comes from: "file" (audio_path, the predecessor's only mode and the default),
     * "push" (PCM s16le 16 kHz mono, WAV or Ogg/Opus chunks over GET /webrtc/sessions/:id/audio, a WebSocket),
     * "mic" (the browser's microphone, sent on the offer's sendrecv audio m-line). Without audio_source and
     * audio_path, an offer whose audio m-line is sendrecv means "mic".
     */
    audio_source: z.enum(['file', 'push', 'mic']).optional(),
    /** How long video leaves after its audio (ms); default pipelines.videoHoldMs, tuned for browsers. */
    video_hold_ms: z.number().int().min(0).max(500).optional(),
    setup_kwargs: z.record(z.string(), z.unknown()).nullish(),
    run_kwargs: z.record(z.string(), z.unknown()).nullish(),
  })
  .loose()
  // The predecessor's rule (audio_path is required) holds for file sessions; `when` makes it report along
  // with the other issues of the same payload, as a required field would.
  .refine(
    (v: unknown) => {
      if (typeof v !== 'object' || v === null) return true;
      const { audio_source: source, audio_path: path, sdp } = v as { audio_source?: unknown; audio_path?: unknown; sdp?: unknown };
      if (path !== undefined || (source !== undefined && source !== 'file')) return true;
      return source === undefined && typeof sdp === 'string' && offerSendsAudio(sdp);
    },
    {
      path: ['audio_path'],
      message: 'Invalid input: expected string, received undefined (required unless audio_source is "push" or "mic")',
      when: () => true,
    },
  );

export type OfferPayload = z.infer<typeof offerPayloadSchema>;

/** Whether the offer's first audio m-line sends audio to us (sendrecv or sendonly): the microphone. */
export function offerSendsAudio(sdp: string): boolean {
  try {
    const audio = parseOffer(sdp).find((m) => m.kind === 'audio');
    return audio !== undefined && audio.port !== 0 && (audio.direction === 'sendrecv' || audio.direction === 'sendonly');
  } catch {
    return false; // a malformed SDP is reported by the offer's own checks
  }
}

/** The session's audio source: as asked, else "mic" for a sendrecv audio offer without audio_path, else "file". */
export function resolveAudioSource(payload: OfferPayload): 'file' | 'push' | 'mic' {
  if (payload.audio_source) return payload.audio_source;
  return payload.audio_path === undefined && offerSendsAudio(payload.sdp) ? 'mic' : 'file';
}

export interface SessionParams {
  frame_scale: number;
  sampling_timesteps: number;
  chunk_config: [number, number, number];
  chunk_sleep_s: number;
  /** Always true: a WebRTC session is live whatever the client asks (see warnings). */
  online_mode: true;
}

export type ParamWarningCode = 'default' | 'clamped' | 'rounded' | 'invalid' | 'ignored';

export interface ParamWarning {
  /** Dotted payload field, e.g. "run_kwargs.frame_scale". */
  field: string;
  code: ParamWarningCode;
  message: string;
}

export interface ResolvedOfferParams {
  params: SessionParams;
  warnings: ParamWarning[];
}

const KNOWN_TOP = new Set(['sdp', 'type', 'audio_path', 'source_path', 'audio_source', 'video_hold_ms', 'setup_kwargs', 'run_kwargs']);
const KNOWN_SETUP = new Set(['sampling_timesteps', 'online_mode']);
const CHUNK_ALIASES = ['chunk_config', 'chunksize', 'chunk_cfg'] as const;
const KNOWN_RUN = new Set<string>([...CHUNK_ALIASES, 'frame_scale', 'chunk_sleep_s', 'chunk_sleep_ms']);

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));
const absent = (v: unknown) => v === undefined || v === null;

/** A finite number from a number or a numeric string (pydantic's lax coercion did the same), else null. */
function numberLike(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

class WarningLog {
  readonly list: ParamWarning[] = [];
  add(field: string, code: ParamWarningCode, message: string) {
    this.list.push({ field, code, message });
  }
}

function clampNumber(
  log: WarningLog,
  field: string,
  raw: unknown,
  fallback: number,
  min: number,
  max: number,
  integer: boolean,
): number {
  if (absent(raw)) {
    log.add(field, 'default', `${field} not given: server default ${fallback} used`);
    return fallback;
  }
  let n = numberLike(raw);
  if (n === null) {
    log.add(field, 'invalid', `${field}=${show(raw)} is not a number: server default ${fallback} used`);
    return fallback;
  }
  if (integer && !Number.isInteger(n)) {
    const t = Math.trunc(n);
    log.add(field, 'rounded', `${field}=${n} is not an integer: ${t} used`);
    n = t;
  }
  if (n < min || n > max) {
    const c = Math.min(max, Math.max(min, n));
    log.add(field, 'clamped', `${field}=${n} is outside ${min}..${max}: clamped to ${c}`);
    n = c;
  }
  return n;
}

function resolveChunkConfig(
  log: WarningLog,
  run: Record<string, unknown>,
  fallback: readonly number[],
): [number, number, number] {
  const def = [fallback[0]!, fallback[1]!, fallback[2]!] as [number, number, number];
  const given = CHUNK_ALIASES.filter((k) => !absent(run[k]));
  const key = given[0];
  for (const other of given.slice(1)) {
    log.add(`run_kwargs.${other}`, 'ignored', `run_kwargs.${other} ignored: run_kwargs.${key} takes precedence`);
  }
  if (key === undefined) {
    log.add('run_kwargs.chunk_config', 'default', `chunk_config not given: server default ${def.join(',')} used`);
    return def;
  }
  const field = `run_kwargs.${key}`;
  const raw = run[key];
  const parts: unknown[] | null = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
  const nums = parts?.map(numberLike);
  if (!nums || nums.length !== 3 || nums.some((n) => n === null)) {
    log.add(field, 'invalid', `${field}=${show(raw)} is not three numbers "past,current,future": default ${def.join(',')} used`);
    return def;
  }
  const fixed = (nums as number[]).map((n, i) => {
    let v = n;
    if (!Number.isInteger(v)) {
      log.add(`${field}[${i}]`, 'rounded', `${field}[${i}]=${v} is not an integer: ${Math.trunc(v)} used`);
      v = Math.trunc(v);
    }
    if (v < ELEMENT_LIMITS.chunkPart.min) {
      log.add(`${field}[${i}]`, 'clamped', `${field}[${i}]=${v} is below ${ELEMENT_LIMITS.chunkPart.min}: raised to ${ELEMENT_LIMITS.chunkPart.min}`);
      v = ELEMENT_LIMITS.chunkPart.min;
    }
    return v;
  }) as [number, number, number];
  const sum = fixed[0] + fixed[1] + fixed[2];
  const { min, max } = ELEMENT_LIMITS.chunkSum;
  if (sum < min || sum > max) {
    log.add(field, 'invalid', `${field}=${fixed.join(',')} adds up to ${sum}, outside ${min}..${max}: default ${def.join(',')} used`);
    return def;
  }
  return fixed;
}

function resolveChunkSleep(log: WarningLog, run: Record<string, unknown>, fallback: number): number {
  const { min, max } = ELEMENT_LIMITS.chunkSleepS;
  const hasS = !absent(run['chunk_sleep_s']);
  const hasMs = !absent(run['chunk_sleep_ms']);
  if (hasS && hasMs) {
    log.add('run_kwargs.chunk_sleep_ms', 'ignored', 'run_kwargs.chunk_sleep_ms ignored: run_kwargs.chunk_sleep_s takes precedence');
  }
  if (!hasS && !hasMs) {
    log.add('run_kwargs.chunk_sleep_s', 'default', `chunk_sleep not given: server default ${fallback} s used`);
    return fallback;
  }
  const field = hasS ? 'run_kwargs.chunk_sleep_s' : 'run_kwargs.chunk_sleep_ms';
  const raw = hasS ? run['chunk_sleep_s'] : run['chunk_sleep_ms'];
  const n = numberLike(raw);
  if (n === null) {
    log.add(field, 'invalid', `${field}=${show(raw)} is not a number: server default ${fallback} s used`);
    return fallback;
  }
  const seconds = hasS ? n : n / 1000;
  if (seconds < min || seconds > max) {
    const c = Math.min(max, Math.max(min, seconds));
    log.add(field, 'clamped', `${field}=${n} is outside ${min}..${max} s: clamped to ${c} s`);
    return c;
  }
  return seconds;
}

function resolveOnlineMode(log: WarningLog, raw: unknown): void {
  if (absent(raw)) return;
  const truthy = raw === true || raw === 1 || (typeof raw === 'string' && ['true', '1', 'yes', 'on'].includes(raw.trim().toLowerCase()));
  const falsy = raw === false || raw === 0 || (typeof raw === 'string' && ['false', '0', 'no', 'off'].includes(raw.trim().toLowerCase()));
  if (falsy) log.add('setup_kwargs.online_mode', 'ignored', 'online_mode=false ignored: a WebRTC session always streams live');
  else if (!truthy) log.add('setup_kwargs.online_mode', 'invalid', `setup_kwargs.online_mode=${show(raw)} is not a boolean: live mode used`);
}

function warnUnknown(log: WarningLog, obj: Record<string, unknown>, known: Set<string>, prefix: string) {
  for (const k of Object.keys(obj)) {
    if (!known.has(k)) log.add(prefix + k, 'ignored', `${prefix}${k} is not a supported parameter: ignored`);
  }
}

/** Normalises an already schema-checked payload's kwargs against the server's element defaults. */
export function resolveOfferParams(payload: OfferPayload, defaults: ElementDefaults): ResolvedOfferParams {
  const log = new WarningLog();
  const setup = payload.setup_kwargs ?? {};
  const run = payload.run_kwargs ?? {};
  warnUnknown(log, payload, KNOWN_TOP, '');
  warnUnknown(log, setup, KNOWN_SETUP, 'setup_kwargs.');
  warnUnknown(log, run, KNOWN_RUN, 'run_kwargs.');

  const { frameScale, samplingTimesteps } = ELEMENT_LIMITS;
  const frame_scale = clampNumber(log, 'run_kwargs.frame_scale', run['frame_scale'], defaults.frameScale, frameScale.min, frameScale.max, false);
  const sampling_timesteps = clampNumber(
    log,
    'setup_kwargs.sampling_timesteps',
    setup['sampling_timesteps'],
    defaults.samplingTimesteps,
    samplingTimesteps.min,
    samplingTimesteps.max,
    true,
  );
  const chunk_config = resolveChunkConfig(log, run, defaults.chunkConfig);
  const chunk_sleep_s = resolveChunkSleep(log, run, defaults.chunkSleepS);
  resolveOnlineMode(log, setup['online_mode']);

  return {
    params: { frame_scale, sampling_timesteps, chunk_config, chunk_sleep_s, online_mode: true },
    warnings: log.list,
  };
}
