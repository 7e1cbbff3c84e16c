/**
 * Starts the real Ditto worker pool (plugins/ditto/worker) over the StreamSDK test double in
 * test/fixtures/fake_ditto, for tests of backend=ditto without a GPU or weights.
 *
 *   const pool = await startFakePool({ workers: 2 });
 *   probe(`... ! dittotalkinghead backend=ditto worker-socket=${pool.socket} ...`)
 *   pool.events()      // what the double saw: setup, run_chunk, frame, close ...
 *   pool.windows(pid)  // every audio window it received, as float32
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PoolClient, type PoolStatus } from '../../src/workers/pool-client.js';
import { PORTRAIT, ROOT, run, tempDir } from './gst-probe.js';

export const WORKER_DIR = join(ROOT, 'plugins', 'ditto', 'worker');
export const FAKE_UPSTREAM = join(ROOT, 'test', 'fixtures', 'fake_ditto');
export const PYTHON = process.env['DITTO_TEST_PYTHON'] ?? 'python3';

export interface FakeEvent {
  event: string;
  pid: number;
  t: number;
  [k: string]: unknown;
}

export interface FakePoolOptions {
  workers?: number;
  /** the config pkl's default_kwargs (upstream's online pkl sets overlap_v2 70, sampling_timesteps 10) */
  defaults?: Record<string, number | boolean>;
  env?: Record<string, string>;
  /** the double's timing: "fast" (default, ms) or "realistic" (seconds to load and set up, tens of ms per window) */
  timing?: 'fast' | 'realistic';
  /** extra pool arguments (--devices ..., --setup-json ...) */
  args?: string[];
  /** resolve once every worker is idle (default) or as soon as the pool answers */
  wait?: 'idle' | 'answering';
}

export interface FakePool {
  dir: string;
  socket: string;
  control: string;
  client: PoolClient;
  proc: ChildProcess;
  log(): string;
  events(): FakeEvent[];
  windows(pid: number): Float32Array;
  /** a copy of the test portrait under a name carrying the double's markers (noface, failat30 ...) */
  portrait(name: string): string;
  waitFor(pred: (s: PoolStatus) => boolean, timeoutMs?: number): Promise<PoolStatus>;
  stop(): Promise<void>;
}

export async function startFakePool(opts: FakePoolOptions = {}): Promise<FakePool> {
  const tmp = tempDir('ditto-pool-');
  const dir = tmp.dir;
  const logDir = join(dir, 'log');
  mkdirSync(logDir);
  mkdirSync(join(dir, 'engines'));
  const defaults = opts.defaults ?? { overlap_v2: 70, sampling_timesteps: 10 };
  const cfg = join(dir, 'cfg.pkl');
  const mk = await run(PYTHON, ['-c', `import json,pickle,sys; pickle.dump({"default_kwargs": json.loads(sys.argv[2])}, open(sys.argv[1], "wb"))`, cfg, JSON.stringify(defaults)], 30, process.env);
  if (mk.code !== 0) throw new Error(`cannot write the config pkl: ${mk.stderr}`);

  const socket = join(dir, 'pool.sock');
  const workers = opts.workers ?? 1;
  let output = '';
  const proc = spawn(
    PYTHON,
    ['-m', 'ditto_worker.pool', '--socket', socket, '--workers', String(workers), '--upstream', FAKE_UPSTREAM, '--cfg-pkl', cfg, '--data-root', join(dir, 'engines'), '--warmup-portrait', PORTRAIT, ...(opts.args ?? [])],
    {
      cwd: WORKER_DIR,
      env: {
        ...process.env,
        PYTHONDONTWRITEBYTECODE: '1',
        FAKE_DITTO_LOG: logDir,
        ...(opts.timing === 'realistic' ? { FAKE_DITTO_TIMING: 'realistic' } : { FAKE_DITTO_LOAD_S: '0.1' }),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const client = new PoolClient(`${socket}.ctl`);

  const waitFor = async (pred: (s: PoolStatus) => boolean, timeoutMs = 15_000): Promise<PoolStatus> => {
    const until = Date.now() + timeoutMs;
    let last: PoolStatus | null = null;
    let lastErr: unknown = null;
    while (Date.now() < until) {
      if (proc.exitCode !== null) throw new Error(`pool exited (${proc.exitCode}): ${output.slice(-2000)}`);
      try {
        last = await client.status();
        if (pred(last)) return last;
      } catch (e) {
        lastErr = e;
      }
      await sleep(50);
    }
    throw new Error(`pool never reached the state: ${JSON.stringify(last)} ${String(lastErr)} ${output.slice(-2000)}`);
  };

  const pool: FakePool = {
    dir,
    socket,
    control: `${socket}.ctl`,
    client,
    proc,
    log: () => output,
    events: () => {
      const p = join(logDir, 'events.jsonl');
      if (!existsSync(p)) return [];
      return readFileSync(p, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FakeEvent);
    },
    windows: (pid: number) => {
      const b = readFileSync(join(logDir, `windows-${pid}.f32`));
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    },
    portrait: (name: string) => {
      const p = join(dir, name);
      copyFileSync(PORTRAIT, p);
      return p;
    },
    waitFor,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited, sleep(8000)]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      tmp.cleanup();
    },
  };
  await waitFor((s) => (opts.wait === 'answering' ? true : s.idle === s.workers), opts.timing === 'realistic' ? 60_000 : 15_000);
  return pool;
}

/** Deterministic test speech stand-in: tone bursts of different loudness with silences, as S16LE. */
export function testAudio(samples: number): { s16: Buffer; f32: Float32Array } {
  const s16 = Buffer.alloc(samples * 2);
  const f32 = new Float32Array(samples);
  for (let i = 0; i < samples; i++) {
    const seg = Math.floor(i / 4000);
    const amp = seg % 3 === 2 ? 0 : 0.1 + 0.25 * (seg % 5);
    const v = Math.round(amp * 32767 * Math.sin((2 * Math.PI * 220 * i) / 16000) * (1 + 0.3 * Math.sin(i / 700)));
    const c = Math.max(-32768, Math.min(32767, v));
    s16.writeInt16LE(c, i * 2);
    f32[i] = c / 32768; // exactly what the element's S16 -> F32 conversion gives
  }
  return { s16, f32 };
}
