/**
 * `ditto-gst doctor --model`: the first command to run on a GPU box. Does the real Ditto model work here, and
 * how fast?
 *
 * 1. plugins/ditto/worker's doctor (python3 -m ditto_worker.doctor): upstream imports, the config pickle
 *    unpickles, every engine and plugin has code for this GPU and loads, StreamSDK loads, the worker's
 *    self-test passes; GPU, driver, CUDA, TensorRT versions.
 * 2. A one-worker pool of the same model, then the bundled sample (speech + portrait) rendered offline through
 *    the real dittotalkinghead element with backend=ditto: first-frame delay, real-time factor, fps.
 * Every failure is a check with its reason; the exit status is non-zero when any failed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../config/package-root.js';
import type { GstLoader } from '../gst/loader.js';
import { PoolClient, type PoolStatus } from '../workers/pool-client.js';

export interface ModelDoctorOptions {
  python: string;
  /** ditto-talkinghead checkout (else $DITTO_UPSTREAM_DIR, as the worker reads it) */
  upstream?: string;
  modelDir?: string;
  cfgPkl?: string;
  dataRoot?: string;
  setupJson?: string;
  portrait: string;
  audio: string;
  /** the longest wait for the pool's worker to load and pass its self-test */
  loadTimeoutS: number;
  env: NodeJS.ProcessEnv;
}

export interface ModelCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ModelReport {
  ok: boolean;
  checks: ModelCheck[];
  device: Record<string, string | null> | null;
  selftest: Record<string, unknown> | null;
  engines: { kind: string; path: string; ok: boolean | null; native?: boolean; detail: string }[];
  render: { frames: number; firstFrameMs: number; elapsedS: number; rtf: number; fps: number } | null;
}

/** Where the ditto_worker package is: the image's PYTHONPATH has it; a checkout has plugins/ditto/worker. */
function workerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dir = join(packageRoot(), 'plugins', 'ditto', 'worker');
  const path = existsSync(join(dir, 'ditto_worker')) ? [dir, env['PYTHONPATH']].filter(Boolean).join(delimiter) : env['PYTHONPATH'];
  return { ...env, ...(path ? { PYTHONPATH: path } : {}), PYTHONDONTWRITEBYTECODE: '1' };
}

function modelArgs(o: ModelDoctorOptions): string[] {
  const out: string[] = [];
  const add = (flag: string, v: string | undefined) => v && out.push(flag, v);
  add('--upstream', o.upstream);
  add('--model-dir', o.modelDir);
  add('--cfg-pkl', o.cfgPkl);
  add('--data-root', o.dataRoot);
  add('--setup-json', o.setupJson);
  add('--warmup-portrait', o.portrait);
  return out;
}

