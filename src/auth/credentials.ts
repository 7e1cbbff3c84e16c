import type { FastifyRequest } from 'fastify';

/**
 * Where a request carries its bearer secret. HTTP: `Authorization: Bearer <token>` (RFC 6750). A browser cannot
 * set headers on a WebSocket, so the upgrade request may also carry it as `?token=` or as a subprotocol
 * `ditto-token.<token>` next to `ditto-gst`, which the server selects (the token is never echoed back).
 */

export const WS_PROTOCOL = 'ditto-gst';
export const WS_TOKEN_PROTOCOL_PREFIX = 'ditto-token.';

/** The token of an `Authorization: Bearer` header; null when there is none or the scheme is another. */
export function bearerToken(request: Pick<FastifyRequest, 'headers'>): string | null {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(h);
  return m ? m[1]! : null;
}

/** The token a WebSocket upgrade carries in Sec-WebSocket-Protocol, if any. */
export function subprotocolToken(request: Pick<FastifyRequest, 'headers'>): string | null {
  const h = request.headers['sec-websocket-protocol'];
  if (typeof h !== 'string') return null;
  for (const p of h.split(',')) {
    const name = p.trim();
    if (name.startsWith(WS_TOKEN_PROTOCOL_PREFIX) && name.length > WS_TOKEN_PROTOCOL_PREFIX.length) {
      return name.slice(WS_TOKEN_PROTOCOL_PREFIX.length);
    }
  }
  return null;
}

/** The `token` query parameter (WebSocket upgrades only: a URL ends up in logs and histories). */
export function queryToken(request: Pick<FastifyRequest, 'query'>): string | null {
  const q = request.query as Record<string, unknown> | undefined;
  const t = q?.['token'];
  return typeof t === 'string' && t !== '' ? t : null;
}

/**
 * The secret of a request: the bearer header first; for WebSocket upgrades (`websocket: true`) also the
 * subprotocol and the query.
 */
export function requestToken(request: Pick<FastifyRequest, 'headers' | 'query'>, websocket = false): string | null {
  return bearerToken(request) ?? (websocket ? subprotocolToken(request) ?? queryToken(request) : null);
}

/**
 * ws' handleProtocols: select `ditto-gst` when the client offered it (browsers fail a connection that
 * offered subprotocols and got none back), never the token protocol.
 */
export function selectWsProtocol(protocols: Set<string>): string | false {
  return protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}

/** A URL for the logs: the value of a `token` query parameter replaced (a session token is a bearer secret). */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}
