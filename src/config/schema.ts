import { join } from 'node:path';
import { z } from 'zod';
import { iceConfigSchema } from '../ice/config.js';
import { whepPresetsSchema } from '../whep/presets.js';
import { packageRoot } from './package-root.js';

/**
 * The one server configuration schema. CLI flags (--media-dirs), env vars (DITTO_MEDIA_DIRS) and the JSON
 * config file ({"media":{"dirs":[...]}}) are all derived from it by walking its shape (see sources.ts), so a
 * new option is added here and nowhere else. Leaves are strings, numbers, booleans, enums or arrays of those.
 */

const root = packageRoot();

export const ELEMENT_LIMITS = {
  frameScale: { min: 0.1, max: 1.0 },
  samplingTimesteps: { min: 5, max: 100 },
  chunkPart: { min: 1 },
  chunkSum: { min: 5, max: 20 },
  chunkSleepS: { min: 0, max: 1 },
} as const;

/** A configured bearer secret: long enough not to be guessed, no separators (lists come comma-separated). */
const secret = z.string().regex(/^[A-Za-z0-9\-._~+/=]{16,}$/, 'at least 16 characters of A-Z a-z 0-9 - . _ ~ + / =');

const extension = z.string().regex(/^\.[a-z0-9]+$/, 'an extension such as ".wav" (lower case, leading dot)');

export const VIDEO_CODECS = ['VP8', 'H264'] as const;
export type VideoCodec = (typeof VIDEO_CODECS)[number];

export const chunkConfigSchema = z
  .array(z.number().int().min(ELEMENT_LIMITS.chunkPart.min))
  .length(3)
  .refine((c) => {
    const sum = c.reduce((a, b) => a + b, 0);
    return sum >= ELEMENT_LIMITS.chunkSum.min && sum <= ELEMENT_LIMITS.chunkSum.max;
  }, `the three parts must add up to ${ELEMENT_LIMITS.chunkSum.min}..${ELEMENT_LIMITS.chunkSum.max}`);

