/**
 * `npm run bench:gpu` (on a GPU box): what the real Ditto model gives on this GPU, as a table.
 *
 * - first-frame delay and real-time factor of one session: the bundled sample (speech + portrait) rendered
 *   offline through the real dittotalkinghead element with backend=ditto;
 * - concurrent 25 fps sessions: k live sessions at once (k = 1 .. workers), each the sample at real-time pace;
 *   k is sustained while every session gets all its frames with at most 0.5 % late (frames-late). The figure
 *   per GPU divides by the pool's devices.
 *
 * The pool: DITTO_WORKER_SOCKET (a running pool, e.g. the GPU container's /run/ditto/pool.sock), or one started
 * here with BENCH_POOL_ARGS (e.g. "--devices 0:4 --model-dir /models"; plus DITTO_UPSTREAM_DIR). Nothing asserts:
 * figures are printed. Against the StreamSDK double (BENCH_FAKE=1) it only exercises the harness.
 *   BENCH_MAX_SESSIONS=N caps k; BENCH_PYTHON (python3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PoolClient, type PoolStatus } from '../../src/workers/pool-client.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
process.env['GST_PLUGIN_PATH'] = [join(ROOT, 'build', 'plugin', 'ditto'), process.env['GST_PLUGIN_PATH']].filter(Boolean).join(':');
const { Pipeline } = await import('../../src/gst/index.js');
const MEDIA = join(ROOT, 'src', 'server', 'demo', 'media');
const SPEECH = join(MEDIA, 'speech.wav');
const PORTRAIT = join(MEDIA, 'portrait.jpg');
const PYTHON = process.env['BENCH_PYTHON'] ?? 'python3';
const LATE_SHARE = 0.005;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;

async function ownPool(dir: string): Promise<{ socket: string; proc: ChildProcess }> {
  const socket = join(dir, 'pool.sock');
  const args = (process.env['BENCH_POOL_ARGS'] ?? '--workers 1').split(/\s+/).filter(Boolean);
  if (process.env['BENCH_FAKE'] === '1') {
    const cfg = join(dir, 'cfg.pkl');
    const mk = spawn(PYTHON, ['-c', 'import pickle, sys, os; os.makedirs(sys.argv[2]); pickle.dump({"default_kwargs": {}}, open(sys.argv[1], "wb"))', cfg, join(dir, 'engines')]);
    await new Promise((r) => mk.on('close', r));
    args.push('--upstream', join(ROOT, 'test', 'fixtures', 'fake_ditto'), '--cfg-pkl', cfg, '--data-root', join(dir, 'engines'));
  }
  const proc = spawn(PYTHON, ['-m', 'ditto_worker.pool', '--socket', socket, ...args], {
    cwd: join(ROOT, 'plugins', 'ditto', 'worker'),
    env: { ...process.env, ...(process.env['BENCH_FAKE'] === '1' ? { FAKE_DITTO_TIMING: 'realistic' } : {}) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return { socket, proc };
}

async function loaded(client: PoolClient): Promise<PoolStatus> {
  for (;;) {
    try {
      const st = await client.status();
      if (st.idle === st.workers) return st;
      const err = st.list.find((w) => w.last_error)?.last_error;
      if (err) throw new Error(`the pool cannot load the model: ${err}`);
    } catch (e) {
      if (!(e as { code?: string }).code) throw e;
    }
    await sleep(500);
  }
}

interface Run {
  frames: number;
  late: number;
  firstFrameMs: number;
  elapsedS: number;
}

/** One session of the sample: offline (as fast as the model goes) or live (real-time pace, 25 fps on the clock). */
async function session(socket: string, live: boolean, name: string): Promise<Run> {
  const pace = live ? 'identity sync=true ! ' : '';
  const p = await Pipeline.launch(
    `filesrc location=${q(SPEECH)} ! decodebin ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 ! ${pace}` +
      `dittotalkinghead name=d mode=${live ? 'live' : 'offline'} backend=ditto worker-socket=${q(socket)} source-image=${q(PORTRAIT)} ` +
      `d.video ! fakesink sync=${live} d.audio ! fakesink sync=${live}`,
    { name },
  );
  const get = (prop: string) => Number(p.element('d').get(prop) ?? 0);
  const t0 = performance.now();
  let first = 0;
  const poll = setInterval(() => {
    if (!first && get('frames-out') > 0) first = performance.now();
  }, 5);
  try {
    await new Promise<void>((res, rej) => {
      p.on('error', (e) => rej(new Error(`${name}: ${e.source}: ${e.message}`)));
      p.on('eos', () => res());
      p.setState('playing').catch(rej);
    });
  } finally {
    clearInterval(poll);
  }
  const run = { frames: get('frames-out'), late: get('frames-late'), firstFrameMs: first ? first - t0 : NaN, elapsedS: (performance.now() - t0) / 1000 };
  await p.close();
  return run;
}

