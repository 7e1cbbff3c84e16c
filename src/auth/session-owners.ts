import { digest, matchesDigest, newToken } from './tokens.js';

/**
 * Who owns which session: one random token per session, minted when the session opens. The plain token is
 * kept only until the answer hands it out (`handOut`), then only its digest remains; a closed session's entry
 * is dropped. Keyed by session id, so every route that names a session (REST, WebSocket, WHEP) checks the same.
 */

export type OwnerCheck = 'owner' | 'not-owner' | 'unknown';

interface Entry {
  digest: Buffer;
  /** Until handed out once. */
  plain: string | null;
}

export class SessionOwners {
  private readonly entries = new Map<string, Entry>();

  get size(): number {
    return this.entries.size;
  }

  /** Mints the token of a new session (idempotent: a second call keeps the first token). */
  issue(sessionId: string): void {
    if (this.entries.has(sessionId)) return;
    const plain = newToken();
    this.entries.set(sessionId, { digest: digest(plain), plain });
  }

  /** The plain token, once: for the answer that created the session. Later calls return null. */
  handOut(sessionId: string): string | null {
    const e = this.entries.get(sessionId);
    if (!e || e.plain === null) return null;
    const plain = e.plain;
    e.plain = null;
    return plain;
  }

  check(sessionId: string, token: string): OwnerCheck {
    const e = this.entries.get(sessionId);
    if (!e) return 'unknown';
    return matchesDigest(e.digest, token) ? 'owner' : 'not-owner';
  }

  has(sessionId: string): boolean {
    return this.entries.has(sessionId);
  }

  revoke(sessionId: string): void {
    this.entries.delete(sessionId);
  }
}
