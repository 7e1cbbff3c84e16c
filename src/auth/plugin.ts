import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, preHandlerAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.js';
import { requestToken, bearerToken } from './credentials.js';
import { originAllowed } from './origin.js';
import { SessionOwners } from './session-owners.js';
import { SecretSet, digest } from './tokens.js';

/**
 * Who may do what (fastify plugin "auth"):
 *  - every session gets a token when it opens; the answer that created it carries it (`app.auth.handOut`), and
 *    every follow-up on that session needs it (`requireSessionOwner`), or an admin token;
 *  - listing all sessions is for operators (`requireAdmin`: an admin token from configuration);
 *  - creating sessions may need an API key (`requireApiKey`; open when none is configured);
 *  - offers are rate-limited per client (`limitOffers`, @fastify/rate-limit);
 *  - requests and WebSocket upgrades from an Origin outside the allow-list are refused; CORS headers
 *    (@fastify/cors) for the listed origins.
 * Failures: 401 AUTH_REQUIRED (no credential; with WWW-Authenticate: Bearer), 403 AUTH_FORBIDDEN (a credential
 * that does not grant this), 403 ORIGIN_NOT_ALLOWED, 429 RATE_LIMITED (Retry-After), in the one error shape.
 */

export interface AuthOptions {
  /** Bearer tokens of operators: list all sessions, act on any session, create sessions. */
  adminTokens: readonly string[];
  /** When non-empty, creating a session needs one of these as bearer (or an admin token). */
  apiKeys: readonly string[];
  /** Origins (besides the server's own) allowed to call the API and open the WebSocket; "*" = any. */
  corsOrigins: readonly string[];
  /** Offers per client and window; 0 = unlimited. */
  offerRateMax: number;
  offerRateWindowS: number;
}

/** What the session registry must tell the auth layer: when a session opens and closes. */
export interface SessionLifecycleSource {
  on(event: 'opened', listener: (session: { id: string }) => void): unknown;
  on(event: 'closed', listener: (session: { id: string }) => void): unknown;
}

export interface SessionOwnerOptions {
  /** Route parameter holding the session id (default "id"). */
  param?: string;
  /** A WebSocket upgrade: the token may also come as a subprotocol or `?token=`. */
  websocket?: boolean;
}

export interface Auth {
  owners: SessionOwners;
  /** The new session's token, for the answer that created it (once). */
  handOut(sessionId: string): string | null;
  requireSessionOwner(opts?: SessionOwnerOptions): preHandlerAsyncHookHandler;
  requireAdmin: preHandlerAsyncHookHandler;
  requireApiKey: preHandlerAsyncHookHandler;
  /** onRequest hook of the routes that create sessions. */
  limitOffers: onRequestHookHandler;
  /** Whether a request carries an admin token. */
  isAdmin(request: FastifyRequest): boolean;
  /**
   * Who is asking, for per-client limits (offer rate, upload quota): a digest of the API key (or admin token)
   * when a valid one is sent (one tenant behind a shared NAT or proxy), else the client address. An invalid
   * bearer never names a client of its own, so nobody escapes a limit by inventing tokens.
   */
  clientKey(request: FastifyRequest): string;
}

declare module 'fastify' {
  interface FastifyInstance {
    auth: Auth;
  }
}

const CHALLENGE = 'Bearer realm="ditto-gst"';

function required(reply: FastifyReply, what: string): AppError {
  void reply.header('WWW-Authenticate', CHALLENGE);
  return new AppError('AUTH_REQUIRED', `${what}: send it as "Authorization: Bearer <token>"`);
}

