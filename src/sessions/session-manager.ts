import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { IceConfig } from '../gst/types.js';
import { AppError } from '../errors.js';
import type { GstLoader } from '../gst/loader.js';
import type { Logger } from '../logger.js';
import { Session, TEARDOWN_DEADLINE_MS, type CloseReason, type SessionSpec, type SessionTimeouts } from './session.js';

/**
 * Owns every live Session: admission against the capacity limit (slots are taken before the pipeline is
 * built, so concurrent offers cannot overshoot), lookup, DELETE and graceful shutdown of all sessions.
 */

/** The longest closeAll() waits (a little more than one session's teardown deadline). */
export const CLOSE_ALL_DEADLINE_MS = TEARDOWN_DEADLINE_MS + 2_000;

export interface SessionManagerOptions {
  maxSessions: number;
  retryAfterS: number;
  timeouts: SessionTimeouts;
  /** Each session's ICE agent settings (a function: sessions get TURN credentials of their own). */
  ice: IceConfig | ((sessionId: string) => IceConfig);
  /** 1:1 NAT: the public address announced in place of host candidates. */
  publicAddress?: string;
  loadGst: GstLoader;
  logger: Logger;
  /** Adaptive video bitrate bounds for every session (maxBps 0 = the template's rate); null = off. */
  bitrate?: { minBps: number; maxBps: number } | null;
}

export interface SessionManagerEvents {
  opened: [Session];
  closed: [Session, { reason: CloseReason; detail: string | null }];
  frames: [number];
  'start-failed': [AppError];
  /** An event listener threw (logged; the event was skipped for that listener). */
  'listener-error': [];
}

export class SessionManager extends EventEmitter<SessionManagerEvents> {
  private readonly sessions = new Map<string, Session>();
  private starting = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private shuttingDown: Promise<void> | null = null;
  private draining = false;

  constructor(private readonly opts: SessionManagerOptions) {
    super();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions plus offers still being answered. */
  get occupied(): number {
    return this.sessions.size + this.starting;
  }

  get capacity(): number {
    return this.opts.maxSessions;
  }

  newId(): string {
    return randomUUID();
  }

  /** Throws AT_CAPACITY / SHUTTING_DOWN when a new session cannot be admitted right now. */
  assertAdmissible(): void {
    if (this.shuttingDown || this.draining) {
      throw new AppError('SHUTTING_DOWN', 'the server is shutting down', { retryAfterS: this.opts.retryAfterS });
    }
    if (this.occupied >= this.opts.maxSessions) {
      throw new AppError('AT_CAPACITY', `all ${this.opts.maxSessions} session slots are in use`, {
        retryAfterS: this.opts.retryAfterS,
        details: { max_sessions: this.opts.maxSessions },
      });
    }
  }

  /** Starts a session and resolves with its answer SDP as soon as it exists. */
  async create(spec: SessionSpec): Promise<{ session: Session; answer: string }> {
    this.assertAdmissible();
    this.starting++;
    const starting = this.start(spec);
    this.pending.add(starting);
    try {
      return await starting;
    } catch (e) {
      if (!(e instanceof AppError)) this.opts.logger.error({ err: e, session_id: spec.id }, 'session start failed');
      const err = e instanceof AppError ? e : new AppError('PIPELINE_START_FAILED', `the session could not be started (server log: session ${spec.id})`, { cause: e });
      this.emit('start-failed', err);
      throw err;
    } finally {
      this.starting--;
      this.pending.delete(starting);
    }
  }

  private async start(spec: SessionSpec): Promise<{ session: Session; answer: string }> {
    const gst = await this.opts.loadGst();
    gst.onListenerError(this.onListenerError);
    const started = await Session.start(spec, {
      gst,
      ice: typeof this.opts.ice === 'function' ? this.opts.ice(spec.id) : this.opts.ice,
      ...(this.opts.publicAddress ? { publicAddress: this.opts.publicAddress } : {}),
      timeouts: this.opts.timeouts,
      logger: this.opts.logger,
      bitrate: this.opts.bitrate ?? null,
    });
    const { session } = started;
    if (session.ended || this.shuttingDown) {
      // Ended between answer and registration (pipeline error, or shutdown began): never expose it.
      await session.close('shutdown');
      throw new AppError(this.shuttingDown ? 'SHUTTING_DOWN' : 'PIPELINE_START_FAILED', 'the session ended while starting', {
        retryAfterS: this.opts.retryAfterS,
      });
    }
    this.sessions.set(session.id, session);
    // Frames made while the offer was being answered were reported before anyone listened.
    const early = session.snapshot().frames_out ?? 0;
    if (early > 0) this.emit('frames', early);
    session.on('frames', (n) => this.emit('frames', n));
    session.once('closed', (info) => {
      this.sessions.delete(session.id);
      this.emit('closed', session, info);
    });
    this.emit('opened', session);
    return started;
  }

  private readonly onListenerError = (err: unknown, owner: string, event: string) => {
    this.opts.logger.error({ err, pipeline: owner, event }, `a "${event}" listener threw; that listener skipped the event`);
    this.emit('listener-error');
  };

  get(id: string): Session {
    const s = this.sessions.get(id);
    if (!s) throw new AppError('SESSION_NOT_FOUND', `no session ${id}`, { details: { session_id: id } });
    return s;
  }

  list(): Session[] {
    return [...this.sessions.values()];
  }

  async delete(id: string): Promise<void> {
    await this.get(id).close('deleted', 'DELETE /webrtc/sessions/:id');
  }

  /** Refuses new sessions from now on (503 SHUTTING_DOWN); open ones go on. The drain on SIGTERM starts here. */
  stopAdmitting(): void {
    this.draining = true;
  }

  get admitting(): boolean {
    return !this.draining && !this.shuttingDown;
  }

  /**
   * Refuses new sessions and closes every open one, waiting at most `deadlineMs` (each session's own teardown
   * deadline applies too): a stuck graph must not keep a SIGTERM'd server from exiting. Idempotent.
   */
  closeAll(reason: CloseReason = 'shutdown', deadlineMs = CLOSE_ALL_DEADLINE_MS): Promise<void> {
    if (!this.shuttingDown) {
      const open = this.list();
      // Offers still starting notice shuttingDown and close themselves; wait for them too.
      const all = Promise.all([...open.map((s) => s.close(reason)), Promise.allSettled([...this.pending])]).then(() => 'done' as const);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), deadlineMs)));
      this.shuttingDown = Promise.race([all, late]).then((outcome) => {
        clearTimeout(timer);
        if (outcome === 'late') {
          const stuck = open.filter((s) => !s.closed).map((s) => s.id);
          this.opts.logger.error({ deadline_ms: deadlineMs, stuck }, 'closing all sessions overran its deadline: shutting down without them');
        } else if (open.length > 0) this.opts.logger.info({ sessions: open.length, reason }, 'all sessions closed');
      });
    }
    return this.shuttingDown;
  }
}
