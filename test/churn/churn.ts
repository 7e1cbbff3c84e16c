/**
 * Churn: N sessions opened and closed through the real app (offer -> DELETE, a share closed abruptly while still
 * starting or right after the answer, a share left to the connect timeout), then RSS, open file descriptors and
 * threads compared with the baseline taken after a warm-up. Printed as figures; the CI test runs a short one.
 *   node --import=tsx test/churn/churn.ts [sessions=500] [concurrency=4]
 * (Chromium viewers are not part of this script: see test/e2e for sessions with real viewers.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer } from '../helpers/server-app.js';

export interface ProcessFigures {
  rss_mb: number;
  fds: number;
  threads: number;
}

export function processFigures(): ProcessFigures {
  const status = readFileSync('/proc/self/status', 'utf8');
  const threads = Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { rss_mb: Math.round(process.memoryUsage().rss / 1e5) / 10, fds: readdirSync('/proc/self/fd').length, threads };
}

export interface ChurnResult {
  sessions: number;
  answered: number;
  refused: Record<string, number>;
  baseline: ProcessFigures;
  after: ProcessFigures;
  open_after: number;
}

export async function churn(total: number, concurrency = 4): Promise<ChurnResult> {
  const offer = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
  const s = await testServer({
    DITTO_SESSIONS_MAX: String(concurrency * 2),
    DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '1500',
    DITTO_AUTH_OFFER_RATE_MAX: '0', // one client making all the offers is the point here
  });
  const refused: Record<string, number> = {};
  let answered = 0;
  const one = async (i: number) => {
    const pending = s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(offer) });
    if (i % 10 === 3) {
      // Abrupt: everything closed while this offer is still starting.
      await new Promise((r) => setTimeout(r, 5));
      for (const sess of s.app.sessions.list()) void s.app.sessions.delete(sess.id).catch(() => {});
    }
    const r = await pending;
    if (r.statusCode !== 200) {
      const code = (r.json() as { error?: { code?: string } }).error?.code ?? String(r.statusCode);
      refused[code] = (refused[code] ?? 0) + 1;
      return;
    }
    answered++;
    const id = r.json().session_id as string;
    if (i % 10 === 7) {
      // Left alone: ends by the connect timeout.
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (!s.app.sessions.list().some((x) => x.id === id)) {
            clearInterval(timer);
            resolve();
          }
        }, 100);
      });
      return;
    }
    await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
  };
  const run = async (from: number, count: number) => {
    let next = from;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < from + count) await one(next++);
      }),
    );
  };
  await run(0, Math.min(20, total)); // warm-up: plugins, DTLS certificate, probe workers, allocator pools
  await new Promise((r) => setTimeout(r, 500));
  const baseline = processFigures();
  await run(20, Math.max(0, total - 20));
  while (s.app.sessions.size > 0) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1000));
  global.gc?.();
  const after = processFigures();
  const result = { sessions: total, answered, refused, baseline, after, open_after: s.app.sessions.size };
  await s.cleanup();
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const total = Number(process.argv[2] ?? 500);
  const concurrency = Number(process.argv[3] ?? 4);
  const started = Date.now();
  const r = await churn(total, concurrency);
  console.log(JSON.stringify({ ...r, seconds: (Date.now() - started) / 1000 }, null, 2));
  console.log(
    `churn ${total}: rss ${r.baseline.rss_mb} -> ${r.after.rss_mb} MB, fds ${r.baseline.fds} -> ${r.after.fds}, threads ${r.baseline.threads} -> ${r.after.threads}`,
  );
}
