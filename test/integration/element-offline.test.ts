/**
 * dittotalkinghead in offline mode, through real pipelines against build/plugin: frame count, timestamps,
 * durations, audio passthrough, A/V alignment, mouth motion, latency, and the MP4 pipeline.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  FAKE_SINKS,
  FRAME_NS,
  PORTRAIT,
  SAMPLES_PER_FRAME,
  SPEECH_WAV,
  dittoElement,
  gstLaunch,
  messagesNamed,
  mouthRegion,
  probe,
  requirePlugin,
  sox,
  speechSrc,
  tempDir,
  type PadReport,
} from '../helpers/gst-probe.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

/** Samples in a 16-bit mono WAV (header-size independent: the data chunk is found). */
function wavSamples(path: string): number {
  const b = readFileSync(path);
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'data') return Math.min(size, b.length - off - 8) / 2;
    off += 8 + size + (size & 1);
  }
  throw new Error(`no data chunk in ${path}`);
}

function checkFrameLocked(t: Test, v: PadReport, a: PadReport, frames: number, samples: number, bytesPerSample: number) {
  t.equal(v.count, frames, `video frames = ceil(${samples}/640)`);
  t.equal(a.count, frames, 'one audio buffer per frame');
  t.ok(v.eos && a.eos, 'EOS on both pads');
  const vp = v.pts ?? [];
  const ap = a.pts ?? [];
  t.same(vp, ap, 'video and audio carry the same PTS per frame');
  t.ok(
    vp.every((p, k) => p === Math.round((k * 1e9) / 25)),
    'PTS of frame k is exactly k*40ms',
  );
  t.ok((v.durations ?? []).every((d) => d === FRAME_NS), 'video durations are 40 ms');
  const sizes = a.sizes ?? [];
  t.ok(
    sizes.slice(0, -1).every((s) => s === SAMPLES_PER_FRAME * bytesPerSample),
    'audio buffers hold exactly 640 samples',
  );
  t.equal(a.bytes, samples * bytesPerSample, 'every input sample comes out once');
  const lastSamples = samples - (frames - 1) * SAMPLES_PER_FRAME;
  t.equal(sizes[sizes.length - 1], lastSamples * bytesPerSample, 'the last audio buffer holds the remainder');
}

t.test('speech.wav: frame count, timestamps, audio passthrough', async (t) => {
  const wav = existsSync(SPEECH_WAV) ? SPEECH_WAV : join(tmp.dir, 'tone.wav');
  if (wav !== SPEECH_WAV) await sox(['-n', '-r', '16000', '-c', '1', '-b', '16', wav, 'synth', '3.3', 'sine', '300']);
  const samples = wavSamples(wav);
  const frames = Math.ceil(samples / SAMPLES_PER_FRAME);
  const r = await probe(`${speechSrc(wav)},format=S16LE ! ${dittoElement({ 'source-image': PORTRAIT, 'post-stats': 'true' })} ${FAKE_SINKS}`);
  t.same(r.errors, [], 'no errors');
  t.ok(r.eos, 'reaches EOS');
  checkFrameLocked(t, r.video, r.audio, frames, samples, 2);
  t.match(r.video.caps, /format=\(string\)I420/, 'I420 by default');
  t.match(r.video.caps, /width=\(int\)512, height=\(int\)512/, 'source size at frame-scale 1');
  t.match(r.audio.caps, /format=\(string\)S16LE/, 'audio passes through in the input format');
  const face = messagesNamed(r, 'ditto-face');
  t.equal(face.length, 1, 'one ditto-face message');
  const stats = messagesNamed(r, 'ditto-stats');
  t.ok(stats.length >= 1, 'ditto-stats posted');
  t.equal(stats[stats.length - 1]?.['frames-out'], frames, 'last ditto-stats counts every frame');
  t.equal(r.element_latency?.live, false, 'offline: not live');
  t.equal(r.element_latency?.min_ns, 7 * FRAME_NS, 'latency = (current+future)*40ms with 3,5,2');
});

t.test('F32LE input, odd length, other chunk configs and frame-scale', async (t) => {
  const wav = join(tmp.dir, 'odd.wav');
  // 1.013 s: not a whole number of frames
  await sox(['-n', '-r', '16000', '-c', '1', '-b', '16', wav, 'synth', '1.013', 'sine', '220']);
  const samples = wavSamples(wav);
  const frames = Math.ceil(samples / SAMPLES_PER_FRAME);
  for (const cfg of ['3,5,2', '1,1,3', '10,5,5']) {
    const r = await probe(
      `${speechSrc(wav)},format=F32LE ! ${dittoElement({ 'source-image': PORTRAIT, 'chunk-config': cfg, 'frame-scale': 0.33 })} ${FAKE_SINKS}`,
    );
    t.same(r.errors, [], `${cfg}: no errors`);
    checkFrameLocked(t, r.video, r.audio, frames, samples, 4);
    t.match(r.video.caps, /width=\(int\)168, height=\(int\)168/, `${cfg}: 512*0.33 = 168.96 rounds to the nearest even 168`);
    t.match(r.audio.caps, /F32LE/, `${cfg}: F32LE out`);
    const [p, c, f] = cfg.split(',').map(Number) as [number, number, number];
    void p;
    t.equal(r.element_latency?.min_ns, (c + f) * FRAME_NS, `${cfg}: latency follows the lookahead`);
  }
});

