import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { SessionLimits, type LimitsInfo } from '../../sessions/session-limits.js';

/**
 * How long sessions live (fastify plugin "lifecycle"):
 *  - every session gets its limits when it opens (maximum duration; idle timeout for pushed audio), reported
 *    by `info()` in the answer and GET of the session; `touch()` is activity (audio, interrupt, keep-alive);
 *  - `drain()` (SIGTERM): /readyz turns 503 at once (readiness check "draining"), new offers answer 503
 *    SHUTTING_DOWN with Retry-After, running sessions go on until they end or the deadline
 *    (lifecycle.drainTimeoutS), then the rest close with reason "drain-timeout". Resolves when none is left.
 */

export interface Lifecycle {
  /** The session's limits; null once it has closed. */
  info(sessionId: string): LimitsInfo | null;
  /** Activity on a session: `playsForS` seconds of audio queued, or 0 (keep-alive). */
  touch(sessionId: string, playsForS?: number): void;
  interrupted(sessionId: string): void;
  readonly draining: boolean;
  drain(): Promise<{ closedAtDeadline: number }>;
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle;
  }
}

export default fp(
  async function lifecyclePlugin(app: FastifyInstance) {
    const { maxDurationS, idleTimeoutS, drainTimeoutS } = app.appConfig.lifecycle;
    const limits = new Map<string, SessionLimits>();
    app.sessions.on('opened', (s) => limits.set(s.id, new SessionLimits(s, { maxDurationS, idleTimeoutS })));
    app.sessions.on('closed', (s) => {
      limits.get(s.id)?.dispose();
      limits.delete(s.id);
    });
    let drained: Promise<{ closedAtDeadline: number }> | null = null;
    app.readiness.register('draining', () =>
      drained ? { ready: false, reason: 'the server is shutting down', retryAfterS: app.appConfig.sessions.retryAfterS } : { ready: true },
    );

    const drain = (): Promise<{ closedAtDeadline: number }> => {
      if (drained) return drained;
      app.sessions.stopAdmitting();
      app.log.info({ sessions: app.sessions.size, deadline_s: drainTimeoutS }, 'draining: no new sessions; waiting for running ones');
      drained = new Promise((resolve) => {
        const check = () => {
          if (app.sessions.size === 0) {
            clearTimeout(deadline);
            app.sessions.off('closed', check);
            resolve({ closedAtDeadline: 0 });
          }
        };
        const deadline = setTimeout(() => {
          app.sessions.off('closed', check);
          const left = app.sessions.list();
          app.log.warn({ sessions: left.length, deadline_s: drainTimeoutS }, 'drain deadline: closing the remaining sessions');
          void Promise.all(left.map((s) => s.close('drain-timeout', `still running ${drainTimeoutS} s after SIGTERM`))).then(() =>
            resolve({ closedAtDeadline: left.length }),
          );
        }, drainTimeoutS * 1000);
        app.sessions.on('closed', check);
        check();
      });
      return drained;
    };

    app.decorate('lifecycle', {
      info: (id: string) => limits.get(id)?.info() ?? null,
      touch: (id: string, playsForS = 0) => limits.get(id)?.touch(playsForS),
      interrupted: (id: string) => limits.get(id)?.interrupted(),
      get draining() {
        return drained !== null;
      },
      drain,
    } satisfies Lifecycle);
  },
  { name: 'lifecycle', dependencies: ['sessions', 'readiness'] },
);