async function authPlugin(app: FastifyInstance, opts: AuthOptions & { sessions: SessionLifecycleSource }) {
  const owners = new SessionOwners();
  const admins = new SecretSet(opts.adminTokens);
  const apiKeys = new SecretSet(opts.apiKeys);
  opts.sessions.on('opened', (s) => owners.issue(s.id));
  opts.sessions.on('closed', (s) => owners.revoke(s.id));

  const policy = { allowed: opts.corsOrigins };
  const checkOrigin = (request: FastifyRequest) => {
    const origin = request.headers.origin;
    if (!originAllowed(policy, origin, request.headers.host)) {
      throw new AppError('ORIGIN_NOT_ALLOWED', `origin ${origin} is not allowed to use this server`, { details: { origin } });
    }
  };
  // Every HTTP request. WebSocket upgrades (not protected by CORS at all, so this check is what protects them)
  // are checked by requireSessionOwner({ websocket: true }) in the route's own onRequest: a refusal from a
  // global hook leaves @fastify/websocket's upgrade half-handled and app.close() waiting for it.
  app.addHook('onRequest', async (request) => {
    if (request.headers.upgrade?.toLowerCase() !== 'websocket') checkOrigin(request);
  });
  await app.register(cors, {
    origin: opts.corsOrigins.includes('*') ? true : [...opts.corsOrigins],
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'If-Match'],
    exposedHeaders: ['Location', 'ETag', 'Link', 'Retry-After', 'WWW-Authenticate', 'X-Ditto-Instance'],
    maxAge: 600,
  });

  const clientKey = (request: FastifyRequest) => {
    const key = bearerToken(request);
    return key !== null && (apiKeys.has(key) || admins.has(key)) ? `key:${digest(key).toString('hex')}` : `ip:${request.ip}`;
  };

  await app.register(rateLimit, { global: false });
  const limitOffers: onRequestHookHandler =
    opts.offerRateMax > 0
      ? app.rateLimit({
          max: opts.offerRateMax,
          timeWindow: opts.offerRateWindowS * 1000,
          keyGenerator: clientKey,
          errorResponseBuilder: (_request, context) =>
            new AppError('RATE_LIMITED', `too many offers: at most ${context.max} per ${context.after}`, {
              retryAfterS: Math.max(1, Math.ceil(context.ttl / 1000)),
              details: { max: context.max, window: context.after },
            }),
        })
      : (_request, _reply, done) => done();

  const isAdmin = (request: FastifyRequest) => admins.has(bearerToken(request));

  const auth: Auth = {
    owners,
    handOut: (id) => owners.handOut(id),
    isAdmin,
    clientKey,
    limitOffers,
    requireSessionOwner({ param = 'id', websocket = false } = {}) {
      return async (request, reply) => {
        if (websocket) checkOrigin(request);
        const id = (request.params as Record<string, unknown> | undefined)?.[param];
        if (typeof id !== 'string' || id === '') throw new AppError('VALIDATION_FAILED', `invalid path parameters: ${param}: required`);
        const token = requestToken(request, websocket);
        if (token === null) {
          throw required(reply, websocket ? 'this session needs its session_token (bearer, ?token= or the ditto-token.<token> subprotocol)' : 'this session needs its session_token');
        }
        if (admins.has(token)) return; // operators may act on any session (the route answers 404 for an unknown one)
        const check = owners.check(id, token);
        if (check === 'unknown') throw new AppError('SESSION_NOT_FOUND', `no session ${id}`, { details: { session_id: id } });
        if (check === 'not-owner') throw new AppError('AUTH_FORBIDDEN', `the token does not grant access to session ${id}`, { details: { session_id: id } });
      };
    },
    async requireAdmin(request, reply) {
      const token = bearerToken(request);
      if (token === null) throw required(reply, 'this needs an admin token');
      if (admins.empty) throw new AppError('AUTH_FORBIDDEN', 'no admin token is configured on this server (auth.adminTokens)');
      if (!admins.has(token)) throw new AppError('AUTH_FORBIDDEN', 'the token is not an admin token');
    },
    async requireApiKey(request, reply) {
      if (apiKeys.empty) return;
      const token = bearerToken(request);
      if (token === null) throw required(reply, 'creating a session needs an API key');
      if (!apiKeys.has(token) && !admins.has(token)) throw new AppError('AUTH_FORBIDDEN', 'the API key is not valid');
    },
  };
  app.decorate('auth', auth);
}

export default fp(authPlugin, { name: 'auth', dependencies: ['error-handling'] });
