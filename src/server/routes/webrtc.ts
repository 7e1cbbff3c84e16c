import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseRequest } from '../validate.js';

const sessionParams = z.object({ id: z.string().min(1).max(128) });

/** Signalling (POST /webrtc/offer) and the session resources. */
export default async function webrtcRoutes(app: FastifyInstance) {
  app.post('/webrtc/offer', async (request, reply) => {
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

  app.get('/webrtc/sessions/:id', async (request) => {
    const { id } = parseRequest(sessionParams, request.params, 'path parameters');
    return app.sessions.get(id).detail();
  });

  app.delete('/webrtc/sessions/:id', async (request, reply) => {
    const { id } = parseRequest(sessionParams, request.params, 'path parameters');
    const session = app.sessions.get(id);
    await app.sessions.delete(id);
    return reply.status(200).send({ session_id: id, state: session.state, close_reason: session.snapshot().close_reason });
  });
}
