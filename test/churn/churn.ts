/**
 * Churn: N sessions opened and closed through the real app (offer -> DELETE, a share closed abruptly while still
 * starting or right after the answer, a share left to the connect timeout), and V of them with a real headless
 * Chromium viewer (sessions produce media only once a viewer's ICE connects): watched until frames decode, then
 * DELETEd, or the page closed without a DELETE (the RTCP-silence watchdog ends it), or DELETEd right after the
 * answer while ICE is still starting. Then RSS, open file descriptors, threads and live GStreamer objects
 * (gst-objects.ts: the core leaks tracer) compared with the baseline taken after a warm-up. Printed as figures;
 * the CI test runs a short one.
 *   node --expose-gc --import=tsx test/churn/churn.ts [sessions=500] [concurrency=4] [viewers=0]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ChromiumBrowser } from '../helpers/chromium.js';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer } from '../helpers/server-app.js';
import { GstObjectTracker, type GstObjectDelta } from './gst-objects.js';

export interface ProcessFigures {
  rss_mb: number;
  /** V8's heap in use: RSS growth beyond it is native (GStreamer, the allocator). */
  js_heap_mb: number;
  fds: number;
  threads: number;
}

export function processFigures(): ProcessFigures {
  const status = readFileSync('/proc/self/status', 'utf8');
  const threads = Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const mem = process.memoryUsage();
  return { rss_mb: Math.round(mem.rss / 1e5) / 10, js_heap_mb: Math.round(mem.heapUsed / 1e5) / 10, fds: readdirSync('/proc/self/fd').length, threads };
}

export interface ChurnResult {
  sessions: number;
  answered: number;
  refused: Record<string, number>;
  baseline: ProcessFigures;
  after: ProcessFigures;
  open_after: number;
  /** Sessions with a Chromium viewer, by how they ended (watched = frames decoded, then DELETE). */
  viewers: { watched: number; vanished: number; deleted_starting: number; no_frames: number; close_reasons: Record<string, number> };
  /** GStreamer objects created and destroyed after the baseline (null: tracer not active). */
  gst_objects: GstObjectDelta | null;
}

type ViewerKind = 'watch' | 'vanish' | 'delete-starting';
const VIEWER_KINDS: ViewerKind[] = ['watch', 'vanish', 'delete-starting'];

export async function churn(total: number, concurrency = 4, viewerCount = 0): Promise<ChurnResult> {
  const offer = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
  // Before the server (and so the addon, and gst_init) exists.
  const tracker = GstObjectTracker.enable();
  const s = await testServer({
    DITTO_SESSIONS_MAX: String(concurrency * 2),
    DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '1500',
    // A vanished viewer is noticed by its missing receiver reports; keep that short for the churn.
    DITTO_SESSIONS_RTCP_SILENCE_TIMEOUT_MS: '2000',
    DITTO_AUTH_OFFER_RATE_MAX: '0', // one client making all the offers is the point here
  });
  const browser = viewerCount > 0 ? await ChromiumBrowser.launch() : null;
  const refused: Record<string, number> = {};
  const viewers: ChurnResult['viewers'] = { watched: 0, vanished: 0, deleted_starting: 0, no_frames: 0, close_reasons: {} };
  const viewerSessions = new Set<string>();
  s.app.sessions.on('closed', (session, { reason }) => {
    if (viewerSessions.has(session.id)) viewers.close_reasons[reason] = (viewers.close_reasons[reason] ?? 0) + 1;
  });
  let answered = 0;
  /** The session id of an answered offer; a refusal is counted by its code. */
  const answeredId = (r: { statusCode: number; json(): unknown }): string | null => {
    const body = r.json() as { session_id?: string; error?: { code?: string } };
    if (r.statusCode !== 200) {
      const code = body.error?.code ?? String(r.statusCode);
      refused[code] = (refused[code] ?? 0) + 1;
      return null;
    }
    answered++;
    return body.session_id!;
  };
  const gone = (id: string) =>
    new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (!s.app.sessions.list().some((x) => x.id === id)) {
          clearInterval(timer);
          resolve();
        }
      }, 100);
    });
  // Viewer sessions spread evenly over the run (after the warm-up), kinds in turn.
  const viewerEvery = viewerCount > 0 ? Math.max(1, Math.floor((total - 20) / viewerCount)) : 0;
  let viewersStarted = 0;
  const withViewer = async (kind: ViewerKind) => {
    const rx = await browser!.newReceiver();
    try {
      const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(await rx.createOffer()) });
      const id = answeredId(r);
      if (id === null) return;
      viewerSessions.add(id);
      await rx.acceptAnswer(r.json().sdp);
      if (kind === 'delete-starting') {
        await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
        viewers.deleted_starting++;
        return;
      }
      try {
        await rx.waitFor((st) => (st.video?.framesDecoded ?? 0) > 3 && (st.audio?.packetsReceived ?? 0) > 3, { timeoutMs: 20_000 });
      } catch {
        viewers.no_frames++;
      }
      if (kind === 'vanish') {
        await rx.vanish(); // no DELETE: the watchdog must end it
        await gone(id);
        viewers.vanished++;
      } else {
        await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
        viewers.watched++;
      }
    } finally {
      await rx.close();
    }
  };
  const one = async (i: number) => {
    if (browser && i >= 20 && (i - 20) % viewerEvery === 0 && viewersStarted < viewerCount) {
      await withViewer(VIEWER_KINDS[viewersStarted++ % VIEWER_KINDS.length]!);
      return;
    }
    const pending = s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(offer) });
    if (i % 10 === 3) {
      // Abrupt: everything closed while this offer is still starting.
      await new Promise((r) => setTimeout(r, 5));
      for (const sess of s.app.sessions.list()) {
        if (!viewerSessions.has(sess.id)) void s.app.sessions.delete(sess.id).catch(() => {});
      }
    }
    const id = answeredId(await pending);
    if (id === null) return;
    if (i % 10 === 7) {
      // Left alone: ends by the connect timeout.
      await gone(id);
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
  if (browser) await withViewer('watch'); // the first viewer's one-time costs (codecs, DTLS) before the baseline
  await new Promise((r) => setTimeout(r, 500));
  global.gc?.();
  const baseline = processFigures();
  await tracker.checkpoint();
  await run(20, Math.max(0, total - 20));
  while (s.app.sessions.size > 0) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1000));
  global.gc?.();
  const after = processFigures();
  const gst_objects = await tracker.delta();
  const result = { sessions: total, answered, refused, baseline, after, open_after: s.app.sessions.size, viewers, gst_objects };
  await browser?.close();
  await s.cleanup();
  tracker.cleanup();
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const total = Number(process.argv[2] ?? 500);
  const concurrency = Number(process.argv[3] ?? 4);
  const viewerCount = Number(process.argv[4] ?? 0);
  const started = Date.now();
  const r = await churn(total, concurrency, viewerCount);
  console.log(JSON.stringify({ ...r, seconds: (Date.now() - started) / 1000 }, null, 2));
  console.log(
    `churn ${total}: rss ${r.baseline.rss_mb} -> ${r.after.rss_mb} MB (JS heap ${r.baseline.js_heap_mb} -> ${r.after.js_heap_mb}), fds ${r.baseline.fds} -> ${r.after.fds}, threads ${r.baseline.threads} -> ${r.after.threads}, ` +
      `GstObjects alive beyond baseline ${r.gst_objects ? `${r.gst_objects.alive_delta} (${r.gst_objects.added} created, ${r.gst_objects.removed} destroyed)` : 'n/a'}, viewers ${JSON.stringify(r.viewers)}`,
  );
}
