/**
 * The fault suite's scenarios, shared by the script (test/faults/run.ts, `npm run faults`, prints a table) and
 * the CI test (test/e2e/faults.test.ts, asserts on the same rows). One real server, real GStreamer, real
 * headless Chromium viewers: bystander sessions stay connected throughout while each fault hits one session
 * of its own; a row records how that session ended (the reason the server logged), the bystanders' decoded fps
 * while the fault played out and after it, whether the server still answers and what /metrics counted.
 *
 * Faults here: the browser vanishes without closing (page closed, no RTCPeerConnection.close()); packets stop
 * mid-stream (the viewer's Chromium runs in a network namespace whose veth link is cut); the element errors
 * mid-stream (GStreamer's `identity error-after` in the H.264 graph only); a model worker is killed
 * (backend "ditto" over the StreamSDK test double). The upload disk filling and SIGTERM with sessions open
 * have tests of their own (server-upload-disk-full.test.ts, server-drain.test.ts, server-faults.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withoutCodec } from '../helpers/chromium-like-offer.js';
import { ChromiumBrowser, CHROMIUM_PATH, chromiumAvailable, type ChromiumReceiver } from '../helpers/chromium.js';
import { startFakePool, type FakePool } from '../helpers/ditto-pool.js';
import { repeatWav } from '../helpers/media-files.js';
import { offerPayload, ROOT, testServer, type TestServer } from '../helpers/server-app.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

export interface FaultRow {
  fault: string;
  /** How the affected session ended (its logged close reason), or null when it never ended. */
  reason: string | null;
  detail: string | null;
  /** Mean decoded fps of the bystanders from the fault until the affected session ended. */
  othersFpsDuring: number;
  /** Mean decoded fps of the bystanders over a few seconds after. */
  othersFpsAfter: number;
  /** Bystander sessions still open afterwards / how many there were. */
  othersOpen: string;
  serverUp: boolean;
  /** The /metrics counter that moved, e.g. ditto_sessions_closed_total{reason="rtcp-silence"} +1. */
  metric: string;
  /** Sessions closed meanwhile, all reasons together (1: only the affected one). */
  closedDelta: number;
  /** Why the scenario did not run (missing root, Chromium, ...), else absent. */
  skipped?: string;
}

export interface FaultOptions {
  /** Bystander viewers kept connected through every fault (default 2). */
  bystanders?: number;
  /** Longest wait for the affected session to end (default 30 s). */
  endTimeoutMs?: number;
  /** Which faults to run (default all). */
  only?: string[];
  log?: (line: string) => void;
}

export const FAULTS = ['browser-vanishes', 'link-cut', 'element-error', 'worker-killed'] as const;

/** Counter values of one metric family by label set, from the Prometheus text. */
function counters(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /^[^{]+(\{[^}]*\}) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function closedCount(text: string): number {
  return [...counters(text, 'ditto_sessions_closed_total').values()].reduce((a, b) => a + b, 0);
}

function metricDelta(before: string, after: string): string {
  const moved: string[] = [];
  for (const name of ['ditto_sessions_closed_total', 'ditto_sessions_failed_total']) {
    const a = counters(before, name);
    for (const [labels, v] of counters(after, name)) {
      const d = v - (a.get(labels) ?? 0);
      if (d !== 0) moved.push(`${name.replace('ditto_sessions_', '')}${labels} +${d}`);
    }
  }
  return moved.join(', ') || '(none)';
}

export function canNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    sh('ip', '-V');
    return true;
  } catch {
    return false;
  }
}

/** A network namespace joined to the host by a veth pair, and a wrapper that runs Chromium inside it. */
class NetnsLink {
  readonly hostIp: string;
  readonly wrapper: string;
  private readonly ns: string;
  private readonly hostIf: string;
  private readonly dir: string;

