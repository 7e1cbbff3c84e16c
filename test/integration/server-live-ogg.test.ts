import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { OggOpusReader, opusPacketSamples } from '../../src/live-audio/ogg-opus.js';
import { ChromiumBrowser, chromiumAvailable } from '../helpers/chromium.js';
import { ROOT, testServer } from '../helpers/server-app.js';
import { wavS16Mono16k } from '../helpers/media-files.js';

/**
 * Ogg/Opus chunks on the live-audio socket, as a TTS front end sends them: each utterance its own Ogg stream
 * (chained), pages split across messages at any byte. Real Ogg files are made at test time with
 * opusenc ! oggmux from pieces of the shipped speech; the graph's opusdec decodes them into the element.
 */

const dir = mkdtempSync(join(tmpdir(), 'ditto-ogg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const SPEECH = readFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav')); // 16 kHz mono S16, 44-byte header
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `seconds` of the speech from `fromS`, encoded with `encoder` (an Ogg/Opus stream by default). */
function utterance(name: string, fromS: number, seconds: number, encoder = 'opusenc ! oggmux', channels = 1): Buffer {
  const src = join(dir, `${name}.wav`);
  const out = join(dir, name);
  writeFileSync(src, wavS16Mono16k(SPEECH.subarray(44 + fromS * 32000, 44 + (fromS + seconds) * 32000)));
  const launch = `filesrc location=${src} ! wavparse ! audioconvert ! audioresample ! audio/x-raw,channels=${channels} ! ${encoder} ! filesink location=${out}`;
  execFileSync('gst-launch-1.0', ['-q', ...launch.split(' ')], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
  return readFileSync(out);
}

t.test('Ogg/Opus reader: chained streams, pages across messages, refusals', async (t) => {
  const a = utterance('a.ogg', 0, 2);
  const b = utterance('b.ogg', 2, 3, 'opusenc ! oggmux', 2);
  const reader = new OggOpusReader();
  const first = reader.read(a);
  t.equal(first.channels, 1);
  t.ok(Math.abs(first.durationS - 2) < 0.05, `first utterance ${first.durationS} s`);
  t.ok(first.packets.every((p) => opusPacketSamples(p) !== null), 'only audio packets, no OpusHead/OpusTags');
  // The second utterance cut at odd places: inside the first page header, inside later pages.
  const cuts = [13, 200, Math.floor(b.length / 2), b.length - 7];
  let samples = 0;
  let from = 0;
  for (const cut of [...cuts, b.length]) {
    const part = reader.read(b.subarray(from, cut));
    if (part.packets.length) t.equal(part.channels, 2);
    samples += part.durationS;
    from = cut;
  }
  t.ok(Math.abs(samples - 3) < 0.05, `second (stereo) utterance ${samples} s across ${cuts.length + 1} messages`);
  t.notOk(reader.midPage);

  const damaged = Buffer.from(a);
  damaged.writeUInt8(damaged.readUInt8(damaged.length - 100) ^ 0x55, damaged.length - 100);
  t.throws(() => new OggOpusReader().read(damaged), { code: 'LIVE_AUDIO_INVALID', message: /checksum/ });
  const vorbis = utterance('v.ogg', 0, 1, 'vorbisenc ! oggmux');
  t.throws(() => new OggOpusReader().read(vorbis), { code: 'LIVE_AUDIO_INVALID', message: /Vorbis; only Ogg\/Opus/ });
  // Audio pages without the stream's first page.
  const headless = a.subarray(a.indexOf('OggS', 200, 'latin1'));
  t.throws(() => new OggOpusReader().read(headless.subarray(headless.indexOf('OggS', 4, 'latin1'))), { code: 'LIVE_AUDIO_INVALID' });
});

t.test('push session: Ogg/Opus utterances drive the face', { skip: !chromiumAvailable() && 'no Chromium' }, async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const browser = await ChromiumBrowser.launch();
  t.teardown(() => browser.close());
  const rx = await browser.newReceiver();
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: await rx.createOffer(), type: 'offer', source_path: 'portrait.jpg', audio_source: 'push' } });
  t.equal(r.statusCode, 200);
  await rx.acceptAnswer(r.json().sdp);
  await rx.waitFor((st) => (st.video?.framesDecoded ?? 0) > 5, { timeoutMs: 15000 });
  const id = r.json().session_id as string;
  const snapshot = async () => (await s.app.inject({ method: 'GET', url: `/webrtc/sessions/${id}` })).json();
  const address = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const ws = new WebSocket(`${address.replace('http', 'ws')}/webrtc/sessions/${id}/audio`, ['ditto-gst', `ditto-token.${r.json().session_token}`]);
  t.teardown(() => ws.close());
  const replies: Record<string, unknown>[] = [];
  ws.on('message', (d: Buffer) => replies.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const reply = async () => {
    const n = replies.length;
    for (let i = 0; i < 100 && replies.length === n; i++) await sleep(50);
    return replies[n]!;
  };

  // Two utterances back to back, each its own Ogg stream; the second in two messages split mid-page.
  const one = utterance('one.ogg', 0, 3);
  const two = utterance('two.ogg', 3, 3, 'opusenc ! oggmux', 2);
  ws.send(one);
  t.match(await reply(), { type: 'queued' });
  ws.send(two.subarray(0, 1000));
  const r1 = await reply();
  ws.send(two.subarray(1000));
  const r2 = await reply();
  t.ok(Math.abs((r1['duration_s'] as number) + (r2['duration_s'] as number) - 3) < 0.05, 'the split utterance counts 3 s');
  await sleep(1500);
  const a = await snapshot();
  await sleep(3000);
  const b = await snapshot();
  const frames = b.frames_out - a.frames_out;
  const silent = b.silence_frames - a.silence_frames;
  t.ok(frames >= 40, `the stream flows (${frames} frames)`);
  t.ok(silent <= 5, `decoded Ogg/Opus speech drives the face (${silent} silent of ${frames})`);
  t.ok(Math.abs(b.pushed_audio_s - 6) < 0.1, `pushed ${b.pushed_audio_s} s`);
  // A snapshot of each pad's last pushed PTS: on a loaded machine one pad's task may trail the other by up to
  // two frames while both stay in lockstep; a drifting timeline grows past that.
  t.ok(b.av_drift_ms !== null && Math.abs(b.av_drift_ms) <= 20, `A/V drift ${b.av_drift_ms} ms`);
  // After both utterances the face idles again.
  await sleep(2500);
  const c = await snapshot();
  await sleep(2000);
  const d = await snapshot();
  t.ok(d.silence_frames - c.silence_frames >= d.frames_out - c.frames_out - 3, 'idle after the last utterance');

  // A damaged page is answered on the socket; the next utterance still plays.
  const bad = Buffer.from(one);
  bad.writeUInt8(bad.readUInt8(bad.length - 50) ^ 0x55, bad.length - 50);
  ws.send(bad);
  t.match(await reply(), { type: 'error', error: { code: 'LIVE_AUDIO_INVALID' } });
  ws.send(utterance('three.ogg', 6, 2));
  t.match(await reply(), { type: 'queued' });
  await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
});