function runPython(o: ModelDoctorOptions, args: string[], timeoutS: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(o.python, args, { env: workerEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(e) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function startPool(o: ModelDoctorOptions, dir: string): Promise<{ socket: string; client: PoolClient; proc: ChildProcess; log: () => string }> {
  const socket = join(dir, 'pool.sock');
  let log = '';
  const proc = spawn(o.python, ['-m', 'ditto_worker.pool', '--socket', socket, '--workers', '1', ...modelArgs(o)], { env: workerEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  return { socket, client: new PoolClient(`${socket}.ctl`), proc, log: () => log };
}

async function waitLoaded(client: PoolClient, proc: ChildProcess, timeoutS: number): Promise<PoolStatus> {
  const end = Date.now() + timeoutS * 1000;
  let last: PoolStatus | null = null;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`the pool exited with status ${proc.exitCode}`);
    try {
      last = await client.status();
      if (last.idle > 0) return last;
      const failed = last.list.find((w) => w.last_error);
      if (failed) throw new Error(failed.last_error as string);
    } catch (e) {
      if (!(e as { code?: string }).code) throw e; // an AppError is "not answering yet"
    }
    await sleep(200);
  }
  throw new Error(`no worker passed its self-test within ${timeoutS} s (${last ? `${last.loading} loading` : 'the pool never answered'})`);
}

/** The bundled sample through the real element (offline, as fast as the model goes), timed. */
async function renderSample(loadGst: GstLoader, socket: string, o: ModelDoctorOptions): Promise<NonNullable<ModelReport['render']>> {
  const gst = await loadGst();
  const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
  const pipeline = await gst.Pipeline.launch(
    `filesrc location=${q(o.audio)} ! decodebin ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 ! ` +
      `dittotalkinghead name=d mode=offline backend=ditto worker-socket=${q(socket)} source-image=${q(o.portrait)} ` +
      'd.video ! fakesink sync=false d.audio ! fakesink sync=false',
    { name: 'doctor-model' },
  );
  const frames = (): number => Number(pipeline.element('d').get('frames-out') ?? 0);
  const started = performance.now();
  let first = 0;
  const poll = setInterval(() => {
    if (!first && frames() > 0) first = performance.now();
  }, 5);
  try {
    await new Promise<void>((resolve, reject) => {
      pipeline.on('error', (e) => reject(new Error(`${e.source}: ${e.message}`)));
      pipeline.on('eos', () => resolve());
      pipeline.setState('playing').catch(reject);
    });
  } finally {
    clearInterval(poll);
  }
  const elapsedS = (performance.now() - started) / 1000;
  const n = frames();
  await pipeline.close();
  if (n === 0) throw new Error('the element produced no frame');
  return { frames: n, firstFrameMs: Math.round(first ? first - started : elapsedS * 1000), elapsedS, rtf: elapsedS / (n / 25), fps: n / elapsedS };
}

export async function runModelDoctor(o: ModelDoctorOptions, loadGst: GstLoader): Promise<ModelReport> {
  const report: ModelReport = { ok: false, checks: [], device: null, selftest: null, engines: [], render: null };
  const py = await runPython(o, ['-m', 'ditto_worker.doctor', '--json', ...modelArgs(o)], o.loadTimeoutS);
  try {
    const r = JSON.parse(py.stdout.trim().split('\n').pop() ?? '') as { checks: ModelCheck[]; device: ModelReport['device']; selftest: ModelReport['selftest']; engines: ModelReport['engines'] };
    report.checks.push(...r.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail })));
    report.device = r.device;
    report.selftest = r.selftest;
    report.engines = r.engines;
  } catch {
    report.checks.push({ name: 'worker doctor', ok: false, detail: `python3 -m ditto_worker.doctor failed (status ${py.code}): ${(py.stderr || py.stdout).trim().split('\n').slice(-3).join(' | ') || 'no output'}` });
  }
  if (report.checks.length && report.checks.every((c) => c.ok)) {
    const dir = mkdtempSync(join(tmpdir(), 'ditto-doctor-'));
    const pool = await startPool(o, dir);
    try {
      await waitLoaded(pool.client, pool.proc, o.loadTimeoutS);
      report.checks.push({ name: 'worker pool', ok: true, detail: 'a pool worker loaded the model and passed its self-test' });
      try {
        report.render = await renderSample(loadGst, pool.socket, o);
        report.checks.push({ name: 'render through dittotalkinghead', ok: true, detail: `${report.render.frames} frames of the bundled sample in ${report.render.elapsedS.toFixed(1)} s` });
      } catch (e) {
        report.checks.push({ name: 'render through dittotalkinghead', ok: false, detail: (e as Error).message });
      }
    } catch (e) {
      report.checks.push({ name: 'worker pool', ok: false, detail: `${(e as Error).message} ${pool.log().trim().split('\n').slice(-2).join(' | ')}`.trim() });
    } finally {
      pool.proc.kill('SIGTERM');
      await Promise.race([new Promise((r) => pool.proc.once('close', r)), sleep(8000)]);
      if (pool.proc.exitCode === null) pool.proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }
  report.ok = report.checks.length > 0 && report.checks.every((c) => c.ok);
  return report;
}

export function formatModelReport(r: ModelReport): string {
  const lines = ['Ditto model (ditto-gst doctor --model):'];
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`);
  const d = r.device ?? {};
  const v = (x: string | null | undefined) => x ?? 'unknown';
  const native = r.engines.filter((e) => e.kind === 'engine');
  const rows: [string, string][] = [
    ['first-frame delay', r.render ? `${r.render.firstFrameMs} ms (element start to first frame, offline)` : '-'],
    ['real-time factor', r.render ? `${r.render.rtf.toFixed(3)} (${(1 / r.render.rtf).toFixed(1)}x real time)` : '-'],
    ['fps', r.render ? r.render.fps.toFixed(1) : '-'],
    ['GPU', `${v(d['gpu'])}${d['compute_capability'] ? ` (compute ${d['compute_capability']})` : ''}`],
    ['driver', `${v(d['driver'])}${d['driver_cuda'] ? ` (CUDA ${d['driver_cuda']})` : ''}`],
    ['CUDA runtime', v(d['cuda_runtime'])],
    ['TensorRT', v(d['tensorrt'])],
    ['engines', native.length ? (native.every((e) => e.native) ? 'built for this GPU (native)' : `${native.filter((e) => !e.native).length} of ${native.length} hardware-compatible (Ampere+), not built for this GPU: ditto-build-engines`) : 'not checked'],
  ];
  for (const [k, val] of rows) lines.push(`  ${k.padEnd(18)} ${val}`);
  lines.push(r.ok ? 'model: ok' : 'model: FAILED');
  return lines.join('\n');
}
