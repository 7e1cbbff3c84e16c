/** The one error type of src/gst: `code` is stable (callers match on it), the message is GStreamer's text. */

export const GST_ERROR_CODES = [
  'GST_INIT',
  'GST_PARSE',
  'GST_NO_ELEMENT',
  'GST_STATE',
  'GST_PROPERTY',
  'GST_WEBRTC',
  'GST_CLOSED',
] as const;

export type GstErrorCode = (typeof GST_ERROR_CODES)[number];

export class GstError extends Error {
  override readonly name = 'GstError';
  readonly code: GstErrorCode;

  constructor(code: GstErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

function isGstErrorCode(code: unknown): code is GstErrorCode {
  return typeof code === 'string' && (GST_ERROR_CODES as readonly string[]).includes(code);
}

/** The addon throws/rejects plain Errors carrying a GST_* `code`: give them the GstError type. */
export function toGstError(e: unknown): unknown {
  if (e instanceof GstError) return e;
  if (e instanceof Error && isGstErrorCode((e as { code?: unknown }).code)) {
    return new GstError((e as unknown as { code: GstErrorCode }).code, e.message);
  }
  return e; // not from the addon: a programming error, left as it is
}

/** Runs a synchronous addon call, rethrowing its errors as GstError. */
export function nativeCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toGstError(e);
  }
}

/** Awaits an addon promise (or a synchronous throw before it), rejecting with GstError. */
export async function nativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toGstError(e);
  }
}
