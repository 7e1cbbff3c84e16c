/**
 * The warm pool and its TypeScript client (src/workers/pool-client.ts): status counts, reservations
 * (tickets the element claims), exhaustion (AT_CAPACITY with Retry-After; an element without a
 * ticket is refused clearly), expiry, cancel, and an unreachable pool.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { AppError } from '../../src/errors.js';
import { PoolClient } from '../../src/workers/pool-client.js';
import { dittoElement, probe, requirePlugin, tempDir, FAKE_SINKS, S16_APPSRC } from '../helpers/gst-probe.js';
import { startFakePool, testAudio } from '../helpers/ditto-pool.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

const pool = await startFakePool({ workers: 1 });
t.teardown(() => pool.stop());

const APPSRC = S16_APPSRC;
const SINKS = FAKE_SINKS;
const raw = join(tmp.dir, 'speech.s16');
writeFileSync(raw, testAudio(16000).s16);

function element(props: Record<string, string | number>): string {
  return dittoElement({ backend: 'ditto', 'worker-socket': pool.socket, 'frame-scale': 0.25, 'source-image': pool.portrait('face.jpg'), ...props });
}

t.test('status of a warm pool', async (t) => {
  const s = await pool.client.status();
  t.match(s, { workers: 1, idle: 1, busy: 0, reserved: 0, loading: 0, down: 0, exhausted: false, restarts: 0 });
  t.equal(s.list.length, 1);
  t.equal(s.list[0]?.state, 'idle');
  t.type(s.list[0]?.pid, 'number');
  t.ok((s.list[0]?.load_s ?? 0) >= 0.1, 'load time measured');
});

t.test('exhaustion: reserve holds the only worker; the next reserve and a ticketless session are refused', async (t) => {
  const r = await pool.client.reserve(30);
  t.match(r, { ticket: /^[0-9a-f]{24}$/, worker: 0 });
  const s = await pool.client.status();
  t.match(s, { idle: 0, reserved: 1, exhausted: true });

  const e = await pool.client.reserve(30).catch((err: unknown) => err);
  t.ok(e instanceof AppError, 'AppError');
  t.match(e, { code: 'AT_CAPACITY', status: 503 });
  t.ok(((e as AppError).retryAfterS ?? 0) >= 1, `Retry-After ${(e as AppError).retryAfterS}`);
  t.match((e as AppError).message, /ditto worker pool exhausted: 0 idle of 1 \(0 busy, 1 reserved/);

  const refused = await probe(`${APPSRC} ! ${element({})} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.match(refused.errors[0]?.message ?? '', /could not start: ditto worker pool exhausted: 0 idle of 1/);

  const wrong = await probe(`${APPSRC} ! ${element({ 'worker-ticket': 'f00d' })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.match(wrong.errors[0]?.message ?? '', /worker reservation unknown or expired/);

  const claimed = await probe(`${APPSRC} ! ${element({ 'worker-ticket': r.ticket })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.same(claimed.errors, [], 'the ticket claims the reserved worker');
  t.equal(claimed.video.count, 25);
  const after = await pool.waitFor((x) => x.idle === 1);
  t.equal(after.sessions, 1, 'one session served');
  t.equal(await pool.client.cancel(r.ticket), false, 'a claimed ticket cannot be cancelled');
});

t.test('cancel and expiry give the worker back', async (t) => {
  const r = await pool.client.reserve(30);
  t.equal(await pool.client.cancel(r.ticket), true);
  t.equal((await pool.client.status()).idle, 1);
  await pool.client.reserve(1);
  t.equal((await pool.client.status()).reserved, 1);
  await sleep(1400);
  t.match(await pool.client.status(), { idle: 1, reserved: 0 }, 'expired after its ttl');
});

t.test('a busy worker counts as busy and the pool answers while it works', async (t) => {
  const run = probe(`${APPSRC} ! ${element({ 'chunk-sleep': 0.1 })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  const s = await pool.waitFor((x) => x.busy === 1);
  t.match(s, { idle: 0, busy: 1, exhausted: true });
  const r = await run;
  t.same(r.errors, []);
  await pool.waitFor((x) => x.idle === 1);
});

t.test('unreachable pool and bad replies are AppErrors', async (t) => {
  const c = new PoolClient(join(tmp.dir, 'none.ctl'), { timeoutMs: 500 });
  const e = await c.status().catch((err: unknown) => err);
  t.match(e, { code: 'MODEL_UNAVAILABLE', status: 503, retryAfterS: 5, details: { pool: 'unreachable' } });
  t.match((e as Error).message, /unreachable at .*none\.ctl: ENOENT/);
});