  constructor() {
    const tag = randomInt(0x10000, 0xfffff).toString(16);
    this.ns = `dgflt${tag}`;
    this.hostIf = `dgf${tag}`;
    const nsIf = `dgg${tag}`;
    const net = randomInt(16, 250);
    this.hostIp = `10.214.${net}.1`;
    const nsIp = `10.214.${net}.2`;
    sh('ip', 'netns', 'add', this.ns);
    sh('ip', 'link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    sh('ip', 'link', 'set', nsIf, 'netns', this.ns);
    sh('ip', 'addr', 'add', `${this.hostIp}/30`, 'dev', this.hostIf);
    sh('ip', 'link', 'set', this.hostIf, 'up');
    sh('ip', 'netns', 'exec', this.ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
    sh('ip', 'netns', 'exec', this.ns, 'ip', 'link', 'set', nsIf, 'up');
    sh('ip', 'netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up');
    this.dir = mkdtempSync(join(tmpdir(), 'ditto-faults-netns-'));
    this.wrapper = join(this.dir, 'chromium-in-netns');
    writeFileSync(this.wrapper, `#!/bin/sh\nexec ip netns exec ${this.ns} ${CHROMIUM_PATH} "$@"\n`);
    chmodSync(this.wrapper, 0o755);
  }

  cut(): void {
    sh('ip', 'link', 'set', this.hostIf, 'down');
  }

  destroy(): void {
    try {
      sh('ip', 'link', 'del', this.hostIf);
    } catch {
      /* gone with the namespace */
    }
    try {
      sh('ip', 'netns', 'del', this.ns);
    } catch {
      /* already gone */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Viewer {
  id: string;
  rx: ChromiumReceiver;
}

/** One server plus its bystanders; each fault gets a session of its own on it. */
class Rig {
  readonly closed = new Map<string, { reason: string; detail: string | null }>();
  bystanders: Viewer[] = [];

  constructor(
    readonly server: TestServer,
    readonly browser: ChromiumBrowser,
    private readonly audio: string,
    private readonly extraOffer: Record<string, unknown> = {},
  ) {
    server.app.sessions.on('closed', (session, info) => this.closed.set(session.id, info));
  }

  async offer(sdp: string): Promise<{ id: string; sdp: string }> {
    const r = await this.server.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(sdp, { audio_path: this.audio, ...this.extraOffer }) });
    if (r.statusCode !== 200) throw new Error(`offer answered ${r.statusCode}: ${r.body.slice(0, 300)}`);
    return { id: r.json().session_id as string, sdp: r.json().sdp as string };
  }

  async viewer(browser = this.browser): Promise<Viewer> {
    const rx = await browser.newReceiver();
    const a = await this.offer(await rx.createOffer());
    await rx.acceptAnswer(a.sdp);
    await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) > 10, { timeoutMs: 30_000 });
    return { id: a.id, rx };
  }

  async addBystanders(n: number): Promise<void> {
    for (let i = 0; i < n; i++) this.bystanders.push(await this.viewer());
  }

  private async decoded(): Promise<number[]> {
    return Promise.all(this.bystanders.map(async (v) => (await v.rx.stats()).video?.framesDecoded ?? 0));
  }

  /**
   * Runs `inflict` (which answers the id of the session it hits), waits for that session to end, and measures
   * the bystanders meanwhile and after.
   */
  async measure(fault: string, inflict: () => Promise<string>, endTimeoutMs: number): Promise<FaultRow> {
    const metricsBefore = (await this.server.app.inject('/metrics')).body;
    const f0 = await this.decoded();
    const t0 = Date.now();
    const id = await inflict();
    const end = Date.now() + endTimeoutMs;
    while (id && !this.closed.has(id) && Date.now() < end) await sleep(100);
    // at least 2 s of "during", so a fault that ends its session at once still shows the others' rate
    if (Date.now() - t0 < 2000) await sleep(2000 - (Date.now() - t0));
    const f1 = await this.decoded();
    const t1 = Date.now();
    await sleep(3000);
    const f2 = await this.decoded();
    const t2 = Date.now();
    const mean = (a: number[], b: number[], ms: number) => (a.length === 0 ? 0 : b.reduce((s, v, i) => s + (v - a[i]!), 0) / a.length / (ms / 1000));
    const ended = this.closed.get(id) ?? null;
    const healthz = await this.server.app.inject('/healthz');
    const metricsAfter = (await this.server.app.inject('/metrics')).body;
    return {
      fault,
      reason: ended?.reason ?? null,
      detail: ended?.detail ?? null,
      othersFpsDuring: mean(f0, f1, t1 - t0),
      othersFpsAfter: mean(f1, f2, t2 - t1),
      othersOpen: `${this.bystanders.filter((v) => !this.closed.has(v.id)).length}/${this.bystanders.length}`,
      serverUp: healthz.statusCode === 200,
      metric: metricDelta(metricsBefore, metricsAfter),
      closedDelta: closedCount(metricsAfter) - closedCount(metricsBefore),
    };
  }
}

function skipped(fault: string, why: string): FaultRow {
  return { fault, reason: null, detail: null, othersFpsDuring: 0, othersFpsAfter: 0, othersOpen: '-', serverUp: true, metric: '-', closedDelta: 0, skipped: why };
}

/** Pipelines dir whose H.264 template errors in its input after 120 buffers (VP8 sessions are untouched). */
function faultyPipelines(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-faults-pipelines-'));
  for (const f of readdirSync(join(ROOT, 'pipelines'))) copyFileSync(join(ROOT, 'pipelines', f), join(dir, f));
  const h264 = readFileSync(join(ROOT, 'pipelines', 'h264.pipeline'), 'utf8');
  const tapped = h264.replace('{{audio_source}} ! audioconvert', '{{audio_source}} ! identity error-after=120 ! audioconvert');
  if (tapped === h264) throw new Error('the H.264 template no longer has the input the element-error fault taps');
  writeFileSync(join(dir, 'h264-faulty.pipeline'), tapped);
  return dir;
}

const WATCHDOG_ENV = {
  // a vanished or cut-off viewer is noticed within seconds (defaults: 5 s grace, 20 s RTCP silence)
  DITTO_SESSIONS_DISCONNECTED_GRACE_MS: '2000',
  DITTO_SESSIONS_RTCP_SILENCE_TIMEOUT_MS: '5000',
  DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '30000',
};

/** Runs the faults on the embedded backend (one server), then the worker fault on backend "ditto". */
export async function runFaults(opts: FaultOptions = {}): Promise<FaultRow[]> {
  const log = opts.log ?? (() => {});
  const want = (f: string) => !opts.only || opts.only.includes(f);
  const endTimeoutMs = opts.endTimeoutMs ?? 30_000;
  const nBystanders = opts.bystanders ?? 2;
  const rows: FaultRow[] = [];
  if (!chromiumAvailable()) return FAULTS.filter(want).map((f) => skipped(f, 'no Chromium'));
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    if (want('browser-vanishes') || want('link-cut') || want('element-error')) {
      const netns = want('link-cut') && canNetns() ? new NetnsLink() : null;
      if (netns) cleanups.push(() => netns.destroy());
      const pipelines = faultyPipelines();
      cleanups.push(() => rmSync(pipelines, { recursive: true, force: true }));
      const server = await testServer({
        ...WATCHDOG_ENV,
        DITTO_ICE_LOCAL_ADDRESSES: netns ? `127.0.0.1,${netns.hostIp}` : '127.0.0.1',
        DITTO_PIPELINES_DIR: pipelines,
        DITTO_PIPELINES_H264: 'h264-faulty.pipeline',
        DITTO_SESSIONS_MAX: '16',
      });
      cleanups.push(() => server.cleanup());
      writeFileSync(join(server.mediaDir, 'long.wav'), repeatWav(readFileSync(join(server.mediaDir, 'speech.wav')), 8));
      const browser = await ChromiumBrowser.launch();
      cleanups.push(() => browser.close());
      const rig = new Rig(server, browser, 'long.wav');
      await rig.addBystanders(nBystanders);
      log(`${nBystanders} bystanders connected`);

      if (want('browser-vanishes')) {
        const v = await rig.viewer();
        log('browser-vanishes: viewer connected, closing its page without closing the peer connection');
        rows.push(await rig.measure('browser-vanishes', async () => (await v.rx.vanish(), v.id), endTimeoutMs));
      }
      if (want('link-cut')) {
        if (!netns) rows.push(skipped('link-cut', 'needs root and iproute2'));
        else {
          const nsBrowser = await ChromiumBrowser.launch({ executablePath: netns.wrapper });
          cleanups.push(() => nsBrowser.close());
          const v = await rig.viewer(nsBrowser);
          log('link-cut: viewer in its namespace connected, cutting the link');
          rows.push(await rig.measure('link-cut', async () => (netns.cut(), v.id), endTimeoutMs));
        }
      }
      if (want('element-error')) {
        // A viewer that offers H.264 only gets the faulty graph; its input errors once it is flowing.
        const rx = await browser.newReceiver();
        const sdp = withoutCodec(await rx.createOffer(), 'VP8');
        log('element-error: an H.264 session (viewer connected) whose input errors after 120 buffers');
        let refused: string | null = null;
        const row = await rig.measure(
          'element-error',
          async () => {
            const r = await server.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(sdp, { audio_path: 'long.wav' }) });
            if (r.statusCode !== 200) {
              // the error beat the answer (a loaded machine): the offer itself is refused, nothing is left running
              refused = `HTTP ${r.statusCode} ${r.json().error?.code}`;
              return '';
            }
            await rx.acceptAnswer(r.json().sdp);
            return r.json().session_id as string;
          },
          endTimeoutMs,
        );
        rows.push(refused ? { ...row, reason: refused } : row);
        log(`element-error: its viewer decoded ${(await rx.stats()).video?.framesDecoded ?? 0} frames before the error`);
        await rx.close();
      }
    }
    if (want('worker-killed')) rows.push(await workerKilled(nBystanders, endTimeoutMs, log, cleanups));
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
  return rows;
}

