/**
 * STUN and TURN server URLs as RFC 7064 / RFC 7065 define them and browsers take them
 * (`stun:host:port`, `turn:host:port?transport=udp|tcp`, `turns:host:port?transport=tcp`), parsed once at
 * configuration time, and written out in the other forms we need: GStreamer's (`stun://host:port`,
 * `turn://user:pass@host:port?transport=…`, credentials percent-escaped as webrtcbin unescapes them).
 */

export type IceScheme = 'stun' | 'turn' | 'turns';
export type IceTransport = 'udp' | 'tcp';

export interface IceUrl {
  scheme: IceScheme;
  host: string;
  port: number;
  /** TURN only: the transport to the TURN server (turns: always tcp, i.e. TLS over TCP). */
  transport: IceTransport | null;
}

const DEFAULT_PORT: Record<IceScheme, number> = { stun: 3478, turn: 3478, turns: 5349 };

// host: a name, an IPv4 address or a bracketed IPv6 address.
const URL_RE = /^(stun|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

/** Parses one URL; throws an Error saying what is wrong (the config loader reports it with the option's name). */
export function parseIceUrl(text: string): IceUrl {
  const m = URL_RE.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a STUN/TURN URL (stun:host:port, turn:host:port?transport=udp|tcp, turns:host:port?transport=tcp)`);
  const scheme = m[1] as IceScheme;
  const port = m[3] === undefined ? DEFAULT_PORT[scheme] : Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`"${text}": port ${port} is out of range`);
  const transport = (m[4] as IceTransport | undefined) ?? null;
  if (scheme === 'stun' && transport) throw new Error(`"${text}": ?transport is only for TURN URLs`);
  if (scheme === 'turns' && transport === 'udp') throw new Error(`"${text}": turns: runs over TLS/TCP; DTLS to the TURN server is not supported`);
  return { scheme, host: m[2]!, port, transport: scheme === 'turns' ? 'tcp' : scheme === 'turn' ? (transport ?? 'udp') : null };
}

export function isTurn(url: IceUrl): boolean {
  return url.scheme === 'turn' || url.scheme === 'turns';
}

/** The browser / RFC 7065 form. */
export function iceUrlString(url: IceUrl): string {
  const base = `${url.scheme}:${url.host}:${url.port}`;
  return isTurn(url) ? `${base}?transport=${url.transport}` : base;
}

/** GStreamer's `stun://host:port` (webrtcbin's stun-server property). */
export function gstStunUri(url: IceUrl): string {
  return `stun://${url.host}:${url.port}`;
}

/** GStreamer's `turn(s)://user:pass@host:port?transport=…` (webrtcbin's add-turn-server). */
export function gstTurnUri(url: IceUrl, username: string, credential: string): string {
  const userinfo = `${encodeURIComponent(username)}:${encodeURIComponent(credential)}`;
  return `${url.scheme}://${userinfo}@${url.host}:${url.port}?transport=${url.transport}`;
}
