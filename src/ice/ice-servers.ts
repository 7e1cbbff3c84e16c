import type { IceSettings } from './config.js';
import { gstStunUri, gstTurnUri, iceUrlString, isTurn, parseIceUrl, type IceUrl } from './ice-url.js';
import { probeTurn, type TurnProbeResult } from './turn-probe.js';
import { mintTurnCredentials } from './turn-rest.js';

/**
 * Who gets which ICE servers. Every session's webrtcbin and every client (demo page, CLI client, WHEP
 * `Link` headers, GET /webrtc/ice-servers) gets the configured STUN and TURN servers; with a TURN REST
 * secret each of them gets its own time-limited credentials, minted here and never stored.
 */

/** RTCIceServer, as browsers and our clients take it. */
export interface ClientIceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface IceServerList {
  iceServers: ClientIceServer[];
  /** When minted TURN credentials expire (ms since the epoch); null without any. */
  expiresAt: number | null;
}

/** The ICE settings of one webrtcbin (the addon's IceConfig). */
export interface AgentIceConfig {
  stunServer?: string;
  turnServers: string[];
  localAddresses: string[];
  minPort: number;
  maxPort: number;
  tcp: boolean;
}

export class IceServers {
  private readonly stun: IceUrl[];
  private readonly turn: IceUrl[];

  constructor(
    private readonly settings: IceSettings,
    private readonly now: () => number = Date.now,
  ) {
    const urls = settings.servers.map(parseIceUrl);
    this.stun = urls.filter((u) => !isTurn(u));
    this.turn = urls.filter(isTurn);
  }

  get hasTurn(): boolean {
    return this.turn.length > 0;
  }

  /** TURN credentials for `user` (a session id, or a client's request): minted, or the static ones. */
  private credentials(user: string): { username: string; credential: string; expiresAt: number | null } | null {
    if (this.turn.length === 0) return null;
    const s = this.settings;
    if (s.turnSecret) return mintTurnCredentials(s.turnSecret, user, s.turnCredentialTtlS, this.now());
    return { username: s.turnUsername, credential: s.turnPassword, expiresAt: null };
  }

  /** One TURN Allocate per configured TURN server with the server's kind of credentials (turn-probe.ts). */
  async probeTurn(timeoutMs = 3000): Promise<{ url: string; result: TurnProbeResult }[]> {
    const creds = this.credentials('probe');
    if (!creds) return [];
    return Promise.all(this.turn.map(async (u) => ({ url: iceUrlString(u), result: await probeTurn(u, creds.username, creds.credential, timeoutMs) })));
  }

  /** The servers for a client, with credentials of its own. */
  forClient(user: string): IceServerList {
    const creds = this.credentials(user);
    const iceServers: ClientIceServer[] = [];
    if (this.stun.length) iceServers.push({ urls: this.stun.map(iceUrlString) });
    if (creds) iceServers.push({ urls: this.turn.map(iceUrlString), username: creds.username, credential: creds.credential });
    return { iceServers, expiresAt: creds?.expiresAt ?? null };
  }

  /** A session's webrtcbin settings: the configured agent options plus STUN/TURN with the session's credentials. */
  forAgent(user: string): AgentIceConfig {
    const s = this.settings;
    const stun = this.stun[0] ? gstStunUri(this.stun[0]) : s.stunServer;
    const creds = s.serverUsesTurn ? this.credentials(user) : null;
    const turn = creds ? this.turn.map((u) => gstTurnUri(u, creds.username, creds.credential)) : [];
    return {
      ...(stun ? { stunServer: stun } : {}),
      turnServers: [...turn, ...s.turnServers],
      localAddresses: s.localAddresses,
      minPort: s.minPort,
      maxPort: s.maxPort,
      tcp: s.tcp,
    };
  }
}

const quoted = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/**
 * WHEP/WHIP `Link` header values (RFC 9725 §4.6): one per URL, TURN ones with their credentials.
 *   <turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="…"; credential="…"; credential-type="password"
 */
export function iceServerLinks(servers: readonly ClientIceServer[]): string[] {
  return servers.flatMap((s) =>
    s.urls.map((url) => {
      const parts = [`<${url}>`, 'rel="ice-server"'];
      if (s.username !== undefined) parts.push(`username=${quoted(s.username)}`);
      if (s.credential !== undefined) parts.push(`credential=${quoted(s.credential)}`, 'credential-type="password"');
      return parts.join('; ');
    }),
  );
}

/**
 * A client's side of the same servers: RTCIceServer entries (from GET /webrtc/ice-servers or WHEP Link
 * headers) as webrtcbin takes them. URLs that are not STUN/TURN are skipped; webrtcbin has one STUN server.
 */
export function agentIceFromClientServers(servers: readonly ClientIceServer[]): { stunServer?: string; turnServers: string[] } {
  let stunServer: string | undefined;
  const turnServers: string[] = [];
  for (const s of servers) {
    for (const text of s.urls) {
      let url: IceUrl;
      try {
        url = parseIceUrl(text);
      } catch {
        continue;
      }
      if (!isTurn(url)) stunServer ??= gstStunUri(url);
      else if (s.username !== undefined && s.credential !== undefined) turnServers.push(gstTurnUri(url, s.username, s.credential));
    }
  }
  return { ...(stunServer ? { stunServer } : {}), turnServers };
}
