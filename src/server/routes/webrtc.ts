import type { FastifyInstance } from 'fastify';
import { offerRouteSchema, sessionRouteSchema, type SessionIdParams } from '../schemas.js';

/**
 * Signalling (POST /webrtc/offer) and the session resources. Creating a session may need an API key and is
 * rate-limited per client; the answer carries the session's token and its resource URL (on the instance that
 * owns it); everything on a session needs that token (or an admin token); listing all sessions is for admins.
 * The credential checks run in onRequest, before any body is read.
 */
export default async function webrtcRoutes(app: FastifyInstance) {
  const owner = app.auth.requireSessionOwner();

  app.post('/webrtc/offer', { schema: offerRouteSchema, onRequest: [app.auth.limitOffers, app.auth.requireApiKey] }, async (request, reply) => {
    const started = process.hrtime.bigint();
    const answer = await app.offers.answer(request.body);
    app.metrics.offerAnswerSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    request.log.info(
      { session_id: answer.session_id, codec: answer.params.video_codec, warnings: answer.warnings.length },
      'offer answered',
    );
    const id = answer.session_id;
    const sessionUrl = app.instance.url(`/webrtc/sessions/${id}`);
    return reply.status(200).send({
      ...answer,
      session_token: app.auth.handOut(id),
      session_url: sessionUrl,
      ...(answer.params.audio_source === 'push' ? { audio_url: `${sessionUrl}/audio` } : {}),
      instance: app.instance.id,
      limits: app.lifecycle.info(id),
    });
  });

  app.get('/webrtc/sessions', { onRequest: app.auth.requireAdmin }, async () => {
    const workers = app.workers;
    return {
      // backend "ditto": which pool worker serves each session
      sessions: app.sessions.list().map((s) => (workers ? { ...s.snapshot(), ditto_worker: workers.workerOf(s.id) } : s.snapshot())),
      active: app.sessions.size,
      max: app.sessions.capacity,
      ...(workers ? { pool: await workers.report() } : {}),
    };
  });

  app.get<{ Params: SessionIdParams }>('/webrtc/sessions/:id', { schema: sessionRouteSchema, onRequest: owner }, async (request) => {
    const { id } = request.params;
    const detail = await app.sessions.get(id).detail();
    return { ...detail, limits: app.lifecycle.info(id) };
  });

  app.delete<{ Params: SessionIdParams }>('/webrtc/sessions/:id', { schema: sessionRouteSchema, onRequest: owner }, async (request, reply) => {
    const { id } = request.params;
    const session = app.sessions.get(id);
    await app.sessions.delete(id);
    return reply.status(200).send({ session_id: id, state: session.state, close_reason: session.snapshot().close_reason });
  });

  // Hosted-API style keep-alive: resets a pushed-audio session's idle timeout.
  app.post<{ Params: SessionIdParams }>('/webrtc/sessions/:id/keepalive', { schema: sessionRouteSchema, onRequest: owner }, async (request) => {
    const { id } = request.params;
    app.sessions.get(id);
    app.lifecycle.touch(id);
    return { session_id: id, limits: app.lifecycle.info(id) };
  });
}
