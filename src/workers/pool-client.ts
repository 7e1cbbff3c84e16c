/**
 * Client of the Ditto worker pool's control socket (plugins/ditto/worker/ditto_worker/pool.py).
 *
 * The pool keeps N loaded model workers per GPU. The server asks it for its status (stats, metrics,
 * Retry-After) and reserves a worker before it starts a session's pipeline: the reservation's ticket goes
 * to the element (`worker-ticket`), which claims exactly that worker, so two offers never race for the
 * last one. Protocol: one JSON object per line each way over a unix stream socket (default: the pool
 * socket's path + ".ctl").
 *
 *   const pool = new PoolClient('/run/ditto/pool.sock.ctl');
 *   const st = await pool.status();            // { idle, busy, loading, exhausted, retry_after_s, ... }
 *   const r = await pool.reserve(30);          // AT_CAPACITY (503) when every worker is taken,
 *                                              // MODEL_UNAVAILABLE (503) when none could load (the pool's reason)
 *   // element: backend=ditto worker-socket=/run/ditto/pool.sock worker-ticket=${r.ticket}
 *   await pool.cancel(r.ticket);               // when the offer fails before the element claimed it
 *
 * No pool at the path, or no answer in time: AppError MODEL_UNAVAILABLE (503 with Retry-After).
 */
import { createConnection } from 'node:net';
import { AppError } from '../errors.js';

export type WorkerState = 'loading' | 'idle' | 'reserved' | 'busy' | 'down';

/** A worker's start-up self-test (plugins/ditto/worker/ditto_worker/selftest.py + device.py). */
export interface WorkerWarmup {
  load_ms: number;
  setup_ms: number;
  /** feed of the first window of silence to its first frame (compute only) */
  first_frame_ms: number;
  /** per-window compute: feed to the first frame it releases, worst case */
  window_ms: number;
  frame_ms: number | null;
  gpu: string | null;
  compute_capability: string | null;
  driver_cuda: string | null;
  cuda_runtime: string | null;
  tensorrt: string | null;
  cuda_visible_devices: string | null;
  [k: string]: unknown;
}

export interface PoolWorker {
  id: number;
  pid: number | null;
  state: WorkerState;
  /** CUDA_VISIBLE_DEVICES of the worker (GPU index or GPU-/MIG- UUID), null: inherited */
  device: string | null;
  sessions: number;
  restarts: number;
  load_failures: number;
  last_error: string | null;
  load_s: number | null;
  warmup: WorkerWarmup | null;
}

export interface PoolDevice {
  device: string | null;
  workers: number;
  idle: number;
  reserved: number;
  busy: number;
  loading: number;
  down: number;
}

export interface PoolStatus {
  version: number;
  workers: number;
  idle: number;
  reserved: number;
  busy: number;
  loading: number;
  down: number;
  /** no idle worker: a new session would be refused */
  exhausted: boolean;
  /** what a 503 should put in Retry-After */
  retry_after_s: number;
  restarts: number;
  sessions: number;
  /** why no session can be served now (null while a worker is idle) */
  reason: string | null;
  /** some worker has loaded the model (false: MODEL_UNAVAILABLE rather than a full pool) */
  model_loaded: boolean;
  devices: PoolDevice[];
  list: PoolWorker[];
}

export interface Reservation {
  ticket: string;
  worker: number;
  expires_in_s: number;
}

export interface PoolClientOptions {
  /** per request, default 2000 */
  timeoutMs?: number;
  /** Retry-After of MODEL_UNAVAILABLE (pool unreachable or silent), default 5 */
  retryAfterS?: number;
}

type Reply = { ok: true; [k: string]: unknown } | { ok: false; code: string; message: string; retry_after_s?: number; status?: PoolStatus };

export class PoolClient {
  readonly path: string;
  private readonly timeoutMs: number;
  private readonly retryAfterS: number;

  constructor(controlSocketPath: string, options: PoolClientOptions = {}) {
    this.path = controlSocketPath;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.retryAfterS = options.retryAfterS ?? 5;
  }

