import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import { sessionRouteSchema, type SessionIdParams } from '../server/schemas.js';
import type { IceServers } from './ice-servers.js';

export const SDPFRAG_TYPE = 'application/trickle-ice-sdpfrag';

/** Reads trickle-ice-sdpfrag (and, for WHEP, application/sdp) bodies as text, in the registering scope only. */
export function acceptSdpBodies(app: FastifyInstance, types: readonly string[]): void {
  for (const type of types) app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => done(null, body));
}

/** If-Match (RFC 9110 §13.1.1) against the ICE session's entity tag: "*" or the current one. */
export function checkIfMatch(ifMatch: string | string[] | undefined, etag: string): void {
  if (ifMatch === undefined) return;
  const tags = (Array.isArray(ifMatch) ? ifMatch.join(',') : ifMatch).split(',').map((t) => t.trim());
  if (tags.includes('*') || tags.includes(etag)) return;
  throw new AppError('ICE_SESSION_CHANGED', `If-Match ${tags.join(', ')} does not match the ICE session ${etag}: it has restarted since`, {
    details: { etag },
  });
}

/**
 * ICE for the JSON API's clients:
 *  - GET /webrtc/ice-servers: STUN/TURN servers with TURN credentials of their own (RTCConfiguration.iceServers),
 *    for a client to use before it creates its offer (an API key as bearer when API keys are configured);
 *  - PATCH /webrtc/sessions/:id (application/trickle-ice-sdpfrag, the session token as bearer): the client's
 *    trickled candidates (answers 200 with the server's late candidates, or 204), or an ICE restart (200 with
 *    the server's new credentials and candidates). The ETag names the ICE session.
 */
export function iceRoutes(iceServers: IceServers) {
  return async function (app: FastifyInstance) {
    acceptSdpBodies(app, [SDPFRAG_TYPE]);

    // A wrong TURN secret or an unreachable TURN server: say so once, at start, not through stuck viewers.
    app.addHook('onListen', async () => {
      void iceServers.probeTurn().then((results) => {
        for (const { url, result } of results) {
          if (result.ok) app.log.info({ turn: url, relayed: result.relayed }, 'TURN server allocates relays with our credentials');
          else app.log.error({ turn: url, status: result.status, reason: result.reason }, `TURN server ${url} refused a relay${result.status === 401 ? ': wrong credentials (ice.turnSecret must be coturn\'s static-auth-secret)' : ''}: ${result.reason}`);
        }
      });
    });

    // TURN credentials are relay capacity: whoever may create sessions may have them (open without API keys).
    app.get('/webrtc/ice-servers', { preHandler: app.auth.requireApiKey }, async (_request, reply) => {
      const list = iceServers.forClient(`client-${randomUUID().slice(0, 8)}`);
      void reply.header('cache-control', 'no-store');
      return { iceServers: list.iceServers, expires_at: list.expiresAt === null ? null : new Date(list.expiresAt).toISOString() };
    });

    app.patch<{ Params: SessionIdParams; Body: string }>(
      '/webrtc/sessions/:id',
      { schema: sessionRouteSchema, preHandler: app.auth.requireSessionOwner({ param: 'id' }) },
      async (request, reply) => {
        const session = app.sessions.get(request.params.id);
        checkIfMatch(request.headers['if-match'], session.iceEtag);
        const result = session.patchIce(request.body);
        void reply.header('etag', session.iceEtag);
        if (result.fragment === null) return reply.status(204).send();
        return reply.status(200).header('content-type', SDPFRAG_TYPE).send(result.fragment);
      },
    );
  };
}
