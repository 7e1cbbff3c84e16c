import type { FastifyInstance } from 'fastify';

/**
 * GET / (what this server is), GET /healthz (liveness: the process is up and answers; nothing else, so an
 * orchestrator never restarts a server that is merely busy or warming up) and the "gstreamer" readiness check
 * (GStreamer loads and some pipeline template is usable); GET /readyz itself is in ../readiness.ts.
 */
export default async function statusRoutes(app: FastifyInstance, opts: { loadGstVersion: () => Promise<string> }) {
  const startedAt = Date.now();

  app.readiness.register('gstreamer', async () => {
    try {
      const gstreamer = await opts.loadGstVersion();
      const pipelines = [...(await app.offers.usableTemplates()).values()].map((t) => ({ name: t.name, codec: t.codec }));
      const details = { gstreamer, pipelines };
      return pipelines.length > 0
        ? { ready: true, details }
        : { ready: false, reason: 'no pipeline template is usable with this GStreamer (see `ditto-gst doctor`)', details };
    } catch (e) {
      return { ready: false, reason: `GStreamer unavailable: ${(e as Error).message}` };
    }
  });

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

  app.get('/healthz', async () => ({
    status: 'ok',
    uptime_s: (Date.now() - startedAt) / 1000,
    sessions: { active: app.sessions.size, max: app.sessions.capacity },
  }));
}
