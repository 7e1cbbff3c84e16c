import type { FastifyInstance } from 'fastify';
import { offerRouteSchema, sessionRouteSchema, type SessionIdParams } from '../schemas.js';

/** Signalling (POST /webrtc/offer) and the session resources. */
export default async function webrtcRoutes(app: FastifyInstance) {
  app.post('/webrtc/offer', { schema: offerRouteSchema }, async (request, reply) => {
    const started = process.hrtime.bigint();
    const answer = await app.offers.answer(request.body);
    app.metrics.offerAnswerSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    request.log.info(
      { session_id: answer.session_id, codec: answer.params.video_codec, warnings: answer.warnings.length },
      'offer answered',
    );
    return reply.status(200).send(answer);
  });

  app.get('/webrtc/sessions', async () => {
    const workers = app.workers;
    return {
      // backend "ditto": which pool worker serves each session
      sessions: app.sessions.list().map((s) => (workers ? { ...s.snapshot(), ditto_worker: workers.workerOf(s.id) } : s.snapshot())),
      active: app.sessions.size,
      max: app.sessions.capacity,
      ...(workers ? { pool: await workers.report() } : {}),
    };
  });

  app.get<{ Params: SessionIdParams }>('/webrtc/sessions/:id', { schema: sessionRouteSchema }, async (request) => {
    const { id } = request.params;
    return app.sessions.get(id).detail();
  });

  app.delete<{ Params: SessionIdParams }>('/webrtc/sessions/:id', { schema: sessionRouteSchema }, async (request, reply) => {
    const { id } = request.params;
    const session = app.sessions.get(id);
    await app.sessions.delete(id);
    return reply.status(200).send({ session_id: id, state: session.state, close_reason: session.snapshot().close_reason });
  });
}
