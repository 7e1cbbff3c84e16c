/**
 * The real server with backend "ditto" against the real worker pool (plugins/ditto/worker) over the
 * StreamSDK test double, 2 workers: a recorded Chromium offer is answered and its element claims the worker
 * the server reserved for it; a third concurrent offer is refused with 503 + Retry-After; the pool shows in
 * GET /, GET /webrtc/sessions and /metrics; a worker killed mid-session ends that session only; an
 * unreachable pool answers 503 MODEL_UNAVAILABLE. No browser connects (the e2e suite does that).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type { CloseReason } from '../../src/sessions/session.js';
import { requirePlugin } from '../helpers/gst-probe.js';
import { startFakePool } from '../helpers/ditto-pool.js';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer, type TestServer } from '../helpers/server-app.js';

requirePlugin();
const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');

async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** speech.wav repeated to about a minute, so no session ends at EOS while the test looks at it. */
function longSpeech(mediaDir: string): string {
  const wav = readFileSync(join(mediaDir, 'speech.wav'));
  const at = wav.indexOf('data');
  const pcm = wav.subarray(at + 8, at + 8 + wav.readUInt32LE(at + 4));
  const body = Buffer.concat(Array.from({ length: 5 }, () => pcm));
  const header = Buffer.from(wav.subarray(0, at + 8));
  header.writeUInt32LE(header.length - 8 + body.length, 4);
  header.writeUInt32LE(body.length, at + 4);
  writeFileSync(join(mediaDir, 'long.wav'), Buffer.concat([header, body]));
  return 'long.wav';
}

const offer = (s: TestServer, audio: string) =>
  s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER, { audio_path: audio, run_kwargs: { frame_scale: 0.25 } }) });

