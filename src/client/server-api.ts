import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { AppError, ERROR_STATUS, type ErrorCode } from '../errors.js';
import type { ClientIceServer } from '../ice/ice-servers.js';

/**
 * The HTTP side of the client: POST /upload, POST /webrtc/offer, GET and DELETE /webrtc/sessions/:id. Creating
 * sends the API key (when given) as bearer; every later request on a session goes to the answer's session_url
 * (the instance that owns it) with the answer's session_token as bearer. A refusal keeps the server's error shape: an AppError with the server's code and message, and
 * details {http_status, server_error}.
 */

export interface UploadResult {
  audio_path?: string;
  source_path?: string;
}

export interface OfferAnswer {
  sdp: string;
  type: 'answer';
  session_id: string;
  /** The bearer for every later request on this session. */
  session_token: string;
  /** Where the session lives (relative to the server, or absolute on another host behind an ingress). */
  session_url?: string;
  params: Record<string, unknown> & { video_codec?: string };
  warnings: { field: string; code: string; message: string }[];
}

export interface ServerErrorDetails {
  http_status: number;
  server_error: { code: string; message: string; details?: unknown } | null;
}

export function serverErrorDetails(e: unknown): ServerErrorDetails | null {
  const d = (e as AppError | null)?.details as Partial<ServerErrorDetails> | undefined;
  return e instanceof AppError && d && typeof d.http_status === 'number' ? (d as ServerErrorDetails) : null;
}

const isErrorCode = (c: unknown): c is ErrorCode => typeof c === 'string' && c in ERROR_STATUS;

export class ServerApi {
  readonly base: URL;
  private readonly apiKey: string | null;
  private readonly owned = new Map<string, { token: string; url: string }>();

  constructor(server: string, opts: { apiKey?: string } = {}) {
    this.apiKey = opts.apiKey || null;
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new AppError('VALIDATION_FAILED', `--server ${server} is not a URL (e.g. http://127.0.0.1:8080)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AppError('VALIDATION_FAILED', `--server ${server}: use an http:// or https:// URL`);
    }
    this.base = url;
  }

  /** Uploads local files in one request (the server keeps both or neither). */
  async upload(files: { audio?: string; source?: string }): Promise<UploadResult> {
    const form = new FormData();
    // openAsBlob streams from disk: a large file never sits whole in memory.
    if (files.audio) form.append('audio', await openAsBlob(files.audio), basename(files.audio));
    if (files.source) form.append('source', await openAsBlob(files.source), basename(files.source));
    return (await this.request('POST', '/upload', form, undefined, this.apiKey)) as UploadResult;
  }

  async offer(body: Record<string, unknown>): Promise<OfferAnswer> {
    const answer = (await this.request('POST', '/webrtc/offer', JSON.stringify(body), 'application/json', this.apiKey)) as OfferAnswer;
    const url = answer.session_url ?? `/webrtc/sessions/${encodeURIComponent(answer.session_id)}`;
    this.owned.set(answer.session_id, { token: answer.session_token, url });
    return answer;
  }

  private sessionRef(id: string): { token: string | null; url: string } {
    return this.owned.get(id) ?? { token: null, url: `/webrtc/sessions/${encodeURIComponent(id)}` };
  }

  /** STUN/TURN servers with credentials of our own (GET /webrtc/ice-servers); [] from a server without the route. */
  async iceServers(): Promise<ClientIceServer[]> {
    try {
      const r = (await this.request('GET', '/webrtc/ice-servers')) as { iceServers?: ClientIceServer[] } | null;
      return Array.isArray(r?.iceServers) ? r.iceServers : [];
    } catch (e) {
      if (serverErrorDetails(e)?.http_status === 404) return [];
      throw e;
    }
  }

  /** The session's detail, or null once the server no longer has it. */
  async session(id: string): Promise<Record<string, unknown> | null> {
    try {
      const { url, token } = this.sessionRef(id);
      return (await this.request('GET', url, undefined, undefined, token)) as Record<string, unknown>;
    } catch (e) {
      if (serverErrorDetails(e)?.http_status === 404) return null;
      throw e;
    }
  }

  /** DELETE; a session the server already ended is not an error. */
  async deleteSession(id: string): Promise<void> {
    try {
      const { url, token } = this.sessionRef(id);
      await this.request('DELETE', url, undefined, undefined, token);
    } catch (e) {
      if (serverErrorDetails(e)?.http_status !== 404) throw e;
    }
  }

  private async request(method: string, path: string, body?: string | FormData, contentType?: string, bearer?: string | null): Promise<unknown> {
    const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : new URL(this.base.href + '/'));
    const headers: Record<string, string> = {};
    if (contentType) headers['content-type'] = contentType;
    if (bearer) headers['authorization'] = `Bearer ${bearer}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        ...(body === undefined ? {} : { body }),
        headers,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const why = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      throw new AppError('INTERNAL', `cannot reach the server at ${this.base.origin} (${method} ${path}): ${why}`, { cause: e });
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: reported below when the status is an error */
    }
    if (res.ok) return json;
    const err = (json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
    const code = typeof err?.code === 'string' ? err.code : `HTTP_${res.status}`;
    const message = typeof err?.message === 'string' ? err.message : text.slice(0, 200) || res.statusText;
    const details: ServerErrorDetails = {
      http_status: res.status,
      server_error: err ? { code, message, ...(err.details === undefined ? {} : { details: err.details }) } : null,
    };
    throw new AppError(isErrorCode(code) ? code : 'INTERNAL', `${method} ${path} answered ${res.status} ${code}: ${message}`, { details });
  }
}
