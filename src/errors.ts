/**
 * The one error type of the control plane. Every failure that reaches a client carries a stable `code`
 * (clients and tests match on it, never on the message) and maps to one HTTP status.
 */

export const ERROR_STATUS = {
  // 400: the request is malformed or asks for something we cannot do
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  MEDIA_PATH_OUTSIDE_ROOTS: 400,
  MEDIA_EXTENSION_NOT_ALLOWED: 400,
  MEDIA_NOT_FOUND: 400,
  MEDIA_NOT_A_FILE: 400,
  INVALID_SDP: 400,
  OFFER_MEDIA_MISSING: 400,
  NO_COMMON_CODEC: 400,
  UPLOAD_INVALID: 400,
  UPLOAD_FIELD_MISSING: 400,
  LIVE_AUDIO_INVALID: 400,
  /** Pushed audio would run too far ahead of playback (the WebSocket is slowed first; see live-audio.ts). */
  LIVE_AUDIO_OVERRUN: 429,
  /** POST /upload's connection ended before the whole body arrived (nothing is stored). */
  UPLOAD_INCOMPLETE: 400,
  // 408: POST /upload's body did not arrive within upload.timeoutMs
  UPLOAD_TIMEOUT: 408,
  // 401 / 403: who is asking (src/auth): no or a malformed credential / a credential that does not grant this
  AUTH_REQUIRED: 401,
  AUTH_FORBIDDEN: 403,
  ORIGIN_NOT_ALLOWED: 403,
  // 404
  NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  // 421: a session URL of another instance reached this one (scale-out routing)
  WRONG_INSTANCE: 421,
  // 409: the resource exists but cannot do that
  SESSION_NOT_LIVE: 409,
  // 412: a WHEP PATCH for an ICE session that has since restarted (If-Match does not match the ETag)
  ICE_SESSION_CHANGED: 412,
  // 413 / 415: rejected before the handler runs
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNSUPPORTED_MEDIA_FORMAT: 415,
  /** A media file over the size limit (uploads stream-check it; offers check files already on disk). */
  MEDIA_TOO_LARGE: 413,
  // 422: the file is of an accepted type but its content is unusable
  MEDIA_EMPTY: 422,
  MEDIA_DECODE_FAILED: 422,
  IMAGE_TOO_LARGE: 422,
  // 429: too many offers from one client (Retry-After)
  RATE_LIMITED: 429,
  /** One uploader (API key, else client address) holds its quota of stored uploads (upload.quotaBytesPerUploader / quotaFilesPerUploader). */
  UPLOAD_QUOTA_EXCEEDED: 429,
  // 503: try again later
  AT_CAPACITY: 503,
  SHUTTING_DOWN: 503,
  /** backend "ditto": the model's worker pool cannot be reached (not started, crashed, wrong socket) */
  MODEL_UNAVAILABLE: 503,
  // 507: the upload directory's disk (or quota) is full; nothing partial is kept
  STORAGE_FULL: 507,
  // 500: our fault (or GStreamer's)
  PIPELINE_START_FAILED: 500,
  INTERNAL: 500,
  // startup only (never an HTTP answer, status kept for completeness)
  CONFIG_INVALID: 500,
  PIPELINE_TEMPLATE_INVALID: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface AppErrorOptions {
  details?: unknown;
  /** Seconds; sent as Retry-After (503 answers). */
  retryAfterS?: number;
  cause?: unknown;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.retryAfterS = options.retryAfterS;
  }

  toJSON(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