const dir = mkdtempSync(join(tmpdir(), 'ditto-bench-gpu-'));
let own: { socket: string; proc: ChildProcess } | null = null;
try {
  const socket = process.env['DITTO_WORKER_SOCKET'] || (own = await ownPool(dir)).socket;
  const client = new PoolClient(`${socket}.ctl`, { timeoutMs: 5000 });
  const st = await loaded(client);
  const w = st.list[0]?.warmup;
  const devices = Math.max(1, st.devices.length);
  console.log(`ditto-gst bench:gpu — ${w?.gpu ?? 'unknown GPU'}${w?.compute_capability ? ` (compute ${w.compute_capability})` : ''}, ` +
    `TensorRT ${w?.tensorrt ?? '?'}, ${st.workers} workers on ${devices} device(s) [${st.devices.map((d) => `${d.device ?? 'default'}:${d.workers}`).join(', ')}]`);

  const offline = await session(socket, false, 'bench-offline');
  const rtf = offline.elapsedS / (offline.frames / 25);
  const rows: [string, string][] = [
    ['worker self-test: setup / first frame / window', `${w?.setup_ms ?? '?'} / ${w?.first_frame_ms ?? '?'} / ${w?.window_ms ?? '?'} ms`],
    ['first-frame delay (1 session, offline)', `${offline.firstFrameMs.toFixed(0)} ms`],
    ['real-time factor (1 session, offline)', `${rtf.toFixed(3)} (${(1 / rtf).toFixed(1)}x real time, ${(offline.frames / offline.elapsedS).toFixed(1)} fps)`],
  ];
  const maxK = Math.min(st.workers, Number(process.env['BENCH_MAX_SESSIONS'] ?? st.workers));
  let sustained = 0;
  for (let k = 1; k <= maxK; k++) {
    await loaded(client);
    const runs = await Promise.all(Array.from({ length: k }, (_, i) => session(socket, true, `bench-live-${k}-${i}`)));
    const worst = Math.max(...runs.map((r) => r.late / Math.max(1, r.frames)));
    const ok = runs.every((r) => r.frames >= offline.frames && r.late / Math.max(1, r.frames) <= LATE_SHARE);
    rows.push([`${k} concurrent live session(s)`, `${ok ? 'sustained' : 'NOT sustained'}: worst ${(worst * 100).toFixed(2)} % late, first frame ${Math.max(...runs.map((r) => r.firstFrameMs)).toFixed(0)} ms`]);
    if (!ok) break;
    sustained = k;
  }
  rows.push(['concurrent 25 fps sessions per GPU', `${(sustained / devices).toFixed(1)}${sustained === maxK ? ` (every worker busy: add workers to find the limit)` : ''}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`| ${'measure'.padEnd(width)} | value |\n|${'-'.repeat(width + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(width)} | ${v} |`);
} finally {
  if (own) {
    own.proc.kill('SIGTERM');
    await new Promise((r) => own?.proc.once('close', r));
  }
  rmSync(dir, { recursive: true, force: true });
}