t.test('backend "ditto": reserve, claim, exhaust, report, and a killed worker ends one session', async (t) => {
  const pool = await startFakePool({ workers: 2 });
  t.teardown(() => pool.stop());
  const s = await testServer({
    DITTO_ELEMENT_BACKEND: 'ditto',
    DITTO_WORKER_SOCKET: pool.socket,
    DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '120000',
    DITTO_SESSIONS_RETRY_AFTER_S: '7',
  });
  t.teardown(() => s.cleanup());
  const audio = longSpeech(s.mediaDir);
  const closed = new Map<string, { reason: CloseReason; detail: string | null }>();
  s.app.sessions.on('closed', (session, info) => closed.set(session.id, info));

  const since = Date.now() / 1000;
  const r1 = await offer(s, audio);
  t.equal(r1.statusCode, 200, r1.statusCode === 200 ? 'offer answered' : r1.body.slice(0, 300));
  const a = r1.json().session_id as string;
  t.match(r1.json().sdp, /a=ssrc:\d+ msid:/, 'a real answer');
  const st1 = await pool.waitFor((x) => x.busy === 1 && x.reserved === 0 && x.idle === 1);
  t.pass('the session element claimed its reserved worker (busy, nothing left reserved)');
  const setup = await until('setup() in a worker', () => pool.events().find((e) => e.event === 'setup' && e.t >= since));
  t.equal(setup?.['source'], join(s.mediaDir, 'portrait.jpg'), "the worker set up the session's portrait");

  const r2 = await offer(s, audio);
  t.equal(r2.statusCode, 200, r2.statusCode === 200 ? 'second offer answered' : r2.body.slice(0, 300));
  const b = r2.json().session_id as string;
  await pool.waitFor((x) => x.busy === 2 && x.idle === 0);

  const r3 = await offer(s, audio);
  t.equal(r3.statusCode, 503, 'a third concurrent offer is refused');
  t.equal(r3.json().error.code, 'AT_CAPACITY');
  t.match(r3.json().error.message, /ditto worker pool exhausted: 0 idle of 2 \(2 busy/);
  t.ok(Number(r3.headers['retry-after']) >= 1, `Retry-After: ${r3.headers['retry-after']}`);
  t.equal(s.app.sessions.size, 2, 'the refused offer built no session');

  const list = (await s.app.inject('/webrtc/sessions')).json();
  t.match(list.pool, { reachable: true, workers: 2, idle: 0, busy: 2, loading: 0, exhausted: true });
  const workerOf = new Map<string, number>(list.sessions.map((x: { session_id: string; ditto_worker: number }) => [x.session_id, x.ditto_worker]));
  t.same(new Set(workerOf.values()), new Set([0, 1]), 'each session holds its own worker');
  const root = (await s.app.inject('/')).json();
  t.match(root, { backend: 'ditto', pool: { reachable: true, busy: 2 } });
  const metrics = (await s.app.inject('/metrics')).body;
  t.match(metrics, /^ditto_worker_pool_workers\{device="",state="busy"\} 2$/m);
  t.match(metrics, /^ditto_worker_pool_workers\{device="",state="idle"\} 0$/m);
  t.match(metrics, /^ditto_worker_pool_up 1$/m);
  t.match(metrics, /^ditto_errors_total\{code="AT_CAPACITY"\} 1$/m);

  // kill the worker serving session a: a ends with a pipeline error, b goes on, the server answers
  const victim = st1.list.find((w) => w.id === workerOf.get(a))!;
  t.ok(victim.pid, `worker ${victim.id} pid ${victim.pid}`);
  process.kill(victim.pid!, 'SIGKILL');
  await until('session a closed', () => closed.has(a), 15_000);
  t.match(closed.get(a), { reason: 'pipeline-error', detail: /ditto: .*worker/i }, `the session of the killed worker failed: ${closed.get(a)?.detail}`);
  t.notOk(closed.has(b), 'the other session lives on');
  t.equal(s.app.sessions.get(b).state, 'answered');
  // (No viewer connects here, so neither session's media timeline has started: frames flow once a viewer's
  // ICE connects. That b keeps its worker and state is what this checks.)
  await sleep(1000);
  t.notOk(closed.has(b), 'still open a second later');
  const respawned = await pool.waitFor((x) => x.idle === 1 && x.restarts === 1);
  t.equal(respawned.busy, 1);

  const r4 = await offer(s, audio);
  t.equal(r4.statusCode, 200, 'the server takes a new session on the respawned worker');
  await pool.waitFor((x) => x.busy === 2);

  for (const id of [b, r4.json().session_id as string]) {
    t.equal((await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` })).statusCode, 200);
  }
  await pool.waitFor((x) => x.idle === 2 && x.reserved === 0);
  t.pass('closed sessions give their workers back');
});

t.test('an unreachable pool: 503 MODEL_UNAVAILABLE with Retry-After, reported in stats and metrics', async (t) => {
  const s = await testServer({ DITTO_ELEMENT_BACKEND: 'ditto', DITTO_WORKER_SOCKET: '/nonexistent/ditto/pool.sock', DITTO_SESSIONS_RETRY_AFTER_S: '9' });
  t.teardown(() => s.cleanup());
  const r = await offer(s, 'speech.wav');
  t.equal(r.statusCode, 503);
  t.equal(r.json().error.code, 'MODEL_UNAVAILABLE');
  t.match(r.json().error.message, /unreachable at \/nonexistent\/ditto\/pool\.sock\.ctl: ENOENT/);
  t.equal(r.headers['retry-after'], '9');
  t.equal(s.app.sessions.size, 0);
  t.match((await s.app.inject('/')).json().pool, { reachable: false, socket: '/nonexistent/ditto/pool.sock', error: /ENOENT/ });
  const metrics = (await s.app.inject('/metrics')).body;
  t.match(metrics, /^ditto_worker_pool_up 0$/m);
  t.notMatch(metrics, /^ditto_worker_pool_workers\{/m, 'no worker counts while the pool is unreachable');
});

t.test('builtin backend: no pool in stats or metrics', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const root = (await s.app.inject('/')).json();
  t.equal(root.backend, 'builtin');
  t.notOk('pool' in root);
  t.notMatch((await s.app.inject('/metrics')).body, /ditto_worker_pool/);
});

t.test('an H.264 pipeline needing a missing encoder falls back to the next H.264 template', async (t) => {
  const s = await testServer({ DITTO_PIPELINES_H264: 'h264-nvenc.pipeline' });
  t.teardown(() => s.cleanup());
  const { hasElementFactory } = await import('../../src/gst/index.js');
  const want = hasElementFactory('nvh264enc') ? 'h264-nvenc.pipeline' : 'h264.pipeline';
  const ready = (await s.app.inject('/readyz')).json();
  t.same(ready.checks.gstreamer.details.pipelines, [
    { name: 'vp8.pipeline', codec: 'VP8' },
    { name: want, codec: 'H264' },
  ], `H264 served by ${want} on this host`);
});

t.test('readiness is false until the model has warmed up; per-device workers show in status and metrics', async (t) => {
  // realistic double: ~2 s to load the engines, ~1.5 s for the self-test's setup(), then windows of silence
  const pool = await startFakePool({ workers: 2, timing: 'realistic', wait: 'answering', env: { FAKE_DITTO_LOAD_S: '4' }, args: ['--devices', '0,MIG-test-instance'] });
  t.teardown(() => pool.stop());
  const s = await testServer({ DITTO_ELEMENT_BACKEND: 'ditto', DITTO_WORKER_SOCKET: pool.socket });
  t.teardown(() => s.cleanup());
  const st = await pool.client.status();
  if (st.idle === 0) {
    const early = await s.app.inject('/readyz');
    t.equal(early.statusCode, 503, 'not ready while the workers load');
    t.equal(early.json().error.code, 'NOT_READY');
    t.match(early.json().error.message, /model: the Ditto model is still loading in \d of 2 workers/);
    t.ok(Number(early.headers['retry-after']) >= 1, `Retry-After ${early.headers['retry-after']}`);
    const refused = await offer(s, 'speech.wav');
    t.equal(refused.statusCode, 503, 'an offer meanwhile is refused');
    t.equal(refused.json().error.code, 'MODEL_UNAVAILABLE');
    t.equal((await s.app.inject('/healthz')).statusCode, 200, 'and yet the process is alive');
  } else t.comment(`the workers were loaded before the server answered (${JSON.stringify(st)}): the early checks were skipped`);
  const loaded = await pool.waitFor((x) => x.idle === 2, 60_000);
  t.same(loaded.list.map((w) => w.device), ['0', 'MIG-test-instance'], 'one worker per device, as --devices says');
  t.same(loaded.devices.map((d) => [d.device, d.workers]), [['0', 1], ['MIG-test-instance', 1]]);
  for (const w of loaded.list) {
    t.ok(w.warmup && w.warmup.setup_ms > 1000 && w.warmup.window_ms > 40 && w.warmup.first_frame_ms > 0, `worker ${w.id} reports its self-test: ${JSON.stringify(w.warmup)}`);
  }
  const ready = await s.app.inject('/readyz');
  t.equal(ready.statusCode, 200, 'ready once a worker passed its self-test');
  t.match(ready.json(), { status: 'ready', checks: { capacity: { ready: true }, model: { ready: true }, gstreamer: { ready: true } } });
  const metrics = (await s.app.inject('/metrics')).body;
  t.match(metrics, /^ditto_worker_pool_workers\{device="MIG-test-instance",state="idle"\} 1$/m);
  t.match(metrics, /^ditto_worker_window_compute_seconds\{worker="0",device="0"\} 0\.\d+$/m);
  t.match(metrics, /^ditto_worker_pool_model_loaded 1$/m);
});

t.test('workers that cannot import upstream: /readyz 503 and offers 503 MODEL_UNAVAILABLE with the reason, no respawn storm', async (t) => {
  const startedAt = Date.now();
  const pool = await startFakePool({ workers: 2, wait: 'answering', env: { FAKE_DITTO_REQUIRE: 'torch' } });
  t.teardown(() => pool.stop());
  await pool.waitFor((x) => x.list.every((w) => w.last_error !== null));
  const s = await testServer({ DITTO_ELEMENT_BACKEND: 'ditto', DITTO_WORKER_SOCKET: pool.socket });
  t.teardown(() => s.cleanup());
  t.equal((await s.app.inject('/healthz')).statusCode, 200, 'alive');
  const ready = await s.app.inject('/readyz');
  t.equal(ready.statusCode, 503);
  t.match(ready.json().error.message, /model: no Ditto worker could load the model \(\d+ failed loads; retrying with back-off\): worker 0, 1: cannot import stream_pipeline_online from .*ModuleNotFoundError: No module named 'torch'/);
  t.ok(Number(ready.headers['retry-after']) >= 1);
  const r = await offer(s, 'speech.wav');
  t.equal(r.statusCode, 503);
  t.equal(r.json().error.code, 'MODEL_UNAVAILABLE');
  t.match(r.json().error.message, /No module named 'torch'/, 'the pool\'s reason reaches the client');
  t.ok(Number(r.headers['retry-after']) >= 1, `Retry-After ${r.headers['retry-after']}`);
  t.equal(s.app.sessions.size, 0);
  t.match((await s.app.inject('/metrics')).body, /^ditto_worker_pool_model_loaded 0$/m);
  // back-off: 1, 2, 4 ... s between a worker's failed loads; an immediate respawn would be dozens by now
  await sleep(4000);
  const st = await pool.client.status();
  const elapsedS = (Date.now() - startedAt) / 1000;
  const bound = 2 * (Math.log2(elapsedS + 1) + 2);
  t.ok(st.restarts <= bound, `${st.restarts} failed starts of 2 workers in ${elapsedS.toFixed(1)} s (at most ${bound.toFixed(1)} with back-off)`);
  t.ok(st.list.every((w) => w.load_failures >= 2), 'each worker kept trying');
});
