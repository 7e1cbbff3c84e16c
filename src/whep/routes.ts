import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerConfig } from '../config/schema.js';
import { AppError } from '../errors.js';
import { iceServerLinks, type IceServers } from '../ice/ice-servers.js';
import { acceptSdpBodies, checkIfMatch, SDPFRAG_TYPE } from '../ice/routes.js';
import { zodSchema } from '../server/validate.js';
import { presetMap } from './presets.js';

/**
 * WHEP (draft-ietf-wish-whep; resource rules as in RFC 9725):
 *   POST    /whep/:avatar  application/sdp  201 Created + the SDP answer, Location of the session resource,
 *                                          ETag, Link rel="ice-server" (TURN credentials of its own)
 *   PATCH   <resource>     trickle-ice-sdpfrag  204 (trickle) / 200 + sdpfrag (ICE restart, new ETag)
 *   DELETE  <resource>                     200, the session ends
 * :avatar names a preset (portrait, audio source, tuning) from whep.presets. A WHEP client knows nothing of
 * this server's session tokens: the resource URL carries the session's token, so the URL itself is the
 * capability (POST may still need an API key as bearer, as every session-creating route does). ICE servers
 * come as Link headers of the 201 (RFC 9725 §4.6; OPTIONS is CORS preflight here) and, for clients that want
 * them before their offer, from GET /webrtc/ice-servers.
 */

const avatarParams = z.object({ avatar: z.string().min(1).max(64) });
const resourceParams = z.object({ id: z.string().min(1).max(128), token: z.string().min(16).max(256) });
type ResourceParams = z.infer<typeof resourceParams>;

export function whepRoutes(config: ServerConfig, iceServers: IceServers) {
  const presets = presetMap(config.whep.presets);
  const { id: instanceId, publicUrl } = config.instance;
  const prefix = publicUrl || (instanceId ? `/i/${instanceId}` : '');

  return async function (app: FastifyInstance) {
    acceptSdpBodies(app, ['application/sdp', SDPFRAG_TYPE]);

    const preset = (request: FastifyRequest<{ Params: { avatar: string } }>) => {
      const p = presets.get(request.params.avatar);
      if (!p) {
        throw new AppError('NOT_FOUND', `no avatar "${request.params.avatar}" (configured: ${[...presets.keys()].join(', ') || 'none'})`, {
          details: { avatar: request.params.avatar },
        });
      }
      return p;
    };

    /** The resource's token is its capability: the session's own token, or an admin's bearer. */
    const requireResourceToken = async (request: FastifyRequest<{ Params: ResourceParams }>) => {
      const { id, token } = request.params;
      if (app.auth.isAdmin(request)) return;
      const check = app.auth.owners.check(id, token);
      if (check === 'unknown') throw new AppError('SESSION_NOT_FOUND', `no session ${id}`, { details: { session_id: id } });
      if (check === 'not-owner') throw new AppError('AUTH_FORBIDDEN', `this is not the resource URL of session ${id}`, { details: { session_id: id } });
    };

    const avatarSchema = { params: zodSchema(avatarParams, 'path parameters') };
    const resourceSchema = { params: zodSchema(resourceParams, 'path parameters') };
    // The resource URL holds a secret: keep it out of the request log (the handlers log the session id).
    const quiet = { logLevel: 'warn' as const };

    app.post<{ Params: { avatar: string }; Body: string }>(
      '/whep/:avatar',
      { schema: avatarSchema, onRequest: app.auth.limitOffers, preHandler: app.auth.requireApiKey },
      async (request, reply) => {
        if (request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() !== 'application/sdp') {
          throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'a WHEP offer is application/sdp');
        }
        const payload = preset(request);
        const started = process.hrtime.bigint();
        const answer = await app.offers.answer({ ...payload, sdp: request.body, type: 'offer' });
        app.metrics.offerAnswerSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        const id = answer.session_id;
        const token = app.auth.handOut(id);
        if (token === null) throw new AppError('INTERNAL', `session ${id} has no token to hand out`);
        const session = app.sessions.get(id);
        const { iceServers: servers } = iceServers.forClient(id);
        request.log.info({ session_id: id, avatar: request.params.avatar, codec: answer.params.video_codec }, 'WHEP offer answered');
        return reply
          .status(201)
          .header('content-type', 'application/sdp')
          .header('location', `${prefix}/whep/sessions/${id}/${token}`)
          .header('etag', session.iceEtag)
          .header('accept-patch', SDPFRAG_TYPE)
          .header('link', iceServerLinks(servers))
          .send(answer.sdp);
      },
    );

    app.patch<{ Params: ResourceParams; Body: string }>(
      '/whep/sessions/:id/:token',
      { ...quiet, schema: resourceSchema, preHandler: requireResourceToken },
      async (request, reply) => {
        if (request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() !== SDPFRAG_TYPE) {
          throw new AppError('UNSUPPORTED_MEDIA_TYPE', `a WHEP PATCH is ${SDPFRAG_TYPE}`);
        }
        const session = app.sessions.get(request.params.id);
        checkIfMatch(request.headers['if-match'], session.iceEtag);
        const result = session.patchIce(request.body);
        request.log.info({ session_id: session.id, ice_restart: result.restarted }, 'WHEP PATCH');
        void reply.header('etag', session.iceEtag);
        // RFC 9725 §4.3.1: a trickle PATCH answers 204 without a body; a restart 200 with the new sdpfrag.
        if (!result.restarted) return reply.status(204).send();
        return reply.status(200).header('content-type', SDPFRAG_TYPE).send(result.fragment);
      },
    );

    app.delete<{ Params: ResourceParams }>(
      '/whep/sessions/:id/:token',
      { ...quiet, schema: resourceSchema, preHandler: requireResourceToken },
      async (request, reply) => {
        const { id } = request.params;
        await app.sessions.delete(id);
        request.log.info({ session_id: id }, 'WHEP session deleted');
        return reply.status(200).send({ session_id: id });
      },
    );
  };
}
