/**
 * backend=ditto through real pipelines: the element, the C client, the worker pool and the worker's
 * adapter, over the StreamSDK test double (test/fixtures/fake_ditto). Checks the exact audio windows
 * upstream's online mode receives, frame order and count, frame k <-> audio [k*640, (k+1)*640),
 * timestamps and A/V lockstep, the reported latency, and that the mp4 writer setup() installs is
 * replaced.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FRAME_NS, PORTRAIT, ROOT, dittoElement, probe, requirePlugin, tempDir, FAKE_SINKS, S16_APPSRC } from '../helpers/gst-probe.js';
import { type FakeEvent, PYTHON, WORKER_DIR, startFakePool, testAudio } from '../helpers/ditto-pool.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

const pool = await startFakePool({ workers: 2 });
t.teardown(() => pool.stop());

const APPSRC = S16_APPSRC;
const SINKS = FAKE_SINKS;
const N = 52_900; // 82.66 frames: the last frame is partial
const FRAMES = Math.ceil(N / 640);
const audio = testAudio(N);
const raw = join(tmp.dir, 'speech.s16');
writeFileSync(raw, audio.s16);

/** Upstream's online windows for this audio and chunk config (inference.py, online branch). */
function expectedWindows(a: Float32Array, [p, c, f]: [number, number, number], frames: number): Float32Array[] {
  const split = (p + c + f) * 640 + 80;
  const padded = new Float32Array(p * 640 + a.length);
  padded.set(a, p * 640);
  const out: Float32Array[] = [];
  for (let i = 0; i < Math.ceil(frames / c); i++) {
    const w = new Float32Array(split);
    w.set(padded.subarray(i * c * 640, Math.min(padded.length, i * c * 640 + split)));
    out.push(w);
  }
  return out;
}

/** What the double's "HuBERT + LMDM" make of frame k: the RMS of audio [k*640, (k+1)*640 + 80). */
function expectedMotion(a: Float32Array, k: number): number {
  const rms = (from: number): number => {
    let s = 0;
    for (let i = from; i < from + 400; i++) s += i < a.length ? (a[i] as number) ** 2 : 0;
    return Math.sqrt(s / 400);
  };
  return (rms(k * 640) + rms(k * 640 + 320)) / 2;
}

function sessionEvents(pid: number, since: number): FakeEvent[] {
  return pool.events().filter((e) => e.pid === pid && e.t >= since);
}

t.test('offline: exact online windows, every frame once and in order, lockstep timestamps', async (t) => {
  const since = Date.now() / 1000;
  const r = await probe(
    `${APPSRC} ! ${dittoElement({ 'source-image': pool.portrait('face.jpg'), backend: 'ditto', 'worker-socket': pool.socket, 'frame-scale': 0.5, 'sampling-timesteps': 12 })} ${SINKS}`,
    { feed: raw, feedFast: true, region: [4, 4, 24, 24], timeoutS: 30 },
  );
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'reaches EOS');
  const v = r.video;
  const a = r.audio;
  t.equal(v.count, FRAMES, `one frame per 640 samples (${FRAMES})`);
  t.equal(a.count, FRAMES, 'one audio buffer per frame');
  t.same(v.pts, Array.from({ length: FRAMES }, (_, k) => k * FRAME_NS), 'frame k at k * 40 ms');
  t.same(a.pts, v.pts, 'audio and video share PTS');
  t.match(v.caps, /width=\(int\)256, height=\(int\)256/, 'frame-scale 0.5 of the 512x512 portrait');
  const bytes = (a.sizes ?? []).reduce((x, y) => x + y, 0);
  t.equal(bytes, N * 2, 'every input sample passes through once');

  // the double paints frame k's top-left block with 20 + 3k: its luma step against frame 0 is 3k * 219/255
  const diff = v.region_diff ?? [];
  const bad = diff.findIndex((d, k) => Math.abs(d - ((3 * (k % 60) * 219) / 255)) > 1.5);
  t.equal(bad, -1, `frame k shows the model's frame k (first mismatch ${bad}: ${diff[bad]})`);

  // 27 frames: the chunk's own 7 (current 5 + future 2) + 20 the model holds (overlap 70: windows
  // of 10 frames, the first only sets d0; +5 waiting for the next chunk's 80 HuBERT samples)
  t.equal(r.element_latency?.min_ns, 27 * FRAME_NS, 'latency includes the model latency');

  const ev = pool.events().filter((e) => e.t >= since);
  const setup = ev.find((e) => e.event === 'setup');
  t.ok(setup, 'setup() ran');
  const pid = setup?.pid as number;
  const mine = sessionEvents(pid, since);
  t.match(setup, { online_mode: true, overlap_v2: 70, sampling_timesteps: 12 }, 'online mode, pkl overlap, sampling-timesteps mapped');
  t.equal(mine.filter((e) => e.event === 'mp4_writer_frame').length, 0, "no frame went to setup()'s mp4 writer");

  const chunks = mine.filter((e) => e.event === 'run_chunk');
  const want = expectedWindows(audio.f32, [3, 5, 2], FRAMES);
  t.equal(chunks.length, want.length, `one run_chunk per element chunk (${want.length})`);
  t.ok(chunks.every((c) => c['n'] === 6480 && JSON.stringify(c['chunksize']) === '[3,5,2]'), 'windows of sum*640+80 samples, chunksize passed');
  const got = pool.windows(pid);
  const firstOffset = (chunks[0]?.['offset'] as number) / 4;
  let mismatch = -1;
  want.forEach((w, i) => {
    const g = got.subarray(firstOffset + i * 6480, firstOffset + (i + 1) * 6480);
    if (mismatch < 0 && (g.length !== w.length || g.some((x, j) => x !== w[j]))) mismatch = i;
  });
  t.equal(mismatch, -1, 'the SDK received exactly upstream online windows: 1920 zeros first, hop 3200');

  const frames = mine.filter((e) => e.event === 'frame').map((e) => ({ idx: e['idx'] as number, motion: e['motion'] as number }));
  const off = frames.slice(0, FRAMES).findIndex((f, k) => f.idx !== k || Math.abs(f.motion - expectedMotion(audio.f32, k)) > 1e-5);
  t.equal(off, -1, `model frame k is driven by audio [k*640, (k+1)*640+80) (first mismatch ${off})`);
  t.ok(mine.some((e) => e.event === 'close'), 'close() flushed the tail');
});

