import { createHmac } from 'node:crypto';

/**
 * Time-limited TURN credentials from a shared secret: the "TURN REST API" scheme that coturn checks with
 * `use-auth-secret` + `static-auth-secret` (draft-uberti-behave-turn-rest). The username is
 * "<expiry unix seconds>:<user>" and the password base64(HMAC-SHA1(secret, username)); the TURN server
 * recomputes the password and refuses the username once its expiry has passed, so nothing is stored anywhere.
 */

export interface TurnCredentials {
  username: string;
  credential: string;
  /** When the TURN server stops accepting them (ms since the epoch). */
  expiresAt: number;
}

export function mintTurnCredentials(secret: string, user: string, ttlS: number, nowMs = Date.now()): TurnCredentials {
  if (secret === '') throw new Error('TURN REST credentials need a non-empty shared secret');
  // A ':' in the user part would make coturn read the wrong field as the expiry.
  const safeUser = user.replace(/:/g, '_');
  const expiry = Math.floor(nowMs / 1000) + Math.max(1, Math.floor(ttlS));
  const username = `${expiry}:${safeUser}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt: expiry * 1000 };
}
