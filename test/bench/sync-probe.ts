/**
 * Chrome's A/V sync against one floor-server graph variant, second by second: for bisecting what in a
 * sender's stream moves Chrome's lip sync (see floor-server.ts for the FLOOR_GRAPH variants).
 *
 *   FLOOR_GRAPH=ditto|bare|... node dist/test/bench/sync-probe.js [sessions=1] [seconds=12]
 *
 * Prints per receiver and second: estimatedPlayoutTimestamp video - audio, and each jitter buffer's mean
 * delay over that second (ms). PROBE_CONTENT=1 also records what each viewer saw and heard and prints the
 * offset by content (mouth against sound, lip-sync.ts) per window of a tenth of the run (at least 10 s), next
 * to Chrome's median over the same window: a long run (e.g. 1800 s) shows whether lip sync holds.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChromiumBrowser, type ReceiverStats } from '../helpers/chromium.js';
import { DEMO_MOUTH_REGION, envelopeOffset, toneBurstWav } from './lip-sync.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const n = Number(process.argv[2] ?? 1);
const seconds = Number(process.argv[3] ?? 12);
const content = process.env['PROBE_CONTENT'] === '1';
const media = mkdtempSync(join(tmpdir(), 'ditto-probe-media-'));
writeFileSync(join(media, 'bursts.wav'), toneBurstWav(0.5, seconds + 8));
copyFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg'), join(media, 'portrait.jpg'));

const proc = spawn(process.execPath, [join(ROOT, 'dist', 'test', 'bench', 'floor-server.js'), '0'], {
  cwd: ROOT,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, DITTO_MEDIA_DIRS: media, FLOOR_AUDIO: 'bursts.wav' },
});
const port = await new Promise<number>((res) => proc.stdout!.on('data', (d: Buffer) => {
  const m = /"listening":(\d+)/.exec(d.toString());
  if (m) res(Number(m[1]));
}));
const browser = await ChromiumBrowser.launch();
const jb = (a: ReceiverStats['audio'] | ReceiverStats['video'], b: typeof a) =>
  a && b && a.jitterBufferEmittedCount! > b.jitterBufferEmittedCount!
    ? ((a.jitterBufferDelayS! - b.jitterBufferDelayS!) / (a.jitterBufferEmittedCount! - b.jitterBufferEmittedCount!)) * 1000
    : NaN;
const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

/** Per window: Chrome's median A/V and the offset by content (its correlation), per receiver. */
async function printContentWindows(rxs: Awaited<ReturnType<ChromiumBrowser['newReceiver']>>[], rows: number[][]) {
  const windowS = Math.max(10, Math.round(seconds / 10));
  for (const [i, rx] of rxs.entries()) {
    const tl = await rx.timeline();
    // The page's performance clock and this process's differ by a constant: window by the capture's own
    // clock, starting at its first frame (which came before the first stats second).
    const t0 = tl.video[0]?.[0] ?? 0;
    for (let w = 0; w * windowS < seconds; w++) {
      const [a, b] = [t0 + w * windowS * 1000, t0 + (w + 1) * windowS * 1000];
      const r = envelopeOffset(tl.video.filter((p) => p[0] >= a && p[0] < b), tl.audio.filter((p) => p[0] >= a && p[0] < b));
      const chrome = median(rows[i]!.slice(w * windowS, (w + 1) * windowS));
      console.log(`rx${i} ${w * windowS}-${(w + 1) * windowS}s: Chrome A/V ${chrome.toFixed(0)} ms, content ${r.offsetMs.toFixed(0)} ms (r=${r.correlation.toFixed(2)})`);
    }
  }
}

try {
  const rxs = [];
  for (let i = 0; i < n; i++) {
    const rx = await browser.newReceiver(content ? { capture: { region: DEMO_MOUTH_REGION } } : {});
    const res = await fetch(`http://127.0.0.1:${port}/offer`, { method: 'POST', body: JSON.stringify({ sdp: await rx.createOffer() }) });
    const answer = ((await res.json()) as { sdp: string }).sdp;
    if (process.env['PROBE_SDP']) console.log(answer.split('\r\n').filter((l) => /^(m=|a=msid|a=ssrc|a=mid|a=group|a=extmap|a=rtcp)/.test(l)).join('\n'));
    await rx.acceptAnswer(answer);
    rxs.push(rx);
  }
  let prev = await Promise.all(rxs.map((r) => r.stats()));
  const rows: number[][] = rxs.map(() => []);
  for (let t = 1; t <= seconds; t++) {
    await new Promise((r) => setTimeout(r, 1000));
    const cur = await Promise.all(rxs.map((r) => r.stats()));
    cur.forEach((s, i) => {
      const off = (s.video?.estimatedPlayoutTimestamp ?? NaN) - (s.audio?.estimatedPlayoutTimestamp ?? NaN);
      rows[i]!.push(off);
      console.log(`rx${i} t=${t}s A/V ${off.toFixed(0)} ms  jb audio ${jb(s.audio, prev[i]!.audio).toFixed(0)} video ${jb(s.video, prev[i]!.video).toFixed(0)}  fps ${s.video?.framesPerSecond ?? '-'}`);
    });
    prev = cur;
  }
  const tail = rows.flatMap((r) => r.slice(Math.floor(r.length / 2))).filter(Number.isFinite).sort((a, b) => a - b);
  console.log(`${process.env['FLOOR_GRAPH'] ?? 'ditto'} x${n}: median A/V over the second half ${tail[Math.floor((tail.length - 1) / 2)]?.toFixed(0)} ms`);
  if (content) await printContentWindows(rxs, rows);
  await Promise.all(rxs.map((r) => r.close()));
} finally {
  proc.kill('SIGTERM');
  await browser.close();
  rmSync(media, { recursive: true, force: true });
}