export const configSchema = z.object({
  host: z.string().min(1).default('127.0.0.1').describe('address to listen on'),
  port: z.number().int().min(0).max(65535).default(8080).describe('TCP port to listen on (0 = any free port)'),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino log level'),
  pluginPath: z
    .string()
    .default(join(root, 'build/plugin/ditto'))
    .describe('directory with the dittotalkinghead plugin, prepended to GST_PLUGIN_PATH'),
  bodyLimitBytes: z
    .number()
    .int()
    .min(1024)
    .default(256 * 1024)
    .describe('largest accepted request body (bytes); larger answers 413'),
  media: z
    .object({
      dirs: z
        .array(z.string().min(1))
        .min(1)
        .default([join(root, 'src', 'server', 'demo', 'media')])
        .describe('directories audio_path and source_path must resolve into'),
      audioExtensions: z
        .array(extension)
        .min(1)
        .default(['.wav', '.mp3', '.m4a', '.flac', '.ogg', '.aac', '.webm'])
        .describe('allowed audio_path extensions'),
      imageExtensions: z
        .array(extension)
        .min(1)
        .default(['.png', '.jpg', '.jpeg', '.webp'])
        .describe('allowed source_path extensions'),
    })
    .prefault({}),
  uploadDir: z
    .string()
    .min(1)
    .default(join(root, 'var/uploads'))
    .describe('where uploads are stored (also a media directory)'),
  upload: z
    .object({
      maxAudioBytes: z
        .number()
        .int()
        .min(1024)
        .default(50 * 1024 * 1024)
        .describe('largest accepted audio upload (bytes); larger answers 413'),
      maxImageBytes: z
        .number()
        .int()
        .min(1024)
        .default(15 * 1024 * 1024)
        .describe('largest accepted portrait upload (bytes); larger answers 413'),
      maxImageSide: z
        .number()
        .int()
        .min(16)
        .max(8192)
        .default(4096)
        .describe('largest accepted portrait width or height (pixels, read from the header before decoding)'),
      maxImagePixels: z
        .number()
        .int()
        .min(256)
        .max(40_000_000)
        .default(16_000_000)
        .describe('largest accepted portrait width*height (pixels): guards against decompression bombs'),
      probeTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(60000)
        .default(5000)
        .describe('longest a GStreamer decode probe of one upload may take'),
      timeoutMs: z
        .number()
        .int()
        .min(100)
        .max(3_600_000)
        .default(120_000)
        .describe('longest one POST /upload may take to arrive (ms); a slower body (a dribbling client) answers 408 UPLOAD_TIMEOUT'),
      retentionMaxAgeS: z
        .number()
        .int()
        .min(0)
        .default(24 * 3600)
        .describe('uploads older than this are deleted (seconds; 0 = no age limit)'),
      retentionMaxTotalBytes: z
        .number()
        .int()
        .min(0)
        .default(1024 * 1024 * 1024)
        .describe('the upload directory is kept below this size: unowned files first, then the oldest of the heaviest uploader (bytes; 0 = no limit)'),
      // Per uploader (its API key, else its address): beyond either, POST /upload answers 429 UPLOAD_QUOTA_EXCEEDED.
      quotaBytesPerUploader: z
        .number()
        .int()
        .min(0)
        .default(256 * 1024 * 1024)
        .describe('most bytes of stored uploads one uploader (API key, else client address) may hold (0 = no limit)'),
      quotaFilesPerUploader: z
        .number()
        .int()
        .min(0)
        .default(200)
        .describe('most stored upload files one uploader (API key, else client address) may hold (0 = no limit)'),
    })
    .prefault({}),
  liveAudio: z
    .object({
      maxMessageBytes: z
        .number()
        .int()
        .min(1024)
        .default(4 * 1024 * 1024)
        .describe('largest WebSocket message of pushed audio (bytes); a WAV utterance must fit in one'),
    })
    .prefault({}),
  pipelines: z
    .object({
      dir: z.string().min(1).default(join(root, 'pipelines')).describe('directory of *.pipeline templates'),
      vp8: z.string().min(1).default('vp8.pipeline').describe('template file used for VP8 sessions'),
      h264: z.string().min(1).default('h264.pipeline').describe('template file used for H.264 sessions'),
      codecPreference: z
        .array(z.enum(VIDEO_CODECS))
        .min(1)
        .default(['VP8', 'H264'])
        .describe('video codecs in order of preference, when the offer allows several'),
      webrtcLatencyMs: z
        .number()
        .int()
        .min(0)
        .max(2000)
        .default(50)
        .describe("webrtcbin jitterbuffer latency (ms); GStreamer's default 200 is too much"),
      videoHoldMs: z
        .number()
        .int()
        .min(0)
        .max(500)
        .default(55)
        .describe(
          "video leaves this long after its audio, for browsers: they play audio through a deeper jitter buffer than video and leave A/V differences under 30 ms alone (see pipelines/vp8.pipeline); an offer's video_hold_ms overrides it (0 for receivers that play by RTP time)",
        ),
    })
    .prefault({}),
  sessions: z
    .object({
      max: z.number().int().min(1).default(8).describe('concurrent sessions; more answer 503'),
      retryAfterS: z.number().int().min(1).default(5).describe('Retry-After seconds sent with 503 at capacity'),
      connectTimeoutMs: z
        .number()
        .int()
        .min(100)
        .default(8000)
        .describe('a session that is not connected this long after its answer is torn down (its slot is free again)'),
      disconnectedGraceMs: z
        .number()
        .int()
        .min(0)
        .default(5000)
        .describe('how long a "disconnected" peer may take to come back before teardown'),
      iceGatherTimeoutMs: z
        .number()
        .int()
        .min(1)
        .max(10000)
        .default(1500)
        .describe('longest wait for ICE gathering before answering with the candidates found so far'),
      rtcpSilenceTimeoutMs: z
        .number()
        .int()
        .min(500)
        .default(20000)
        .describe('a connected viewer that sends no RTCP this long is gone: at least 3 of RFC 3550 receivers\' randomised intervals (up to 6.2 s each); offers with b=RR get a limit sized to their interval'),
    })
    .prefault({}),
  // --- access (issue 11): who may do what, how long sessions live, drain, adaptive bitrate, instance routing ---
  auth: z
    .object({
      adminTokens: z
        .array(secret)
        .default([])
        .describe('bearer tokens of operators: list all sessions, act on any session (none = listing is refused)'),
      apiKeys: z.array(secret).default([]).describe('when set, creating a session needs one of these as bearer'),
      corsOrigins: z
        .array(z.string().refine((o) => o === '*' || /^https?:\/\/[^/]+$/.test(o), 'an origin such as "https://app.example.com", or "*"'))
        .default([])
        .describe('origins besides the server\'s own allowed to call the API and open the audio WebSocket ("*" = any)'),
      offerRateMax: z.number().int().min(0).default(30).describe('offers per client per window (0 = unlimited); more answer 429'),
      offerRateWindowS: z.number().int().min(1).default(60).describe('window of the offer rate limit (seconds)'),
      trustProxy: z
        .boolean()
        .default(false)
        .describe('take the client address from X-Forwarded-For (behind a reverse proxy or ingress)'),
    })
    .prefault({}),
  lifecycle: z
    .object({
      maxDurationS: z.number().int().min(0).default(3600).describe('a session ends after this long (seconds; 0 = no limit)'),
      idleTimeoutS: z
        .number()
        .int()
        .min(0)
        .default(120)
        .describe('a pushed-audio session with no audio, interrupt or keepalive this long ends (seconds; 0 = never)'),
      drainTimeoutS: z
        .number()
        .min(0)
        .default(600)
        .describe('on SIGTERM, how long running sessions may go on before they are closed (seconds)'),
    })
    .prefault({}),
  bitrate: z
    .object({
      adaptive: z.boolean().default(true).describe('video bitrate follows the viewer\'s link (RTCP loss and RTT)'),
      minKbps: z.number().int().min(30).default(150).describe('lowest adaptive video bitrate (kbit/s)'),
      maxKbps: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe('highest adaptive video bitrate (kbit/s); 0 = the template\'s rate, which is also where it starts'),
    })
    .prefault({}),
  instance: z
    .object({
      id: z
        .string()
        .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$/, 'a DNS label (a pod name), or empty')
        .default('')
        .describe('this instance\'s id: session URLs carry /i/<id> so an ingress can route follow-ups to it'),
      publicUrl: z
        .string()
        .refine((u) => u === '' || /^https?:\/\/[^\s]+[^/]$/.test(u), 'an absolute URL without a trailing slash, or empty')
        .default('')
        .describe('URL prefix that reaches this instance (e.g. https://host/i/<id>); default /i/<id> when id is set'),
    })
    .prefault({}),
  // STUN/TURN servers, TURN REST credentials, port range, public address, ICE-TCP (src/ice/config.ts)
  ice: iceConfigSchema.prefault({}),
  whep: z
    .object({
      presets: whepPresetsSchema
        .default(['sample:source_path=portrait.jpg;audio_path=speech.wav'])
        .describe('avatars for POST /whep/:avatar, each "name:source_path=…;audio_path=…;audio_source=…;frame_scale=…" (offer payload fields)'),
    })
    .prefault({}),
  element: z
    .object({
      frameScale: z
        .number()
        .min(ELEMENT_LIMITS.frameScale.min)
        .max(ELEMENT_LIMITS.frameScale.max)
        .default(1.0)
        .describe('default frame_scale when an offer gives none'),
      samplingTimesteps: z
        .number()
        .int()
        .min(ELEMENT_LIMITS.samplingTimesteps.min)
        .max(ELEMENT_LIMITS.samplingTimesteps.max)
        .default(10)
        .describe('default sampling_timesteps when an offer gives none'),
      chunkConfig: chunkConfigSchema.default([3, 5, 2]).describe('default chunk_config "past,current,future"'),
      chunkSleepS: z
        .number()
        .min(ELEMENT_LIMITS.chunkSleepS.min)
        .max(ELEMENT_LIMITS.chunkSleepS.max)
        .default(0)
        .describe('default chunk_sleep (seconds) when an offer gives none'),
      backend: z
        .string()
        .regex(/^[a-z][a-z0-9_-]*$/)
        .default('builtin')
        .describe('dittotalkinghead backend'),
    })
    .prefault({}),
  worker: z
    .object({
      socket: z
        .string()
        .default('')
        .describe('backend "ditto": socket of the Ditto worker pool (python3 -m ditto_worker.pool --socket); the server reserves workers on SOCKET.ctl'),
      reserveTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(30000)
        .default(2000)
        .describe('backend "ditto": longest wait for the worker pool to answer a reservation or status request; no answer is 503 MODEL_UNAVAILABLE'),
      reservationTtlS: z
        .number()
        .int()
        .min(1)
        .max(600)
        .default(30)
        .describe('backend "ditto": how long a reserved worker waits for its session\'s element to claim it before the pool takes it back'),
      timeoutS: z
        .number()
        .min(0.1)
        .max(3600)
        .default(30)
        .describe('backend "ditto": the element\'s worker-timeout, seconds without an answer from the worker before the session fails'),
    })
    .prefault({}),
}).superRefine((c, ctx) => {
  if (c.bitrate.maxKbps > 0 && c.bitrate.minKbps > c.bitrate.maxKbps) {
    ctx.addIssue({ code: 'custom', path: ['bitrate', 'minKbps'], message: 'must not exceed bitrate.maxKbps' });
  }
  // The pool socket is what makes backend "ditto" work at all: refuse to start without it.
  if (c.element.backend === 'ditto' && c.worker.socket === '') {
    ctx.addIssue({ code: 'custom', path: ['worker', 'socket'], message: 'required when element.backend is "ditto" (the worker pool\'s socket)' });
  }
});

export type ServerConfig = z.infer<typeof configSchema>;
export type ElementDefaults = ServerConfig['element'];
