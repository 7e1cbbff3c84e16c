import type { FastifyInstance } from 'fastify';

/** GET / (what this server is) and GET /healthz (is it able to serve sessions). */
export default async function statusRoutes(app: FastifyInstance, opts: { loadGstVersion: () => Promise<string> }) {
  const startedAt = Date.now();

  app.get('/', async () => ({
    name: 'ditto-gst',
    message: 'Ditto WebRTC streaming server',
    demo: '/demo',
    endpoints: {
      offer: 'POST /webrtc/offer',
      sessions: 'GET /webrtc/sessions (admin token)',
      session: 'GET|DELETE /webrtc/sessions/:id (session_token)',
      keepalive: 'POST /webrtc/sessions/:id/keepalive (session_token)',
      readiness: 'GET /readyz',
      health: 'GET /healthz',
      metrics: 'GET /metrics',
    },
    sessions: { active: app.sessions.size, max: app.sessions.capacity },
    backend: app.appConfig.element.backend,
    ...(app.workers ? { pool: await app.workers.report() } : {}),
  }));

  app.get('/healthz', async (request, reply) => {
    const base = {
      uptime_s: (Date.now() - startedAt) / 1000,
      sessions: { active: app.sessions.size, max: app.sessions.capacity },
    };
    try {
      const version = await opts.loadGstVersion();
      const pipelines = [...(await app.offers.usableTemplates()).values()].map((t) => ({ name: t.name, codec: t.codec }));
      const ok = pipelines.length > 0;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', ...base, gstreamer: version, pipelines });
    } catch (e) {
      request.log.error({ err: e }, 'GStreamer unavailable');
      return reply.status(503).send({ status: 'unavailable', ...base, gstreamer: null, error: (e as Error).message });
    }
  });
}
