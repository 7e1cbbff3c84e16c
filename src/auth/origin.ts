/**
 * The Origin allow-list of the API and the WebSocket. Browsers send `Origin` on cross-origin requests and on
 * every WebSocket upgrade; CORS guards what a page may read, but a WebSocket is not covered by CORS at all, so
 * the server refuses an upgrade (and any request) from an origin that is not allowed.
 *
 * Allowed: no Origin header (not a browser, or a same-origin GET), the server's own origin (the Host the request
 * came to: the demo page), an entry of the list, or anything when the list holds "*".
 */

export interface OriginPolicy {
  /** Exact origins ("https://app.example.com") or "*". */
  allowed: readonly string[];
}

export function normaliseOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.origin;
  } catch {
    return null;
  }
}

/** `host` is the request's Host header (host[:port]). */
export function originAllowed(policy: OriginPolicy, origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (policy.allowed.includes('*')) return true;
  const o = normaliseOrigin(origin);
  if (o === null) return false; // "null" (sandboxed frames, file://) and junk
  if (host !== undefined && new URL(o).host === host.toLowerCase()) return true;
  return policy.allowed.some((a) => normaliseOrigin(a) === o);
}
