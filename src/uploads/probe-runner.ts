import { fork, type ChildProcess } from 'node:child_process';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { UploadKind } from './sniff.js';

/**
 * Runs decode probes in a small pool of worker processes (probe-child.ts), one probe per worker at a time,
 * each bounded by its deadline. A worker that crashes on a file, or overruns, is killed and replaced: the
 * server process never decodes untrusted media.
 */

export interface ProbeOutcome {
  ok: boolean;
  /** Why it does not decode (GStreamer's words; for the log, not for clients). */
  reason?: string;
  /** The probe ran out of time: says nothing certain about the file (a loaded machine), so not to be cached. */
  timedOut?: boolean;
}

export interface ProbeRunnerOptions {
  /** Worker processes (= probes at once). */
  concurrency: number;
  /** Probes waiting for a worker beyond this are refused with AT_CAPACITY. */
  maxQueued: number;
  timeoutMs: number;
  retryAfterS: number;
  /** Directory of our plugin, put on the workers' GST_PLUGIN_PATH (images are probed with its dittoimagesrc). */
  pluginPath: string;
  logger: Logger;
}

/** Time a fresh worker may take to start Node and GStreamer. */
const STARTUP_MS = 20_000;

const here = fileURLToPath(import.meta.url);
// Same extension as this module: .js from dist, .ts when run through tsx (the tests).
const CHILD = join(dirname(here), `probe-child${extname(here)}`);

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
}

export class ProbeRunner {
  private readonly idle: Worker[] = [];
  private live = 0;
  private readonly waiting: Array<(w: Worker) => void> = [];
  private nextId = 1;
  private closed = false;
  /** Probes run (for metrics and tests). */
  spawned = 0;
  /** Workers replaced after a crash or an overrun. */
  replaced = 0;

  constructor(private readonly opts: ProbeRunnerOptions) {}

  /** Starts the workers ahead of the first file (optional: probe() starts them on demand); resolves once they are up. */
  async warm(): Promise<void> {
    while (!this.closed && this.live < this.opts.concurrency) this.idle.push(this.start());
    await Promise.allSettled(this.idle.map((w) => w.ready));
  }

  async probe(path: string, kind: UploadKind): Promise<ProbeOutcome> {
    const worker = await this.acquire();
    let healthy = false;
    try {
      const outcome = await this.run(worker, path, kind);
      healthy = !outcome.crashed;
      return outcome.result;
    } finally {
      this.release(worker, healthy);
    }
  }

  /** Stops every worker; probes still running are answered as failed. */
  close(): void {
    this.closed = true;
    for (const w of this.idle.splice(0)) w.child.kill('SIGKILL');
  }

  private start(): Worker {
    this.live++;
    // The worker takes no inherited Node options (debuggers, test instrumentation hooks): only the TypeScript
    // loader when this module itself runs from source.
    const execArgv = CHILD.endsWith('.ts') ? ['--import=tsx'] : [];
    const env: NodeJS.ProcessEnv = { ...process.env, GST_DEBUG: process.env['GST_DEBUG'] ?? '0' };
    delete env['NODE_OPTIONS'];
    const child = fork(CHILD, [this.opts.pluginPath], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`decode probe worker did not start within ${STARTUP_MS} ms`)), STARTUP_MS);
      const onMessage = (m: { ready?: boolean }) => {
        if (m?.ready) {
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve();
        }
      };
      child.on('message', onMessage);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`decode probe worker exited while starting (${signal ?? code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      });
    });
    ready.catch(() => {}); // reported by the probe that waits for it
    child.once('exit', () => {
      this.live--;
      const i = this.idle.findIndex((w) => w.child === child);
      if (i >= 0) this.idle.splice(i, 1);
    });
    return { child, ready };
  }

  private acquire(): Promise<Worker> {
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'the server is shutting down'));
    const idle = this.idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.live < this.opts.concurrency) return Promise.resolve(this.start());
    if (this.waiting.length >= this.opts.maxQueued) {
      return Promise.reject(new AppError('AT_CAPACITY', 'too many media checks are running: try again shortly', { retryAfterS: this.opts.retryAfterS }));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(worker: Worker, healthy: boolean): void {
    if (!healthy) {
      worker.child.kill('SIGKILL');
      this.replaced++;
    }
    const next = this.waiting.shift();
    if (this.closed) {
      worker.child.kill('SIGKILL');
      return;
    }
    if (next) next(healthy ? worker : this.start());
    else if (healthy) this.idle.push(worker);
  }

  private async run(worker: Worker, path: string, kind: UploadKind): Promise<{ result: ProbeOutcome; crashed: boolean }> {
    await worker.ready;
    this.spawned++;
    const { timeoutMs } = this.opts;
    const id = this.nextId++;
    const { child } = worker;
    return new Promise((resolve) => {
      const done = (result: ProbeOutcome, crashed: boolean) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve({ result, crashed });
      };
      // The worker's own timer answers first; this one catches a worker that hangs inside GStreamer.
      const timer = setTimeout(() => done({ ok: false, timedOut: true, reason: `no decoded ${kind} within ${timeoutMs} ms` }, true), timeoutMs + 2000);
      const onMessage = (m: { id?: number; ok?: boolean; reason?: string; timedOut?: boolean }) => {
        if (m?.id !== id) return;
        done({ ok: m.ok === true, ...(m.reason ? { reason: m.reason } : {}), ...(m.timedOut ? { timedOut: true } : {}) }, false);
      };
      // A decoder that takes the worker down on this file: refused like any undecodable file.
      const onExit = (code: number | null, signal: string | null) => {
        this.opts.logger.warn({ code, signal, kind }, 'decode probe worker died on a file');
        done({ ok: false, reason: `the decoder crashed (${signal ?? `exit ${code}`})` }, true);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ id, path, kind, timeoutMs });
    });
  }
}
