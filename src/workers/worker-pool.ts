/**
 * The server's view of the Ditto worker pool (backend "ditto"): one reservation per offer, handed to the
 * session's element as worker-socket + worker-ticket, given back when the session ends without the element
 * having claimed it, and the pool's state for stats and metrics.
 *
 *   const workers = new DittoWorkerPool(config.worker, logger);
 *   const r = await workers.reserve(sessionId);  // AT_CAPACITY / MODEL_UNAVAILABLE (503 + Retry-After)
 *   ... element: worker-socket=r.socket worker-ticket=r.ticket worker-timeout=r.timeoutS
 *   workers.release(sessionId);                  // session over (or never started): cancel if unclaimed
 */
import type { ServerConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { PoolClient, type PoolStatus } from './pool-client.js';

export interface WorkerReservation {
  /** The pool's element socket (worker-socket). */
  socket: string;
  /** Claims exactly the reserved worker (worker-ticket). */
  ticket: string;
  /** Index of the reserved worker in the pool. */
  worker: number;
  /** The element's worker-timeout, seconds. */
  timeoutS: number;
}

export type PoolReport =
  | ({ reachable: true; socket: string } & Omit<PoolStatus, 'version'>)
  | { reachable: false; socket: string; error: string };

/** Scrapes read the status once for all of their gauges. */
const STATUS_REUSE_MS = 250;

export class DittoWorkerPool {
  readonly socket: string;
  private readonly client: PoolClient;
  private readonly ttlS: number;
  private readonly timeoutS: number;
  /** Reservations of live (or starting) sessions, by session id. */
  private readonly held = new Map<string, WorkerReservation>();
  private recent: { at: number; status: Promise<PoolStatus> } | null = null;

  constructor(
    settings: ServerConfig['worker'],
    private readonly log: Logger,
    retryAfterS = 5,
  ) {
    this.socket = settings.socket;
    this.client = new PoolClient(`${settings.socket}.ctl`, { timeoutMs: settings.reserveTimeoutMs, retryAfterS });
    this.ttlS = settings.reservationTtlS;
    this.timeoutS = settings.timeoutS;
  }

  /** Holds an idle worker for the session; AT_CAPACITY when none is idle, MODEL_UNAVAILABLE when the pool is gone. */
  async reserve(sessionId: string): Promise<WorkerReservation> {
    const r = await this.client.reserve(this.ttlS);
    const reservation = { socket: this.socket, ticket: r.ticket, worker: r.worker, timeoutS: this.timeoutS };
    this.held.set(sessionId, reservation);
    this.log.debug({ session_id: sessionId, worker: r.worker }, 'ditto worker reserved');
    return reservation;
  }

  /** The worker reserved for a session, while the session holds it. */
  workerOf(sessionId: string): number | null {
    return this.held.get(sessionId)?.worker ?? null;
  }

  /**
   * Gives the session's reservation back. A claimed ticket is no longer cancellable (the worker returns to
   * the pool when its element disconnects); an unclaimed one would otherwise block a worker until its ttl.
   * Never throws: the session is over either way.
   */
  async release(sessionId: string): Promise<void> {
    const r = this.held.get(sessionId);
    if (!r) return;
    this.held.delete(sessionId);
    try {
      const released = await this.client.cancel(r.ticket);
      if (released) this.log.info({ session_id: sessionId, worker: r.worker }, 'unclaimed ditto worker reservation cancelled');
    } catch (e) {
      this.log.warn({ session_id: sessionId, worker: r.worker, err: e }, 'could not cancel a ditto worker reservation (it expires by itself)');
    }
  }

  status(): Promise<PoolStatus> {
    const now = Date.now();
    if (!this.recent || now - this.recent.at > STATUS_REUSE_MS) {
      this.recent = { at: now, status: this.client.status() };
      this.recent.status.catch(() => undefined);
    }
    return this.recent.status;
  }

  /** The pool's state for GET / and GET /webrtc/sessions; an unreachable pool is reported, not thrown. */
  async report(): Promise<PoolReport> {
    try {
      const { version: _version, ...status } = await this.status();
      return { reachable: true, socket: this.socket, ...status };
    } catch (e) {
      return { reachable: false, socket: this.socket, error: (e as Error).message };
    }
  }
}
