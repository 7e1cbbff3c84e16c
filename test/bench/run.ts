/**
 * `npm run bench`: prints the performance figures the issues set targets for. Nothing here asserts: the
 * machines are shared and noisy, so figures are printed for people to read, next to their targets.
 *
 * 1. The built-in animator alone (ditto-animator-bench): render cost per frame, live share of a core, offline speed.
 * 2. The element offline through GStreamer (decode -> dittotalkinghead -> fakesink): x real time before encoding.
 * 3. Served sessions with headless Chromium receivers, for 1, 4 and 8 sessions: offer->answer, POST->first
 *    decoded frame, fps, A/V offset (Chrome's own playout clocks), server CPU per session, RSS — for our server
 *    and for the floor (the same graph answered by a bare script on the addon), side by side with the ratio.
 *
 * Options (env): BENCH_SESSIONS="1,4,8"  BENCH_SECONDS=6 (measurement window per run)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChromiumBrowser, type ChromiumReceiver } from '../helpers/chromium.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const DIST = join(ROOT, 'dist');
const PLUGIN_DIR = join(ROOT, 'build', 'plugin', 'ditto');
const SESSIONS = (process.env['BENCH_SESSIONS'] ?? '1,4,8').split(',').map(Number);
const WINDOW_S = Number(process.env['BENCH_SECONDS'] ?? 6);
const CLK_TCK = 100;
const SPEECH = join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};
const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');

function header(title: string): void {
  console.log(`\n== ${title} ${'='.repeat(Math.max(0, 74 - title.length))}`);
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function animatorBench(): void {
  header('built-in animator (ditto-animator-bench, 512x512)');
  const r = spawnSync(join(PLUGIN_DIR, 'animator', 'ditto-animator-bench'), ['--seconds', '20'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  process.stdout.write(r.stdout || r.stderr);
  console.log('targets: live 512x512 @ 25 fps well under 20 % of one core; offline >= 20x real time');
}

function elementOffline(): void {
  header('dittotalkinghead offline through GStreamer (speech.wav, 512x512, no encoder)');
  const args = [
    'filesrc', `location=${SPEECH}`, '!', 'decodebin', '!', 'audioconvert', '!',
    'audioresample', '!', 'audio/x-raw,rate=16000,channels=1', '!', 'dittotalkinghead', 'name=d',
    `source-image=${join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg')}`, 'd.video', '!', 'fakesink', 'd.audio', '!', 'fakesink',
  ];
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const r = spawnSync('gst-launch-1.0', ['-q', ...args], { env: { ...process.env, GST_PLUGIN_PATH: PLUGIN_DIR } });
    if (r.status !== 0) throw new Error(`gst-launch failed: ${r.stderr}`);
    runs.push((performance.now() - t0) / 1000);
  }
  // The sample is a canonical 44-byte-header WAV of 16 kHz mono 16-bit PCM.
  const audioS = (statSync(SPEECH).size - 44) / 2 / 16_000;
  const best = Math.min(...runs);
  console.log(`${f(audioS, 2)} s of speech rendered in ${f(best, 2)} s (best of 3, process start included): ${f(audioS / best, 1)}x real time`);
}

interface Target {
  name: string;
  proc: ChildProcess;
  base: string;
  offer(sdp: string): Promise<{ sdp: string; id: string }>;
  end(id: string): Promise<void>;
}

async function waitForLine(proc: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolveLine, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${buf.slice(-500)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = pattern.exec(buf);
      if (m) {
        clearTimeout(timer);
        proc.stdout?.off('data', onData);
        proc.stderr?.off('data', onData);
        resolveLine(m);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${buf.slice(-500)}`)));
  });
}

async function startServer(): Promise<Target> {
  const proc = spawn(process.execPath, [join(DIST, 'src', 'cli', 'main.js'), 'serve', '--port', '0', '--log-level', 'warn',
    '--ice-local-addresses', '127.0.0.1', '--sessions-max', '16', '--media-dirs', join(ROOT, 'src', 'server', 'demo', 'media')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const m = await waitForLine(proc, /http:\/\/127\.0\.0\.1:(\d+)/);
  const base = `http://127.0.0.1:${m[1]}`;
  return {
    name: 'ditto-gst server',
    proc,
    base,
    async offer(sdp) {
      const res = await fetch(`${base}/webrtc/offer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sdp, type: 'offer', audio_path: 'speech.wav', source_path: 'portrait.jpg' }),
      });
      const body = (await res.json()) as { sdp: string; session_id: string };
      if (res.status !== 200) throw new Error(`offer refused: ${JSON.stringify(body)}`);
      return { sdp: body.sdp, id: body.session_id };
    },
    async end(id) {
      await fetch(`${base}/webrtc/sessions/${id}`, { method: 'DELETE' });
    },
  };
}

async function startFloor(): Promise<Target> {
  const proc = spawn(process.execPath, [join(DIST, 'test', 'bench', 'floor-server.js'), '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DITTO_MEDIA_DIRS: join(ROOT, 'src', 'server', 'demo', 'media') },
  });
  const m = await waitForLine(proc, /"listening":(\d+)/);
  const base = `http://127.0.0.1:${m[1]}`;
  return {
    name: 'floor (bare graph)',
    proc,
    base,
    async offer(sdp) {
      const res = await fetch(`${base}/offer`, { method: 'POST', body: JSON.stringify({ sdp }) });
      const body = (await res.json()) as { sdp: string; id: string; error?: string };
      if (res.status !== 200) throw new Error(`floor refused: ${body.error}`);
      return body;
    },
    async end(id) {
      await fetch(`${base}/offer/${id}`, { method: 'DELETE' });
    },
  };
}

interface RunFigures {
  answerMs: number[];
  firstFrameMs: number[];
  fps: number[];
  avOffsetMs: number[];
  cpuPctPerSession: number;
  rssMb: number;
}

async function runSessions(target: Target, browser: ChromiumBrowser, n: number): Promise<RunFigures> {
  const receivers: ChromiumReceiver[] = [];
  const ids: string[] = [];
  const answerMs: number[] = [];
  const firstFrameMs: number[] = [];
  try {
    // Offers in a row, as viewers arriving one after another; each waits for its first frame.
    for (let i = 0; i < n; i++) {
      const rx = await browser.newReceiver();
      receivers.push(rx);
      const offer = await rx.createOffer();
      const postedAt = Date.now();
      const t0 = performance.now();
      const { sdp, id } = await target.offer(offer);
      answerMs.push(performance.now() - t0);
      ids.push(id);
      await rx.acceptAnswer(sdp);
      const s = await rx.waitFor((s) => s.firstFrameEpochMs !== null, { timeoutMs: 20_000, intervalMs: 10 });
      firstFrameMs.push(s.firstFrameEpochMs! - postedAt);
    }
    await sleep(1000);
    const cpu0 = cpuSeconds(target.proc.pid!);
    const t0 = performance.now();
    const fps = await Promise.all(receivers.map((rx) => rx.measureFps(WINDOW_S * 1000)));
    const cpuPct = ((cpuSeconds(target.proc.pid!) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
    const stats = await Promise.all(receivers.map((rx) => rx.stats()));
    const avOffsetMs = stats.map((s) =>
      s.video?.estimatedPlayoutTimestamp && s.audio?.estimatedPlayoutTimestamp
        ? s.video.estimatedPlayoutTimestamp - s.audio.estimatedPlayoutTimestamp
        : NaN,
    );
    return { answerMs, firstFrameMs, fps, avOffsetMs, cpuPctPerSession: cpuPct / n, rssMb: rssMb(target.proc.pid!) };
  } finally {
    await Promise.all(ids.map((id) => target.end(id).catch(() => {})));
    await Promise.all(receivers.map((rx) => rx.close()));
    await sleep(500);
  }
}

async function warmUp(target: Target, browser: ChromiumBrowser): Promise<void> {
  // The first webrtcbin in a process pays plugin loading and its DTLS certificate once.
  await runSessions(target, browser, 1).catch(() => {});
}

async function servedSessions(): Promise<void> {
  header('served sessions, headless Chromium receivers (512x512 VP8 + Opus)');
  const browser = await ChromiumBrowser.launch();
  const server = await startServer();
  const floor = await startFloor();
  try {
    await warmUp(server, browser);
    await warmUp(floor, browser);
    const row = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(22) : c.padStart(11))).join(''));
    row(['', 'answer ms', '1st frame', 'fps min', 'A/V ms', 'CPU %/sess', 'RSS MB']);
    for (const n of SESSIONS) {
      const results: Record<string, RunFigures> = {};
      for (const target of [server, floor]) {
        const r = await runSessions(target, browser, n);
        results[target.name] = r;
        row([
          `${n} x ${target.name}`,
          f(median(r.answerMs)),
          f(median(r.firstFrameMs), 0),
          f(Math.min(...r.fps)),
          f(median(r.avOffsetMs)),
          f(r.cpuPctPerSession),
          f(r.rssMb, 0),
        ]);
      }
      const ratio = results[server.name]!.cpuPctPerSession / results[floor.name]!.cpuPctPerSession;
      console.log(`   CPU ratio server/floor at ${n}: ${f(ratio, 2)} (target <= 1.15)`);
    }
    console.log('targets: answer <= 30 ms median warm; first frame <= 150 ms; 8 sessions at 25 fps;');
    console.log('         CPU per session below aiortc\'s ~9 % with the animator; A/V within +-20 ms');
    console.log('reference (shared/notes, same method): aiortc answers ~53 ms, first frame 94-132 ms, ~9 % CPU;');
    console.log('         a plain webrtcbin graph with a test pattern answers ~22 ms at ~6.2 % CPU');
  } finally {
    server.proc.kill('SIGTERM');
    floor.proc.kill('SIGTERM');
    await browser.close();
  }
}

animatorBench();
elementOffline();
await servedSessions();
