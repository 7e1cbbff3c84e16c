import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { nativeEventsDropped } from '../../gst/index.js';
import type { SessionManager } from '../../sessions/session-manager.js';
import { FAILURE_REASONS } from '../../sessions/session.js';
import { registerPoolGauges } from '../../workers/pool-metrics.js';
import type { DittoWorkerPool } from '../../workers/worker-pool.js';

/**
 * Prometheus metrics: decorates the app with `metrics` (its own registry, counters the routes and the error
 * handler use) and serves GET /metrics. Registered after the sessions plugin, whose manager and worker pool it
 * watches.
 */
export default fp(
  async function metricsPlugin(app: FastifyInstance) {
    app.decorate('metrics', createMetrics(app.sessions, app.workers));
    app.get('/metrics', async (_request, reply) => {
      const { registry } = app.metrics;
      return reply.header('Content-Type', registry.contentType).send(await registry.metrics());
    });
  },
  { name: 'metrics', dependencies: ['sessions'] },
);

/** Prometheus metrics of one app instance (own registry, so several apps can live in one test process). */
export interface AppMetrics {
  registry: Registry;
  offerAnswerSeconds: Histogram;
  errors: Counter<'code'>;
}

export function createMetrics(sessions: SessionManager, workers: DittoWorkerPool | null = null): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ditto_' });
  if (workers) registerPoolGauges(registry, workers);
  new Gauge({
    name: 'ditto_sessions_active',
    help: 'Sessions currently open',
    registers: [registry],
    collect() {
      this.set(sessions.size);
    },
  });
  new Gauge({
    name: 'ditto_sessions_max',
    help: 'Configured session capacity',
    registers: [registry],
    collect() {
      this.set(sessions.capacity);
    },
  });
  const total = new Counter({ name: 'ditto_sessions_total', help: 'Sessions started (answered)', registers: [registry] });
  const failed = new Counter({
    name: 'ditto_sessions_failed_total',
    help: 'Sessions that failed to start or ended abnormally, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const closed = new Counter({
    name: 'ditto_sessions_closed_total',
    help: 'Sessions ended, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const listenerErrors = new Counter({
    name: 'ditto_listener_errors_total',
    help: 'Exceptions thrown by GStreamer event listeners (logged and contained)',
    registers: [registry],
  });
  sessions.on('listener-error', () => listenerErrors.inc());
  let droppedSeen = nativeEventsDropped();
  new Counter({
    name: 'ditto_native_events_dropped_total',
    help: 'Element messages (stats, faces) the addon dropped because the JS thread was too far behind',
    registers: [registry],
    collect() {
      // The addon counts process-wide; this registry counts from its own creation on.
      const now = nativeEventsDropped();
      if (now > droppedSeen) this.inc(now - droppedSeen);
      droppedSeen = now;
    },
  });
  const frames = new Counter({ name: 'ditto_frames_out_total', help: 'Video frames produced by dittotalkinghead', registers: [registry] });
  const offerAnswerSeconds = new Histogram({
    name: 'ditto_offer_answer_seconds',
    help: 'POST /webrtc/offer: request received to answer sent (successful offers)',
    buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'ditto_errors_total',
    help: 'Error answers by error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });

  sessions.on('opened', () => total.inc());
  sessions.on('frames', (n) => frames.inc(n));
  sessions.on('start-failed', () => failed.inc({ reason: 'start-failed' }));
  sessions.on('closed', (_s, { reason }) => {
    closed.inc({ reason });
    if (FAILURE_REASONS.has(reason)) failed.inc({ reason });
  });
  return { registry, offerAnswerSeconds, errors };
}