/** Backend "ditto" over the test double's pool: one worker per session; the affected session's is SIGKILLed. */
async function workerKilled(nBystanders: number, endTimeoutMs: number, log: (l: string) => void, cleanups: (() => Promise<void> | void)[]): Promise<FaultRow> {
  const pool: FakePool = await startFakePool({ workers: nBystanders + 1 });
  cleanups.push(() => pool.stop());
  const server = await testServer({ ...WATCHDOG_ENV, DITTO_ELEMENT_BACKEND: 'ditto', DITTO_WORKER_SOCKET: pool.socket });
  cleanups.push(() => server.cleanup());
  writeFileSync(join(server.mediaDir, 'long.wav'), repeatWav(readFileSync(join(server.mediaDir, 'speech.wav')), 8));
  const browser = await ChromiumBrowser.launch();
  cleanups.push(() => browser.close());
  const rig = new Rig(server, browser, 'long.wav', { run_kwargs: { frame_scale: 0.25 } });
  await rig.addBystanders(nBystanders);
  const v = await rig.viewer();
  const listed = (await server.app.inject('/webrtc/sessions')).json() as { sessions: { session_id: string; ditto_worker?: number }[] };
  const workerId = listed.sessions.find((x) => x.session_id === v.id)?.ditto_worker;
  const worker = (await pool.waitFor(() => true)).list.find((w) => w.id === workerId);
  if (!worker?.pid) return skipped('worker-killed', 'could not tell which worker serves the session');
  log(`worker-killed: SIGKILL to worker ${worker.id} (pid ${worker.pid}) of the new session`);
  return rig.measure('worker-killed', async () => (process.kill(worker.pid!, 'SIGKILL'), v.id), endTimeoutMs);
}

export function formatTable(rows: FaultRow[]): string {
  const head = ['fault', 'affected session ended', 'others fps during', 'others fps after', 'others open', 'server up', '/metrics delta'];
  const body = rows.map((r) =>
    r.skipped
      ? [r.fault, `skipped: ${r.skipped}`, '-', '-', '-', '-', '-']
      : [r.fault, r.reason ? `${r.reason} (${(r.detail ?? '').slice(0, 60)})` : 'NOT ENDED', r.othersFpsDuring.toFixed(1), r.othersFpsAfter.toFixed(1), r.othersOpen, r.serverUp ? 'yes' : 'NO', r.metric],
  );
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
