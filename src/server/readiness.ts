/**
 * Readiness: would a new session be served right now? Separate from liveness (GET /healthz: the process
 * is up and answers), because a live server can be unready for good reasons: every session slot taken,
 * the model still warming up, no model worker able to load, the process draining before exit.
 *
 * Checks are registered by name; GET /readyz runs all of them and answers 200 when every one is ready,
 * else 503 {"error":{"code":"NOT_READY","message":<the reasons>,"details":{checks}}} with Retry-After.
 *
 *   app.readiness.register('draining', () => ({ ready: !draining, reason: 'shutting down' }));
 *   const unregister = app.readiness.register('model', async () => ({ ready: idle > 0, reason, retryAfterS: 5 }));
 *
 * Built-in checks: "capacity" (a free session slot) and, with backend "ditto", "model" (at least one
 * loaded, idle worker in the pool; the pool's own reason otherwise, e.g. why its workers fail to load).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../errors.js';

export interface ReadinessResult {
  ready: boolean;
  /** Why not, for people: goes into the 503's message. */
  reason?: string;
  /** When to ask again (seconds); the largest of the failing checks goes into Retry-After. */
  retryAfterS?: number;
  /** What the check saw, for operators (shown under checks.<name>.details). */
  details?: Record<string, unknown>;
}

export type ReadinessCheck = () => ReadinessResult | Promise<ReadinessResult>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, ReadinessResult>;
  /** "name: reason" of every failing check, in registration order. */
  reasons: string[];
  retryAfterS: number;
}

const DEFAULT_RETRY_AFTER_S = 5;
/** A check that hangs must not hang the probe: it counts as not ready. */
const CHECK_TIMEOUT_MS = 2000;

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  /** Adds a check; returns its unregister function. Names are unique (a second one with a name throws). */
  register(name: string, check: ReadinessCheck): () => void {
    if (this.checks.has(name)) throw new Error(`readiness check "${name}" is already registered`);
    this.checks.set(name, check);
    return () => {
      if (this.checks.get(name) === check) this.checks.delete(name);
    };
  }

  names(): string[] {
    return [...this.checks.keys()];
  }

  async evaluate(): Promise<ReadinessReport> {
    const entries = [...this.checks.entries()];
    const results = await Promise.all(entries.map(([, check]) => runCheck(check)));
    const checks: Record<string, ReadinessResult> = {};
    const reasons: string[] = [];
    let retryAfterS = 0;
    entries.forEach(([name], i) => {
      const r = results[i] as ReadinessResult;
      checks[name] = r;
      if (!r.ready) {
        reasons.push(`${name}: ${r.reason ?? 'not ready'}`);
        retryAfterS = Math.max(retryAfterS, r.retryAfterS ?? DEFAULT_RETRY_AFTER_S);
      }
    });
    return { ready: reasons.length === 0, checks, reasons, retryAfterS: reasons.length ? retryAfterS : 0 };
  }
}

async function runCheck(check: ReadinessCheck): Promise<ReadinessResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<ReadinessResult>((resolve) => {
      timer = setTimeout(() => resolve({ ready: false, reason: `check did not answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
    });
    const r = await Promise.race([Promise.resolve().then(check), timeout]);
    return {
      ready: r.ready === true,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
      ...(r.retryAfterS === undefined ? {} : { retryAfterS: r.retryAfterS }),
      ...(r.details === undefined ? {} : { details: r.details }),
    };
  } catch (e) {
    return { ready: false, reason: `check failed: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness;
  }
}

/** Decorates app.readiness, registers the built-in checks and GET /readyz. Needs the sessions plugin. */
export default fp(
  async function readinessPlugin(app: FastifyInstance) {
    const readiness = new Readiness();
    app.decorate('readiness', readiness);

    readiness.register('capacity', () => {
      const { size, capacity } = app.sessions;
      return size < capacity
        ? { ready: true }
        : { ready: false, reason: `all ${capacity} session slots are in use`, retryAfterS: app.appConfig.sessions.retryAfterS };
    });
    if (app.workers) {
      const workers = app.workers;
      readiness.register('model', async () => {
        try {
          const st = await workers.status();
          const details = { idle: st.idle, busy: st.busy, reserved: st.reserved, loading: st.loading, down: st.down, model_loaded: st.model_loaded };
          if (st.idle > 0) return { ready: true, details };
          return { ready: false, reason: st.reason ?? `no idle Ditto worker (${st.busy} busy, ${st.loading} loading, ${st.down} down)`, retryAfterS: st.retry_after_s, details };
        } catch (e) {
          return { ready: false, reason: (e as Error).message };
        }
      });
    }

    app.get('/readyz', async (_request, reply) => {
      const report = await readiness.evaluate();
      if (report.ready) return reply.status(200).send({ status: 'ready', checks: report.checks });
      void reply.header('Retry-After', String(report.retryAfterS));
      return reply.status(503).send(errorBody('NOT_READY', report.reasons.join('; '), { checks: report.checks }));
    });
  },
  { name: 'readiness', dependencies: ['sessions'] },
);
