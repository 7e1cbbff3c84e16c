/**
 * The soak's engine, shared by the script (test/soak/soak.ts, `npm run soak -- --minutes 30 --sessions 8`)
 * and the CI variant (test/e2e/soak-short.test.ts): N sessions, each with a headless Chromium viewer, for a
 * given time on one real server; every interval it samples per session the decoded fps (framesDecoded delta),
 * the element's A/V offset (dittotalkinghead's stats: PTS of the last audio buffer minus that of the last video
 * frame pushed; a snapshot, so quantised to a frame: 0 or -40 ms depending on whether the stats were taken
 * between a frame and its audio; more than 40 ms either way is drift) and the viewer's playout offset (Chrome's estimatedPlayoutTimestamp, video minus audio: noisy, printed for context).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChromiumBrowser, type ChromiumReceiver } from '../helpers/chromium.js';
import { offerPayload, testServer } from '../helpers/server-app.js';
import { repeatWav } from '../helpers/media-files.js';

export interface SoakSample {
  /** Seconds since the sessions were connected (end of this interval). */
  atS: number;
  fps: number[];
  /** dittotalkinghead's audio − video PTS of the last buffers pushed, per session (ms; null when not reported). */
  offsetMs: (number | null)[];
  /** Chrome's video − audio estimated playout timestamp per session (ms; null when not reported). */
  playoutMs: (number | null)[];
  /** Sessions still open. */
  open: number;
}

export interface SoakOptions {
  sessions: number;
  seconds: number;
  intervalS: number;
  frameScale?: number;
  onSample?: (s: SoakSample) => void;
  log?: (line: string) => void;
}

export interface SoakResult {
  samples: SoakSample[];
  /** Sessions that ended during the soak, with their reasons. */
  closed: { id: string; reason: string; detail: string | null }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? (() => {});
  const speech = readFileSync(new URL('../../src/server/demo/media/speech.wav', import.meta.url));
  // the sample speech (12 s) repeated past the soak's end: a session ends with its audio
  const times = Math.ceil((opts.seconds + 60) / 12);
  const wav = repeatWav(speech, times);
  const server = await testServer({
    DITTO_SESSIONS_MAX: String(Math.max(8, opts.sessions)),
    DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '60000',
    DITTO_UPLOAD_MAX_AUDIO_BYTES: String(Math.max(50 * 1024 * 1024, wav.length + 1024)),
  });
  const browser = await ChromiumBrowser.launch();
  const closed: SoakResult['closed'] = [];
  server.app.sessions.on('closed', (s, { reason, detail }) => closed.push({ id: s.id, reason, detail }));
  try {
    writeFileSync(join(server.mediaDir, 'soak.wav'), wav);
    const viewers: { id: string; rx: ChromiumReceiver }[] = [];
    for (let i = 0; i < opts.sessions; i++) {
      const rx = await browser.newReceiver();
      const r = await server.app.inject({
        method: 'POST',
        url: '/webrtc/offer',
        payload: offerPayload(await rx.createOffer(), { audio_path: 'soak.wav', run_kwargs: { frame_scale: opts.frameScale ?? 0.5 } }),
      });
      if (r.statusCode !== 200) throw new Error(`offer ${i + 1} answered ${r.statusCode}: ${r.body.slice(0, 300)}`);
      await rx.acceptAnswer(r.json().sdp);
      viewers.push({ id: r.json().session_id as string, rx });
    }
    await Promise.all(viewers.map((v) => v.rx.waitFor((s) => (s.video?.framesDecoded ?? 0) > 10, { timeoutMs: 60_000 })));
    log(`${opts.sessions} sessions connected and decoding`);

    const samples: SoakSample[] = [];
    const decoded = () => Promise.all(viewers.map(async (v) => (await v.rx.stats()).video?.framesDecoded ?? 0));
    const t0 = Date.now();
    let last = await decoded();
    let lastAt = Date.now();
    while (Date.now() - t0 < opts.seconds * 1000) {
      await sleep(Math.min(opts.intervalS * 1000, opts.seconds * 1000 - (Date.now() - t0)));
      const stats = await Promise.all(viewers.map((v) => v.rx.stats()));
      const now = Date.now();
      const frames = stats.map((s) => s.video?.framesDecoded ?? 0);
      const details = await Promise.all(viewers.map(async (v) => (await server.app.inject(`/webrtc/sessions/${v.id}`)).json() as { av_drift_ms?: number | null }));
      const offsetMs = details.map((d) => d.av_drift_ms ?? null);
      const sample: SoakSample = {
        atS: (now - t0) / 1000,
        fps: frames.map((f, i) => (f - last[i]!) / ((now - lastAt) / 1000)),
        offsetMs,
        playoutMs: stats.map((s) => {
          const v = s.video?.estimatedPlayoutTimestamp;
          const a = s.audio?.estimatedPlayoutTimestamp;
          return v && a ? v - a : null;
        }),
        open: viewers.filter((v) => !closed.some((c) => c.id === v.id)).length,
      };
      samples.push(sample);
      opts.onSample?.(sample);
      last = frames;
      lastAt = now;
    }
    const ended = [...closed]; // before the viewers leave (that closes the sessions)
    await Promise.all(viewers.map((v) => v.rx.close()));
    return { samples, closed: ended };
  } finally {
    await browser.close();
    await server.cleanup();
  }
}

const fmt = (xs: (number | null)[], digits = 0) => xs.map((x) => (x === null ? '-' : x.toFixed(digits))).join(' ');
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** One line per sample: time, open sessions, mean/min fps, worst |element A/V offset|, per-session figures. */
export function formatSample(s: SoakSample): string {
  const drifts = s.offsetMs.filter((d): d is number => d !== null).map(Math.abs);
  return [
    `t=${s.atS.toFixed(0).padStart(5)} s`,
    `open ${s.open}/${s.fps.length}`,
    `fps mean ${mean(s.fps).toFixed(1)} min ${Math.min(...s.fps).toFixed(1)}`,
    `|a-v| max ${drifts.length ? Math.max(...drifts).toFixed(1) : '-'} ms`,
    `| fps [${fmt(s.fps, 1)}] element a-v ms [${fmt(s.offsetMs, 1)}] chrome v-a ms [${fmt(s.playoutMs)}]`,
  ].join('  ');
}