  async status(): Promise<PoolStatus> {
    const reply = await this.request({ op: 'status' });
    if (!reply.ok) throw this.failure(reply);
    return parseStatus(reply['status']);
  }

  /** Holds an idle worker for ttlS seconds; AT_CAPACITY when all are taken, MODEL_UNAVAILABLE when none loaded. */
  async reserve(ttlS = 30): Promise<Reservation> {
    const reply = await this.request({ op: 'reserve', ttl_s: ttlS });
    if (!reply.ok) throw this.failure(reply);
    const { ticket, worker, expires_in_s } = reply;
    if (typeof ticket !== 'string' || typeof worker !== 'number' || typeof expires_in_s !== 'number') {
      throw new AppError('INTERNAL', 'Ditto worker pool: malformed reservation', { details: { reply } });
    }
    return { ticket, worker, expires_in_s };
  }

  /** Gives a reservation back; false when it had expired or been claimed already. */
  async cancel(ticket: string): Promise<boolean> {
    const reply = await this.request({ op: 'cancel', ticket });
    if (!reply.ok) throw this.failure(reply);
    return reply['released'] === true;
  }

  private failure(reply: Extract<Reply, { ok: false }>): AppError {
    if (reply.code === 'exhausted' || reply.code === 'unavailable') {
      return new AppError(reply.code === 'exhausted' ? 'AT_CAPACITY' : 'MODEL_UNAVAILABLE', reply.message, {
        retryAfterS: reply.retry_after_s ?? 5,
        details: { pool: reply.status ?? null },
      });
    }
    return new AppError('INTERNAL', `Ditto worker pool: ${reply.message}`, { details: { code: reply.code } });
  }

  private request(body: Record<string, unknown>): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(this.path);
      let buf = '';
      let settled = false;
      const done = (err: AppError | null, reply?: Reply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(reply as Reply);
      };
      // No pool, or one that does not answer: the model is unavailable (503), not a bug of ours (500).
      const unavailable = (message: string, pool: string, cause?: unknown): AppError =>
        new AppError('MODEL_UNAVAILABLE', message, { retryAfterS: this.retryAfterS, details: { pool }, ...(cause === undefined ? {} : { cause }) });
      const timer = setTimeout(
        () => done(unavailable(`Ditto worker pool at ${this.path} did not answer within ${this.timeoutMs} ms`, 'timeout')),
        this.timeoutMs,
      );
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write(`${JSON.stringify(body)}\n`));
      sock.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        try {
          const reply = JSON.parse(buf.slice(0, nl)) as unknown;
          if (typeof reply !== 'object' || reply === null || typeof (reply as { ok?: unknown }).ok !== 'boolean') {
            throw new Error('no "ok" field');
          }
          done(null, reply as Reply);
        } catch (e) {
          done(new AppError('INTERNAL', `Ditto worker pool at ${this.path} sent an invalid reply`, { cause: e, details: { pool: 'protocol' } }));
        }
      });
      sock.on('error', (e: NodeJS.ErrnoException) => done(unavailable(`Ditto worker pool unreachable at ${this.path}: ${e.code ?? e.message}`, 'unreachable', e)));
      sock.on('close', () => done(unavailable(`Ditto worker pool at ${this.path} closed the connection without an answer`, 'closed')));
    });
  }
}

function parseStatus(v: unknown): PoolStatus {
  const o = v as Partial<PoolStatus> | null;
  const counts = ['workers', 'idle', 'reserved', 'busy', 'loading', 'down', 'retry_after_s', 'restarts', 'sessions'] as const;
  if (!o || typeof o !== 'object' || counts.some((k) => typeof o[k] !== 'number') || typeof o.exhausted !== 'boolean' || !Array.isArray(o.list)) {
    throw new AppError('INTERNAL', 'Ditto worker pool: malformed status', { details: { status: v } });
  }
  return { reason: null, model_loaded: true, devices: [], ...o } as PoolStatus;
}
