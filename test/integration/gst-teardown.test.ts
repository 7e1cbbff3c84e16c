import t from 'tap';
import { GstError, Pipeline } from '../../src/gst/index.js';
import { CHROMIUM_OFFER, processResources, senderDescription } from '../helpers/gst-media.js';

/**
 * Teardown: after close() no thread or file descriptor of the pipeline is left (counted in /proc/self), and
 * pipelines created and destroyed at random moments, many mid-negotiation, never hang, crash or leak.
 */

const LOOPBACK = { localAddresses: ['127.0.0.1'] };
const DESCRIPTION = senderDescription({ width: 160, height: 120, fps: 15 });
// GLib/GStreamer keep a couple of idle pool threads (and their wakeup fds) for reuse.
const TOLERANCE = { threads: 3, fds: 3 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the process is back within tolerance of a baseline (idle pool threads retire lazily). */
async function backToBaseline(base: { threads: number; fds: number }, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const now = processResources();
    if ((now.threads <= base.threads + TOLERANCE.threads && now.fds <= base.fds + TOLERANCE.fds) || Date.now() > end) return now;
    await sleep(100);
  }
}

/** A settled outcome, or a failure if it takes absurdly long (a hang). */
function outcome(p: Promise<unknown>, what: string, timeoutMs = 15_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => 'ok',
      (e: unknown) => (e instanceof GstError && e.code === 'GST_CLOSED' ? e.code : `unexpected: ${String(e)}`),
    ),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`HANG: ${what}`), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function answeredSession(): Promise<Pipeline> {
  const p = await Pipeline.launch(DESCRIPTION);
  const webrtc = p.webrtc('webrtc', LOOPBACK);
  await p.setState('playing');
  await webrtc.answer(CHROMIUM_OFFER);
  return p;
}

t.test('closed pipelines leave no thread or file descriptor behind', async (t) => {
  // Warm-up: plugin loading, the DTLS certificate, GLib's pools.
  await (await answeredSession()).close();
  const base = await backToBaseline(processResources(), 1000);
  const closeMs: number[] = [];
  for (let round = 0; round < 3; round++) {
    const sessions = await Promise.all([0, 1, 2, 3].map(() => answeredSession()));
    const open = processResources();
    t.ok(open.threads > base.threads && open.fds > base.fds, `round ${round}: 4 sessions hold ${open.threads - base.threads} threads, ${open.fds - base.fds} fds`);
    const t0 = performance.now();
    await Promise.all(sessions.map((s) => s.close()));
    closeMs.push(performance.now() - t0);
  }
  const after = await backToBaseline(base);
  t.ok(after.threads <= base.threads + TOLERANCE.threads, `threads: ${base.threads} before, ${after.threads} after`);
  t.ok(after.fds <= base.fds + TOLERANCE.fds, `fds: ${base.fds} before, ${after.fds} after`);
  t.comment(`closing 4 answered sessions took ${closeMs.map((m) => m.toFixed(1)).join(', ')} ms`);
});

t.test('churn: 50 webrtcbin pipelines destroyed at random moments', async (t) => {
  const seed = Number(process.env['CHURN_SEED'] ?? Date.now() % 100_000);
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
  t.comment(`seed ${seed} (CHURN_SEED to replay)`);

  const base = processResources();
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);

  async function one(i: number) {
    const p = await Pipeline.launch(DESCRIPTION, { name: `churn-${i}` });
    p.on('error', () => {}); // errors while tearing down mid-stream are expected and irrelevant here
    const webrtc = p.webrtc('webrtc', LOOPBACK);
    // 0: never started; 1: close while starting; 2: close mid-answer; 3: mid-answer with stats in flight;
    // 4: close right after the answer
    const stage = Math.floor(random() * 5);
    const jitter = Math.floor(random() * 15);
    const pending: Promise<string>[] = [];
    if (stage >= 1) {
      const started = p.setState('playing');
      pending.push(outcome(started, `setState ${i}`));
      if (stage >= 2) await started;
    }
    if (stage >= 2) {
      const answer = outcome(webrtc.answer(CHROMIUM_OFFER), `answer ${i}`);
      pending.push(answer);
      if (stage === 3) pending.push(outcome(webrtc.stats(), `stats ${i}`));
      if (stage === 4) await answer;
    }
    await sleep(jitter);
    const closed = outcome(p.close(), `close ${i}`);
    for (const r of await Promise.all(pending)) count(r);
    count(`close:${await closed}`);
  }

  const started = performance.now();
  const batch = 5;
  for (let i = 0; i < 50; i += batch) await Promise.all(Array.from({ length: batch }, (_, k) => one(i + k)));
  const summary = Object.fromEntries(outcomes);
  t.comment(`outcomes: ${JSON.stringify(summary)} in ${(performance.now() - started).toFixed(0)} ms`);
  t.equal(outcomes.get('close:ok'), 50, 'every close() resolved');
  const bad = [...outcomes.keys()].filter((k) => !/^(ok|GST_CLOSED|close:ok)$/.test(k));
  t.same(bad, [], 'every promise settled: resolved, or GST_CLOSED');
  const after = await backToBaseline(base);
  t.ok(after.threads <= base.threads + TOLERANCE.threads, `threads: ${base.threads} before, ${after.threads} after`);
  t.ok(after.fds <= base.fds + TOLERANCE.fds, `fds: ${base.fds} before, ${after.fds} after`);
});