t.test('RGB output, another chunk config and overlap', async (t) => {
  const since = Date.now() / 1000;
  const r = await probe(
    `${APPSRC} ! ${dittoElement({ 'source-image': pool.portrait('face2.jpg'), backend: 'ditto', 'worker-socket': pool.socket, 'chunk-config': '2,4,1', 'overlap-v2': 76, 'face-box': '<120,80,200,200>' })} d.video ! video/x-raw,format=RGB ! fakesink name=vsink d.audio ! fakesink name=asink`,
    { feed: raw, feedFast: true, timeoutS: 30 },
  );
  t.same(r.errors, [], 'no errors');
  t.equal(r.video.count, FRAMES);
  t.match(r.video.caps, /width=\(int\)512, height=\(int\)512.*format=\(string\)RGB/, 'RGB at full size');
  const setup = pool.events().find((e) => e.t >= since && e.event === 'setup');
  t.match(setup, { overlap_v2: 76 }, 'overlap-v2 overrides the pkl');
  // the typed face-box still reaches the worker, which says the model finds the face itself
  t.match(r.warnings, [{ message: /face-box is ignored by the ditto backend/ }], 'face-box passed to the worker');
  const pid = setup?.pid as number;
  const chunks = sessionEvents(pid, since).filter((e) => e.event === 'run_chunk');
  t.equal(chunks.length, Math.ceil(FRAMES / 4));
  t.ok(chunks.every((c) => c['n'] === 7 * 640 + 80), 'windows of 7*640+80');
  const want = expectedWindows(audio.f32, [2, 4, 1], FRAMES);
  const got = pool.windows(pid);
  const first = (chunks[0]?.['offset'] as number) / 4;
  t.ok(want.every((w, i) => w.every((x, j) => got[first + i * w.length + j] === x)), 'exact windows with 1280 zeros first, hop 2560');
  // overlap 76: windows of 4 frames, one chunk each; 4 held + 4 for the next chunk's 80 samples
  t.equal(r.element_latency?.min_ns, (4 + 1 + 4 + 4) * FRAME_NS, 'latency follows chunk config and overlap');
});

