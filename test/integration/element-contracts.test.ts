/**
 * dittotalkinghead and GStreamer's rules (issue 9): lock order, renegotiation, queries without side effects,
 * action signals, opt-in messages. Each case failed before its fix unless it says otherwise.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  FAKE_SINKS,
  PORTRAIT,
  SPEECH_WAV,
  dittoElement,
  messagesNamed,
  probe,
  requirePlugin,
  sox,
  speechSrc,
  tempDir,
} from '../helpers/gst-probe.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

const LIVE_SINKS = 'd.video ! fakesink name=vsink sync=true d.audio ! fakesink name=asink sync=true';
const LIVE_APPSRC =
  'appsrc name=src is-live=true format=time caps=audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved';

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

t.test('a downstream switch to RGB while playing gets converted, fully written frames', async (t) => {
  // (not reproduced before the fix on GStreamer 1.22: the video meta was not carried over there; the
  // conversion now copies only flags and timestamps and fails loudly if a frame cannot be mapped)
  const r = await probe(
    `${speechSrc(SPEECH_WAV)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.25, 'chunk-sleep': 0.02 })} ` +
      'd.video ! capsfilter name=cf caps=video/x-raw,format=I420 ! fakesink name=vsink d.audio ! fakesink name=asink',
    { set: ['0.5:cf:caps=video/x-raw,format=RGB'], region: [32, 32, 64, 64], timeoutS: 30 },
  );
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'EOS');
  const sizes = r.video.sizes ?? [];
  const rgb = sizes.filter((s) => s === 128 * 128 * 3).length;
  t.ok(rgb > 10 && sizes[0] === (128 * 128 * 3) / 2, `starts I420, then RGB frames (${rgb})`);
  t.equal(r.video.bad_meta, 0, 'no buffer carries a video meta that disagrees with its caps');
  t.equal(r.video.bad_map, 0, 'every buffer holds a whole frame');
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
