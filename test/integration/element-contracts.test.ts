/**
 * dittotalkinghead and GStreamer's rules (issue 9): lock order, renegotiation, queries without side effects,
 * action signals, opt-in messages. Each case failed before its fix unless it says otherwise.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  FAKE_SINKS,
  LIVE_FAKE_SINKS,
  LIVE_S16_APPSRC,
  PORTRAIT,
  S16_APPSRC,
  SPEECH_WAV,
  dittoElement,
  messagesNamed,
  probe,
  requirePlugin,
  sox,
  speechSrc,
  tempDir,
  testPluginEnv,
} from '../helpers/gst-probe.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

const LIVE_SINKS = LIVE_FAKE_SINKS;
const LIVE_APPSRC = LIVE_S16_APPSRC;

async function speechRaw(seconds: number): Promise<string> {
  const raw = join(tmp.dir, `speech-${seconds}.s16`);
  if (existsSync(raw)) return raw;
  const src = existsSync(SPEECH_WAV) ? [SPEECH_WAV] : ['-n', '-r', '16000', '-c', '1'];
  await sox([...src, '-t', 'raw', '-r', '16000', '-c', '1', '-e', 'signed', '-b', '16', raw, ...(existsSync(SPEECH_WAV) ? [] : ['synth']), 'trim', '0', String(seconds)]);
  return raw;
}

t.test('changing chunk-sleep while the feed path runs never deadlocks', async (t) => {
  // The setter used to hold the object lock while taking the element lock, and the feed path the other way
  // round; a thread setting chunk-sleep as fast as it can hung this pipeline in two of three runs.
  for (let i = 0; i < 4; i++) {
    const r = await probe(
      `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'chunk-config': '1,3,1' })} ${FAKE_SINKS}`,
      { toggle: 'd:chunk-sleep=0.004,0.002', timeoutS: 20, maxList: 0 },
    );
    t.notOk(r.timed_out, `run ${i + 1}: finished`);
    t.ok(r.eos, `run ${i + 1}: EOS`);
    t.equal(r.video.count, r.audio.count, `run ${i + 1}: every frame out`);
  }
});

t.test('a downstream switch to RGB while playing: ALLOCATION query, pooled and fully written frames', async (t) => {
  // (not reproduced before the fix on GStreamer 1.22: the video meta was not carried over there; the
  // conversion now copies only flags and timestamps and fails loudly if a frame cannot be mapped)
  const r = await probe(
    // ~3 s of output at 50 ms per chunk; the switch comes after 1.2 s
    `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'chunk-sleep': 0.05 })} ` +
      'd.video ! capsfilter name=cf caps=video/x-raw,format=I420 ! fakesink name=vsink d.audio ! fakesink name=asink',
    { set: ['1.2:cf:caps=video/x-raw,format=RGB'], region: [32, 32, 64, 64], timeoutS: 30 },
  );
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  const sizes = r.video.sizes ?? [];
  const rgb = sizes.filter((s) => s === 128 * 128 * 3).length;
  t.ok(rgb > 10 && sizes[0] === (128 * 128 * 3) / 2, `starts I420, then RGB frames (${rgb})`);
  t.equal(r.video.bad_meta, 0, 'no buffer carries a video meta that disagrees with its caps');
  t.equal(r.video.bad_map, 0, 'every buffer holds a whole frame');
  // before: no ALLOCATION query, each converted frame allocated on its own
  t.ok(r.video.allocation_queries >= 1, `downstream was asked how to allocate (${r.video.allocation_queries})`);
  t.equal(r.video.pooled, rgb, 'converted frames come from a buffer pool');
  const diffs = (r.video.region_diff ?? []).slice(-rgb);
  // the RGB frames' luma against the first I420 frame: only the mouth moves, and the range differs a little
  t.ok(diffs.every((d) => d >= 0 && d < 25), `converted frames show the face (max diff ${Math.max(...diffs).toFixed(1)})`);
});

t.test('an ACCEPT_CAPS query only answers: no message on the bus', async (t) => {
  const r = await probe(`${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25 })} ${FAKE_SINKS}`, {
    acceptCaps: 'audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved',
    maxList: 0,
  });
  t.equal(r.accept_caps, false, '44.1 kHz stereo is refused');
  t.same(r.warnings, [], 'no warning posted for a query');
  t.ok(r.eos, 'the pipeline still runs');
});

t.test('interrupt is an action signal; the property form keeps working', async (t) => {
  const raw = await speechRaw(2.4);
  const r = await probe(`${LIVE_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25 })} ${LIVE_SINKS}`, {
    feed: raw,
    emit: ['0.8:d:interrupt'],
    set: ['1.6:d:interrupt=true'],
    timeoutS: 20,
    maxList: 0,
  });
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  t.equal(messagesNamed(r, 'ditto-interrupt').length, 2, 'one ditto-interrupt per signal and per property write');
});

t.test('interrupts racing the end of the stream and the teardown are safe', async (t) => {
  // A thread interrupts all along, through EOS and the state change to NULL that closes the backend.
  const raw = await speechRaw(1.2);
  const r = await probe(`${LIVE_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25 })} ${LIVE_SINKS}`, {
    feed: raw,
    toggle: 'd:interrupt=true,true',
    timeoutS: 20,
    maxList: 0,
  });
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  t.notOk(r.timed_out, 'no hang');
  t.ok(r.audio.count > 0 && r.audio.count === r.video.count + r.video.gaps, 'A/V lockstep under interrupts');
});

t.test('ditto-stats are opt-in (post-stats)', async (t) => {
  const off = await probe(`${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25 })} ${FAKE_SINKS}`, { maxList: 0 });
  t.ok(off.eos, 'EOS');
  t.equal(messagesNamed(off, 'ditto-stats').length, 0, 'none by default');
  t.equal(messagesNamed(off, 'ditto-eos').length, 1, 'the end-of-animation message stays');
  const on = await probe(
    `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'post-stats': 'true' })} ${FAKE_SINKS}`,
    { maxList: 0 },
  );
  const stats = messagesNamed(on, 'ditto-stats');
  t.ok(stats.length >= 1, 'posted with post-stats=true');
  t.equal(stats[stats.length - 1]?.['frames-out'], on.video.count, 'the last one counts every frame');
});

t.test('offline: a gap in the input timestamps becomes silent frames, keeping A/V on the input timeline', async (t) => {
  const raw = await speechRaw(3);
  // the timestamps jump by 0.5 s after 1 s of audio (a muted source): 3.5 s of timeline
  const r = await probe(`${S16_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25 })} ${FAKE_SINKS}`, {
    feed: raw,
    feedFast: true,
    feedPts: true,
    feedGap: [1.0, 0.5],
    timeoutS: 20,
  });
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  t.equal(r.video.count, 88, '3.5 s of frames');
  t.equal(r.audio.count, 88, 'and of audio');
  t.equal(r.audio.last_end, 3_500_000_000, 'the audio ends 0.5 s later than its samples alone would');
});

t.test('live: timed input is placed by running time, so a stall does not add to the latency for good', async (t) => {
  const raw = await speechRaw(3);
  const el = dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25, 'post-stats': 'true' });
  // no pushes from 1.0 s to 2.0 s, then that second at once (a network stall behind a jitter buffer)
  const timed = await probe(`${LIVE_APPSRC} ! ${el} ${LIVE_SINKS}`, { feed: raw, feedPts: true, feedStall: [1.0, 1.0], timeoutS: 20, maxList: 0 });
  t.same(timed.errors, [], 'no errors');
  t.ok(timed.eos, 'EOS');
  const stats = messagesNamed(timed, 'ditto-stats');
  const dropped = Number(stats[stats.length - 1]?.['late-samples'] ?? 0);
  // before: arrival order, the stall's silence plus all of the backlog: ~97 frames and 1 s more latency
  t.ok(timed.video.count <= 75 + 8, `the stream ends on time (${timed.video.count} frames for 3 s of audio)`);
  t.ok(dropped > 8000, `the audio whose slot passed during the stall was dropped (${dropped} samples)`);
  // untimed input (and do-timestamp bursts) keep arrival order: nothing is dropped, it plays later
  const untimed = await probe(`${LIVE_APPSRC} ! ${el} ${LIVE_SINKS}`, { feed: raw, feedStall: [1.0, 1.0], timeoutS: 20, maxList: 0 });
  t.ok(untimed.eos, 'untimed: EOS');
  t.ok(untimed.video.count >= 75 + 15, `untimed input all plays, in arrival order (${untimed.video.count} frames)`);
});

t.test('a serialized event stays behind the audio that came before it, on both pads, in both modes', async (t) => {
  const raw = await speechRaw(3);
  for (const [mode, pipeline, fast] of [
    ['offline', `${S16_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25 })} ${FAKE_SINKS}`, true],
    ['live', `${LIVE_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25 })} ${LIVE_SINKS}`, false],
  ] as const) {
    // a custom event after 1 s of audio: it belongs after frame 24 (before: after frame 19 offline, 15 live,
    // overtaking what was still in the chunker's lookahead and the backend)
    const r = await probe(pipeline, { feed: raw, feedFast: fast, eventAtS: 1.0, timeoutS: 20, maxList: 0 });
    t.ok(r.eos, `${mode}: EOS`);
    if (mode === 'offline') t.equal(r.audio.marker_at, 25, `${mode}: audio pad: right after the 25 buffers of that second`);
    // live: later if the feed was held up on a loaded machine (the silence padded meanwhile comes first)
    else t.ok(r.audio.marker_at >= 25, `${mode}: audio pad: after the 25 buffers of that second (${r.audio.marker_at})`);
    // live mode may send GAP events instead of the very first frames on a loaded machine
    t.ok(r.video.marker_at >= 25 - r.video.gaps && r.video.marker_at <= r.audio.marker_at, `${mode}: video pad too (${r.video.marker_at})`);
  }
});

t.test("after a flushing seek the output carries the seek's position and seqnum", async (t) => {
  // before: both pads restarted at 0 on a default segment of their own
  const r = await probe(
    `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'chunk-sleep': 0.05 })} ${FAKE_SINKS}`,
    { seekS: 5, timeoutS: 30, maxList: 0 },
  );
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  for (const [name, pad] of [['video', r.video], ['audio', r.audio]] as const) {
    t.equal(pad.segment_start, 5_000_000_000, `${name}: the segment starts at the seek position`);
    t.ok(pad.segment_is_seek, `${name}: with the seek's seqnum`);
    t.equal(pad.segment_first_pts, 5_000_000_000, `${name}: the first buffer after it is at 5 s`);
  }
  t.equal(r.video.last_pts, r.audio.last_pts, 'A/V still in lockstep');
});

t.test('live: a stalled branch loses its oldest frames, with QoS, and the other branch goes on', async (t) => {
  const raw = await speechRaw(3);
  // the video branch takes 100 ms per frame (10 fps of 25): before, its queue grew without bound and the
  // video ran 5 s behind the audio by the end
  const r = await probe(
    `${LIVE_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25, 'post-stats': 'true' })} ` +
      'd.video ! identity sleep-time=100000 ! fakesink name=vsink sync=false d.audio ! fakesink name=asink sync=true',
    { feed: raw, timeoutS: 30, maxList: 0 },
  );
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  // 75 buffers for 3 s of audio, more if the feed itself was held up on a loaded machine (silence padding)
  t.ok(r.audio.count >= 75, `every audio buffer (${r.audio.count})`);
  const stats = messagesNamed(r, 'ditto-stats');
  const dropped = Number(stats[stats.length - 1]?.['frames-dropped'] ?? -1);
  t.ok(dropped > 0 && r.video.count + r.video.gaps + dropped === r.audio.count, `video frames dropped (${dropped}), the rest delivered (${r.video.count})`);
  t.ok(r.qos_messages >= 1, `QoS posted (${r.qos_messages})`);
  t.equal(r.video.last_pts, r.audio.last_pts, 'the newest frames are the ones kept');
});

t.test('after an error, EOS still goes out on both pads (as GStreamer sources do)', async (t) => {
  // zero-length offline input: an error, then EOS, as the element documents; before, the src tasks stopped
  // at the error and downstream (a muxer) never got its EOS
  const r = await probe(
    `audiotestsrc num-buffers=0 ! audio/x-raw,rate=16000,channels=1 ! ${dittoElement({ 'source-image': PORTRAIT })} d.video ! fakesink name=vsink d.audio ! fakesink name=asink`,
    { continueAfterError: true, timeoutS: 5 },
  );
  t.match(r.errors, [{ message: /No audio/ }], 'the error');
  t.ok(r.video.eos, 'video: EOS reached the sink');
  t.ok(r.audio.eos, 'audio: EOS reached the sink');
  t.equal(messagesNamed(r, 'ditto-eos').length, 0, 'no ditto-eos claims the animation ended well');
});

t.test('chunk sizes as typed properties; the chunk-config string still works', async (t) => {
  const typed = await probe(
    `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'chunk-past': 2, 'chunk-current': 4, 'chunk-future': 1 })} ${FAKE_SINKS}`,
    { maxList: 0 },
  );
  t.ok(typed.eos, 'typed: EOS');
  t.equal(typed.element_latency?.min_ns, (4 + 1) * 40_000_000, 'typed: (current + future) frames of latency');
  const str = await probe(
    `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'chunk-config': '2,4,1' })} ${FAKE_SINKS}`,
    { maxList: 0 },
  );
  t.equal(str.element_latency?.min_ns, (4 + 1) * 40_000_000, 'string: the same');
  const bad = await probe(
    `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'chunk-past': 1, 'chunk-current': 1, 'chunk-future': 1 })} ${FAKE_SINKS}`,
    { maxList: 0 },
  );
  t.match(bad.errors, [{ message: /must be 5\.\.20/ }], 'a sum out of range is a clear error at start');
});

t.test('output caps come from the frames rendered, not from the size predicted for them', async (t) => {
  // backend=resized (test plugin): the builtin animator at 200x120 where the element asks for 128x128, as a
  // model with its own resolution renders. Before: caps of 128x128 over frames of 200x120.
  const env = testPluginEnv({ DITTO_TEST_RENDER_SIZE: '200x120' });
  const element = dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, backend: 'resized' });
  const free = await probe(`${speechSrc(SPEECH_WAV)} ! ${element} ${FAKE_SINKS}`, { env, timeoutS: 60 });
  t.same(free.errors, [], 'no errors');
  t.ok(free.eos && free.video.count > 25, `EOS after ${free.video.count} frames`);
  t.match(free.video.caps, /width=\(int\)200, height=\(int\)120/, 'caps at the rendered size');
  t.equal(free.video.bad_meta, 0, 'every frame matches its caps');
  t.equal(free.video.bad_map, 0, 'every buffer holds a whole frame');
  t.ok((free.video.sizes ?? []).every((n) => n === (200 * 120 * 3) / 2), 'I420 frames of 200x120, passed through');
  // downstream that takes only the size asked for: frames are scaled to it, from a pool
  const fixed = await probe(
    `${speechSrc(SPEECH_WAV)} ! ${element} d.video ! video/x-raw,width=128,height=128 ! fakesink name=vsink d.audio ! fakesink name=asink`,
    { env, timeoutS: 60 },
  );
  t.same(fixed.errors, [], 'refused size: no errors');
  t.equal(fixed.video.count, free.video.count, 'refused size: every frame');
  t.match(fixed.video.caps, /width=\(int\)128, height=\(int\)128/, 'refused size: caps downstream takes');
  t.equal(fixed.video.bad_meta + fixed.video.bad_map, 0, 'refused size: frames match the caps');
  t.ok((fixed.video.sizes ?? []).every((n) => n === (128 * 128 * 3) / 2), 'refused size: scaled to 128x128');
  t.equal(fixed.video.pooled, fixed.video.count, 'refused size: scaled frames come from a buffer pool');
});

t.test('face-box is a typed array of four ints; <> detects', async (t) => {
  // (before: a string "x,y,w,h" parsed by the element, which gst-launch and applications could not type-check)
  const tone = 'audiotestsrc num-buffers=5 ! audio/x-raw,rate=16000,channels=1';
  const box = await probe(`${tone} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'face-box': '<120,80,200,200>' })} ${FAKE_SINKS}`, { maxList: 0 });
  t.same(box.errors, [], 'no errors');
  t.match(messagesNamed(box, 'ditto-face'), [{ source: 'override', x: 120, y: 80, width: 200, height: 200 }], 'the box replaces detection');
  const auto = await probe(`${tone} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'face-box': '<>' })} ${FAKE_SINKS}`, { maxList: 0 });
  t.match(messagesNamed(auto, 'ditto-face'), [{ source: /^(detected|fallback)$/ }], 'the empty array: detection');
});

t.test('a GAP event becomes silent frames in both modes', async (t) => {
  const raw = await speechRaw(3);
  // 1 s of audio, a GAP event of 0.5 s, the other 2 s (timestamps after the gap); before, the gap was ignored
  // and the output was 3 s long
  const offline = await probe(`${S16_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25 })} ${FAKE_SINKS}`, {
    feed: raw,
    feedFast: true,
    feedGapEvent: [1.0, 0.5],
    timeoutS: 20,
  });
  t.ok(offline.eos, 'offline: EOS');
  t.equal(offline.video.count, 88, 'offline: 3.5 s of frames');
  t.equal(offline.audio.last_end, 3_500_000_000, 'offline: audio to 3.5 s');
  const live = await probe(`${LIVE_APPSRC} ! ${dittoElement({ 'source-image': PORTRAIT, mode: 'live', 'frame-scale': 0.25 })} ${LIVE_SINKS}`, {
    feed: raw,
    feedGapEvent: [1.0, 0.5],
    timeoutS: 20,
    maxList: 0,
  });
  t.ok(live.eos, 'live: EOS');
  // (more if the feed was held up on a loaded machine: starvation is padded with silence too)
  t.ok(live.video.count >= 86 && live.video.count <= 95, `live: about 3.5 s of frames (${live.video.count})`);
});
