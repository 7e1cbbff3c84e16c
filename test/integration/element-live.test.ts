/**
 * dittotalkinghead in live mode: 25 fps on the pipeline clock through input gaps, silence animated while
 * starved, audio arriving later animated as it comes, truthful live latency, EOS once the input has played out.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  FRAME_NS,
  LIVE_FAKE_SINKS,
  LIVE_S16_APPSRC,
  PORTRAIT,
  SPEECH_WAV,
  dittoElement,
  messagesNamed,
  probe,
  requirePlugin,
  sox,
  tempDir,
  testPluginEnv,
} from '../helpers/gst-probe.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

const SINKS = LIVE_FAKE_SINKS;
const APPSRC = LIVE_S16_APPSRC;

t.test('keeps 25 fps through a 1.2 s input gap and animates the audio that comes after it', async (t) => {
  const raw = join(tmp.dir, 'speech.s16');
  const src = existsSync(SPEECH_WAV) ? [SPEECH_WAV] : ['-n', '-r', '16000', '-c', '1'];
  await sox([...src, '-t', 'raw', '-r', '16000', '-c', '1', '-e', 'signed', '-b', '16', raw, ...(existsSync(SPEECH_WAV) ? [] : ['synth']), 'trim', '0', '1.6']);
  // 0.8 s of audio, 1.2 s of nothing, 0.8 s of audio, then EOS
  const r = await probe(`${APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.5, 'post-stats': 'true' })} ${SINKS}`, {
    feed: raw,
    feedGap: [0.8, 1.2],
    timeoutS: 15,
  });
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'ends after the input has played out');
  const v = r.video;
  const a = r.audio;
  // 2.8 s of timeline (1.6 s audio + 1.2 s gap), give or take the input's own pacing jitter
  t.ok(v.count >= 66 && v.count <= 76, `about 70 frames (${v.count})`);
  t.equal(a.count, v.count, 'one audio buffer per frame');
  t.same(v.pts, a.pts, 'video and audio share PTS');
  t.equal(v.min_pts_delta, FRAME_NS, 'PTS step 40 ms');
  t.equal(v.max_pts_delta, FRAME_NS, 'no PTS jump through the gap');
  const arrivals = v.arrival_us ?? [];
  const spanS = ((arrivals[arrivals.length - 1] ?? 0) - (arrivals[0] ?? 0)) / 1e6;
  const fps = (v.count - 1) / spanS;
  t.ok(fps > 23 && fps < 27, `frames leave at 25 fps in real time (${fps.toFixed(2)})`);
  t.ok((v.max_arrival_gap_us ?? 1e9) < 250_000, `no stall during the gap (max ${(v.max_arrival_gap_us ?? 0) / 1000} ms)`);
  const stats = messagesNamed(r, 'ditto-stats');
  const last = stats[stats.length - 1] ?? {};
  t.ok(Number(last['silence-frames']) >= 25, `the gap was animated from silence (${last['silence-frames']} frames)`);
  t.equal(r.element_latency?.live, true, 'live latency');
  // (current+future)*40 + 40 ms input allowance + 40 ms compute allowance, appsrc adds nothing
  t.equal(r.element_latency?.min_ns, 7 * FRAME_NS + 2 * FRAME_NS, 'latency = lookahead + allowances');
  // frames in the gap carry silence, frames after it carry the late audio
  const sizes = a.sizes ?? [];
  t.ok(sizes.slice(0, -1).every((s) => s === 1280), 'full 640-sample audio buffers');
});

t.test('a live upstream adds its latency; pure silence is animated at 25 fps', async (t) => {
  const r = await probe(
    `audiotestsrc is-live=true wave=silence samplesperbuffer=640 num-buffers=50 ! audio/x-raw,rate=16000,channels=1,format=F32LE ! ` +
      `${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25, 'chunk-config': '2,4,1', 'post-stats': 'true' })} ${SINKS}`,
    { timeoutS: 15 },
  );
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  t.ok(r.video.count >= 50 && r.video.count <= 52, `2 s of input gives about 50 frames (${r.video.count})`);
  t.same(r.video.pts, r.audio.pts, 'A/V share PTS');
  t.equal(r.element_latency?.live, true, 'live');
  // lookahead (4+1)*40 + input allowance (40 + upstream 40) + compute 40
  t.equal(r.element_latency?.min_ns, 5 * FRAME_NS + 3 * FRAME_NS, 'upstream latency included');
  t.match(r.audio.caps, /F32LE/, 'F32LE passes through');
  const stats = messagesNamed(r, 'ditto-stats');
  t.equal(Number(stats[stats.length - 1]?.['frames-late'] ?? -1), 0, 'no late frames at 128x128');
});

t.test("a slow backend's compute time is budgeted: latency grows, is announced, and frames stay on time", async (t) => {
  const raw = join(tmp.dir, 'speech3.s16');
  const src = existsSync(SPEECH_WAV) ? [SPEECH_WAV] : ['-n', '-r', '16000', '-c', '1'];
  await sox([...src, '-t', 'raw', '-r', '16000', '-c', '1', '-e', 'signed', '-b', '16', raw, ...(existsSync(SPEECH_WAV) ? [] : ['synth']), 'trim', '0', '3']);
  // backend=slow (test plugin): the builtin animator behind 150 ms of compute per chunk, reported through
  // compute_latency once the first chunk went through; the element's allowance alone is 40 ms.
  const r = await probe(`${APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25, backend: 'slow', 'post-stats': 'true' })} ${SINKS}`, {
    feed: raw,
    timeoutS: 20,
    maxList: 0,
    env: testPluginEnv({ DITTO_TEST_COMPUTE_MS: '150' }),
  });
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  t.equal(r.element_latency?.min_ns, 9 * FRAME_NS, 'before the backend has measured itself: the configured latency');
  t.equal(r.final_element_latency?.min_ns, 9 * FRAME_NS + 150_000_000, 'then the compute time is part of the latency');
  t.ok(r.latency_messages >= 1, `the growth was announced (${r.latency_messages} latency messages)`);
  const stats = messagesNamed(r, 'ditto-stats');
  const late = Number(stats[stats.length - 1]?.['frames-late'] ?? -1);
  // Only the first chunk, fed before the backend had measured itself, can miss its slots; without the budget
  // three of every five frames miss theirs.
  t.ok(late >= 0 && late <= r.video.count / 4, `frames on time (${late} of ${r.video.count} late)`);
  // the slots before the very first frame are GAP events on the video pad
  t.equal(r.video.count + r.video.gaps, r.audio.count, 'a frame or a gap for every audio buffer');
});