t.test('live mode keeps 25 fps lockstep with the model latency', async (t) => {
  const short = join(tmp.dir, 'short.s16');
  writeFileSync(short, audio.s16.subarray(0, 16000 * 2 * 2));
  const r = await probe(
    `${APPSRC.replace('appsrc', 'appsrc is-live=true')} ! ${dittoElement({ 'source-image': pool.portrait('face3.jpg'), backend: 'ditto', 'worker-socket': pool.socket, mode: 'live', 'frame-scale': 0.25, 'post-stats': 'true' })} d.video ! fakesink name=vsink sync=true d.audio ! fakesink name=asink sync=true`,
    { feed: short, timeoutS: 30 },
  );
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'ends after the input played out');
  t.equal(r.video.count, 50, '2 s of audio, 50 frames');
  t.same(r.video.pts, r.audio.pts, 'shared PTS');
  t.equal(r.video.min_pts_delta, FRAME_NS);
  t.equal(r.video.max_pts_delta, FRAME_NS);
  t.equal(r.element_latency?.live, true);
  // chunk lookahead + the model's windowing at overlap 70 + allowances, plus the worker's measured window compute
  // (of the worker that served the session: the budget is measured x 1.25 + 20 ms)
  const budgets = (await pool.client.status()).list.map((w) => Math.round((Math.max(w.warmup?.window_ms ?? 0, w.warmup?.first_frame_ms ?? 0) * 1.25 + 20) * 1e6));
  const got = r.element_latency?.min_ns ?? 0;
  t.ok(budgets.some((b) => Math.abs(got - ((27 + 2) * FRAME_NS + b)) < 1e6), `model latency + allowances + measured compute (${got / 1e6} ms; budgets ${budgets.map((b) => b / 1e6)} ms)`);
  const late = Number((r.messages.filter((m) => m.startsWith('ditto-stats')).pop() ?? '').match(/frames-late=\(guint64\)(\d+)/)?.[1] ?? NaN);
  t.ok(late <= 5, `the model's frames arrive in time (${late} late)`);
});

/** Serves one session from test/fixtures/sized_worker.py: frames before switchAt at sizes[0], then sizes[1]. */
async function sizedWorker(sizes: string, switchAt: number): Promise<{ socket: string; done: Promise<void> }> {
  const socket = join(tmp.dir, `sized-${Date.now()}.sock`);
  const proc = spawn(PYTHON, [join(ROOT, 'test', 'fixtures', 'sized_worker.py'), socket, '--sizes', sizes, '--switch-at', String(switchAt)], {
    env: { ...process.env, PYTHONPATH: WORKER_DIR, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    proc.kill();
  });
  await new Promise<void>((resolve, reject) => {
    proc.stdout.once('data', () => resolve());
    proc.once('exit', (code) => reject(new Error(`sized_worker exited (${code})`)));
  });
  return { socket, done: new Promise((resolve) => proc.once('exit', () => resolve())) };
}

t.test('frames at other sizes than asked for: the caps follow them, or they are scaled', async (t) => {
  // The client reads the size from FRAME and the element renegotiates before the first frame of each size
  // (frame-scale 0.25 asks for 128x128; the worker sends 64x48 then, from frame 20, 96x80).
  const frames = 100;
  const audio100 = join(tmp.dir, 'sized.s16');
  writeFileSync(audio100, testAudio(frames * 640).s16);
  const el = (socket: string): string => dittoElement({ 'source-image': PORTRAIT, backend: 'ditto', 'worker-socket': socket, 'frame-scale': 0.25 });
  const w1 = await sizedWorker('64x48,96x80', 20);
  const free = await probe(`${APPSRC} ! ${el(w1.socket)} ${SINKS}`, { feed: audio100, feedFast: true, timeoutS: 30 });
  await w1.done;
  t.same(free.errors, [], 'no errors');
  t.equal(free.video.count, frames, 'every frame');
  t.match(free.video.caps, /width=\(int\)64, height=\(int\)48/, 'the first frame went out under caps of its size, not 128x128');
  t.equal(free.video.bad_meta + free.video.bad_map, 0, 'every frame matches the caps it went out under');
  const i420 = (w: number, h: number): number => (w * h * 3) / 2;
  t.same(free.video.sizes, [...Array(20).fill(i420(64, 48)), ...Array(frames - 20).fill(i420(96, 80))], 'as rendered, no scaling');

  const w2 = await sizedWorker('64x48,96x80', 20);
  const fixed = await probe(`${APPSRC} ! ${el(w2.socket)} d.video ! video/x-raw,width=128,height=128,format=RGB ! fakesink name=vsink d.audio ! fakesink name=asink`, {
    feed: audio100,
    feedFast: true,
    timeoutS: 30,
  });
  await w2.done;
  t.same(fixed.errors, [], 'downstream at 128x128 RGB: no errors');
  t.equal(fixed.video.count, frames, 'downstream at 128x128 RGB: every frame');
  t.equal(fixed.video.bad_meta + fixed.video.bad_map, 0, 'downstream at 128x128 RGB: frames match the caps');
  t.ok((fixed.video.sizes ?? []).every((n) => n === 128 * 128 * 3), 'downstream at 128x128 RGB: scaled to it');
});
