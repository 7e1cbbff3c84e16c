import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer secrets: session tokens minted here, admin tokens and API keys from configuration. Only SHA-256
 * digests are kept and compared (in constant time, and always 32 bytes against 32 bytes, so neither the
 * content nor the length of a secret leaks through timing).
 */

/** 32 random bytes, base64url (43 characters): fits `Authorization: Bearer`, a query string and a WebSocket subprotocol. */
export const TOKEN_BYTES = 32;

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Whether `candidate` is the secret whose digest is `expected`. */
export function matchesDigest(expected: Buffer, candidate: string): boolean {
  return timingSafeEqual(expected, digest(candidate));
}

/** A set of configured secrets (admin tokens, API keys), held as digests. */
export class SecretSet {
  private readonly digests: Buffer[];

  constructor(secrets: readonly string[]) {
    this.digests = secrets.map(digest);
  }

  get empty(): boolean {
    return this.digests.length === 0;
  }

  /** Compares against every entry (no early exit), so the position of a match does not show either. */
  has(candidate: string | null): boolean {
    if (candidate === null) return false;
    const d = digest(candidate);
    let found = false;
    for (const e of this.digests) found = timingSafeEqual(e, d) || found;
    return found;
  }
}