t.test('the mouth moves with speech and stays still in silence', { skip: existsSync(SPEECH_WAV) ? false : 'src/server/demo/media/speech.wav missing' }, async (t) => {
  // 1.5 s silence, 2.5 s of speech, 1.5 s silence
  const src = SPEECH_WAV;
  const wav = join(tmp.dir, 'sss.wav');
  await sox([src, '-r', '16000', '-c', '1', wav, 'trim', '0', '2.5', 'pad', '1.5', '1.5']);
  // first find the face, then measure its mouth
  const first = await probe(`${speechSrc(wav)} ! ${dittoElement({ 'source-image': PORTRAIT })} ${FAKE_SINKS}`, { maxList: 0 });
  const face = messagesNamed(first, 'ditto-face')[0];
  t.ok(face && typeof face['x'] === 'number', `face box reported: ${JSON.stringify(face)}`);
  if (!face || typeof face['x'] !== 'number') return;
  const region = mouthRegion(face as { x: number; y: number; width: number; height: number });
  const r = await probe(`${speechSrc(wav)} ! ${dittoElement({ 'source-image': PORTRAIT })} ${FAKE_SINKS}`, { region });
  const step = r.video.region_step ?? [];
  const diff = r.video.region_diff ?? [];
  t.equal(step.length, 138, 'one measurement per frame');
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const leading = step.slice(2, 32); // silence, before any lookahead reaches speech
  const speech = step.slice(40, 95);
  const trailing = step.slice(110); // after the mouth has closed again
  t.comment(`mouth step: leading ${mean(leading).toFixed(2)}, speech ${mean(speech).toFixed(2)}, trailing ${mean(trailing).toFixed(2)}`);
  t.ok(Math.max(...leading) < 1.5, 'silence before speech: the mouth region barely changes frame to frame');
  t.ok(Math.max(...diff.slice(0, 32)) < 6, 'silence before speech: the mouth stays as in frame 0');
  t.ok(mean(speech) > 2.5, 'speech: the mouth region changes frame to frame');
  t.ok(mean(speech) > 4 * mean(leading), 'speech moves the mouth far more than silence');
  t.ok(Math.max(...diff.slice(40, 95)) > 10, 'speech: the mouth opens visibly');
  t.ok(mean(trailing) < mean(speech) / 2, 'silence after speech: the mouth settles');
});

t.test('the issue pipeline without queues yields an MP4 with matching durations', async (t) => {
  const wav = existsSync(SPEECH_WAV) ? SPEECH_WAV : join(tmp.dir, 'tone.wav');
  if (!existsSync(wav)) await sox(['-n', '-r', '16000', '-c', '1', '-b', '16', wav, 'synth', '3.3', 'sine', '300']);
  const aac = (await gstLaunch('fakesrc num-buffers=0 ! voaacenc ! fakesink', 10)).code === 0 ? 'voaacenc' : 'avenc_aac';
  const out = join(tmp.dir, 'out.mp4');
  const r = await gstLaunch(
    `${speechSrc(wav)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.5 })} ` +
      `d.video ! videoconvert ! x264enc ! mp4mux name=m ! filesink location=${out} d.audio ! audioconvert ! ${aac} ! m.`,
    50,
  );
  t.equal(r.signal, null, 'no hang');
  t.equal(r.code, 0, `gst-launch succeeds ${r.stderr.slice(-400)}`);
  t.ok(existsSync(out) && statSync(out).size > 1000, 'MP4 written');
  const d = await probe(
    `filesrc location=${out} ! qtdemux name=q q.video_0 ! queue ! fakesink name=vsink q.audio_0 ! queue ! fakesink name=asink`,
    { maxList: 0 },
  );
  t.same(d.errors, [], 'MP4 demuxes');
  const inputNs = (wavSamples(wav) / 16000) * 1e9;
  t.equal(d.video.count, Math.ceil(wavSamples(wav) / SAMPLES_PER_FRAME), 'every frame is in the MP4');
  t.ok(Math.abs(d.video.total_duration_ns - d.audio.total_duration_ns) < FRAME_NS, 'video and audio durations match within a frame');
  t.ok(Math.abs(d.video.total_duration_ns - inputNs) < FRAME_NS, 'video duration matches the input within a frame');
  t.ok(Math.abs(d.audio.total_duration_ns - inputNs) < 2 * FRAME_NS, 'audio duration matches the input (AAC framing)');
});

t.test('an hour of input: no drift (silence at a tiny frame size)', async (t) => {
  const wav = join(tmp.dir, 'long.wav');
  await sox(['-n', '-r', '16000', '-c', '1', '-b', '16', wav, 'trim', '0', '3600.01']);
  const samples = wavSamples(wav);
  const frames = Math.ceil(samples / SAMPLES_PER_FRAME);
  const r = await probe(
    `${speechSrc(wav)} ! ${dittoElement({ 'source-image': PORTRAIT, 'frame-scale': 0.1 })} ${FAKE_SINKS}`,
    { maxList: 0, timeoutS: 50 },
  );
  t.same(r.errors, [], 'no errors');
  t.equal(r.video.count, frames, 'frame count');
  t.equal(r.audio.count, frames, 'audio buffer count');
  t.equal(r.video.last_pts, Math.round(((frames - 1) * 1e9) / 25), 'last PTS exactly (frames-1)*40ms');
  t.equal(r.audio.last_pts, r.video.last_pts, 'audio and video end together');
  t.equal(r.video.min_pts_delta, FRAME_NS, 'no short step');
  t.equal(r.video.max_pts_delta, FRAME_NS, 'no long step');
  t.equal(r.audio.bytes, samples * 2, 'every sample passes through');
});
