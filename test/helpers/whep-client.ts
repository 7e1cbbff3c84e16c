/**
 * A WHEP client written to draft-ietf-wish-whep (and RFC 9725, whose resource rules WHEP reuses), for tests:
 * the HTTP half only; the WebRTC peer (Chromium, or webrtcbin through our addon) is the test's.
 *
 *   POST   endpoint, application/sdp offer   -> 201 Created, Location, ETag, Link rel="ice-server", SDP answer
 *   PATCH  resource, trickle-ice-sdpfrag     -> 204 (trickle, If-Match: <etag>) / 200 + sdpfrag (ICE restart, If-Match: "*")
 *   DELETE resource                          -> 200
 *
 * It uses nothing of this server's JSON API: only what the drafts define (and the URLs the server hands out).
 */
import { parseSdpFrag, sdpIceCredentials } from '../../src/ice/sdpfrag.js';

export interface WhepIceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** Link header values (possibly several, comma-joined) with rel="ice-server" as RTCIceServer entries. */
export function parseIceServerLinks(header: string | null): WhepIceServer[] {
  if (!header) return [];
  const out: WhepIceServer[] = [];
  // <uri>; param="v"; … , <uri>; …   (commas inside quoted strings do not split)
  const re = /<([^>]+)>((?:\s*;\s*[a-zA-Z-]+(?:=(?:"(?:[^"\\]|\\.)*"|[^;,]*))?)*)/g;
  for (const m of header.matchAll(re)) {
    const params: Record<string, string> = {};
    for (const p of m[2]!.matchAll(/;\s*([a-zA-Z-]+)(?:=(?:"((?:[^"\\]|\\.)*)"|([^;,]*)))?/g)) {
      params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1').trim();
    }
    if (params['rel'] !== 'ice-server') continue;
    const server: WhepIceServer = { urls: [m[1]!] };
    if (params['username'] !== undefined) server.username = params['username'];
    if (params['credential'] !== undefined) server.credential = params['credential'];
    out.push(server);
  }
  return out;
}

export class WhepError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status} ${body.slice(0, 300)}`);
  }
}

export class WhepClient {
  private constructor(
    readonly resourceUrl: string,
    public etag: string | null,
    readonly answer: string,
    readonly iceServers: WhepIceServer[],
    readonly acceptPatch: string | null,
    private readonly headers: Record<string, string>,
  ) {}

  static async connect(endpoint: string, offer: string, bearer?: string): Promise<WhepClient> {
    const headers: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
    const res = await fetch(endpoint, { method: 'POST', headers: { ...headers, 'content-type': 'application/sdp' }, body: offer });
    const body = await res.text();
    if (res.status !== 201) throw new WhepError(res.status, body, 'WHEP POST');
    if (!(res.headers.get('content-type') ?? '').startsWith('application/sdp')) throw new WhepError(res.status, body, 'WHEP POST answered without application/sdp');
    const location = res.headers.get('location');
    if (!location) throw new WhepError(res.status, body, 'WHEP POST answered without Location');
    return new WhepClient(
      new URL(location, endpoint).toString(),
      res.headers.get('etag'),
      body,
      parseIceServerLinks(res.headers.get('link')),
      res.headers.get('accept-patch'),
      headers,
    );
  }

  /** Trickle: the client's new candidates for the current ICE session (204 expected). */
  async trickle(fragment: string): Promise<Response> {
    const res = await fetch(this.resourceUrl, {
      method: 'PATCH',
      headers: { ...this.headers, 'content-type': 'application/trickle-ice-sdpfrag', ...(this.etag ? { 'if-match': this.etag } : {}) },
      body: fragment,
    });
    if (res.status !== 204 && res.status !== 200) throw new WhepError(res.status, await res.text(), 'WHEP trickle PATCH');
    return res;
  }

  /** ICE restart: new ufrag/pwd (and candidates) up, the server's new ones back (200 + sdpfrag, new ETag). */
  async restart(fragment: string): Promise<string> {
    const res = await fetch(this.resourceUrl, {
      method: 'PATCH',
      headers: { ...this.headers, 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': '*' },
      body: fragment,
    });
    const body = await res.text();
    if (res.status !== 200) throw new WhepError(res.status, body, 'WHEP ICE restart PATCH');
    if (!(res.headers.get('content-type') ?? '').startsWith('application/trickle-ice-sdpfrag')) throw new WhepError(res.status, body, 'restart answered without an sdpfrag');
    this.etag = res.headers.get('etag');
    return body;
  }

  async close(): Promise<number> {
    const res = await fetch(this.resourceUrl, { method: 'DELETE', headers: this.headers });
    await res.arrayBuffer();
    return res.status;
  }
}

/**
 * The answer to use after an ICE restart: the previous remote answer with the fragment's credentials and
 * candidates in place of the old ones (WHEP does not renegotiate anything else).
 */
export function answerAfterRestart(previousAnswer: string, fragment: string): string {
  const frag = parseSdpFrag(fragment);
  const media = frag.media[0];
  const ufrag = media?.ufrag ?? frag.ufrag;
  const pwd = media?.pwd ?? frag.pwd;
  if (!ufrag || !pwd) throw new Error('the restart answer has no ice-ufrag/ice-pwd');
  const old = sdpIceCredentials(previousAnswer);
  const candidates = frag.media.flatMap((m) => m.candidates);
  const lines: string[] = [];
  let section = -1;
  for (const line of previousAnswer.split(/\r?\n/)) {
    if (line === '') continue;
    if (line.startsWith('m=')) section++;
    if (line.startsWith('a=candidate:') || line === 'a=end-of-candidates') continue;
    if (line.startsWith('a=ice-ufrag:')) lines.push(`a=ice-ufrag:${ufrag}`);
    else if (line.startsWith('a=ice-pwd:')) {
      lines.push(`a=ice-pwd:${pwd}`);
      // the BUNDLE transport's candidates go with the first section's credentials
      if (section === 0) for (const c of candidates) lines.push(`a=${c}`);
    } else lines.push(line);
  }
  if (old.ufrag === ufrag) throw new Error('the restart answer kept the old ice-ufrag');
  return lines.join('\r\n') + '\r\n';
}
