import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { parseAudioChunk } from '../../src/live-audio/audio-chunk.js';
import { ChromiumBrowser, chromiumAvailable, type ChromiumReceiver } from '../helpers/chromium.js';
import { CHROMIUM_OFFER_FIXTURE, ROOT, TEST_ADMIN_TOKEN, testServer, type TestServer } from '../helpers/server-app.js';

/**
 * Push sessions: audio arrives over a WebSocket while the session runs (as a TTS front end sends it), the
 * face idles on silence between utterances, POST .../interrupt drops what is queued, and the element's
 * audio and video stay in lockstep throughout. A headless Chromium views the session (the graph only flows
 * once a viewer is connected).
 */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
const SPEECH = readFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav')); // 16 kHz mono S16 WAV
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pushSession(s: TestServer, rx: ChromiumReceiver): Promise<string> {
  const sdp = await rx.createOffer();
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp, type: 'offer', source_path: 'portrait.jpg', audio_source: 'push' } });
  if (r.statusCode !== 200) throw new Error(r.body);
  await rx.acceptAnswer(r.json().sdp);
  await rx.waitFor((st) => (st.video?.framesDecoded ?? 0) > 5, { timeoutMs: 15000 });
  return r.json().session_id;
}

const snapshot = async (s: TestServer, id: string) => (await s.app.inject({ method: 'GET', url: `/webrtc/sessions/${id}` })).json();

function open(url: string): Promise<{ ws: WebSocket; messages: unknown[]; next: () => Promise<Record<string, unknown>> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: unknown[] = [];
    const waiting: ((m: Record<string, unknown>) => void)[] = [];
    let read = 0; // messages handed out by next(): one that arrives before next() is asked for is kept
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString());
      messages.push(m);
      const w = waiting.shift();
      if (w) {
        read++;
        w(m);
      }
    });
    const next = () =>
      read < messages.length ? Promise.resolve(messages[read++] as Record<string, unknown>) : new Promise<Record<string, unknown>>((r) => waiting.push(r));
    ws.once('open', () => resolve({ ws, messages, next }));
    ws.once('unexpected-response', (_req: unknown, res: { statusCode?: number }) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

t.test('audio chunks: raw PCM, WAV in any PCM format, refusals', async (t) => {
  const raw = parseAudioChunk(Buffer.alloc(3200));
  t.match(raw, { caps: /S16LE.*rate=16000,channels=1/, durationS: 0.1 });
  const wav = parseAudioChunk(SPEECH);
  t.match(wav.caps, /format=S16LE,layout=interleaved,rate=16000,channels=1/);
  t.ok(Math.abs(wav.durationS - 12.35) < 0.05);
  t.throws(() => parseAudioChunk(Buffer.alloc(3)), { code: 'LIVE_AUDIO_INVALID' });
  t.throws(() => parseAudioChunk(Buffer.from('RIFF\0\0\0\0WAVEdata\0\0\0\0')), { code: 'LIVE_AUDIO_INVALID' });
});

t.test('push session: speech over the WebSocket, idle between, interrupt, lockstep', { skip: !chromiumAvailable() && 'no Chromium' }, async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const browser = await ChromiumBrowser.launch();
  t.teardown(() => browser.close());
  const rx = await browser.newReceiver();
  const id = await pushSession(s, rx);
  const address = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const base = address.replace('http', 'ws');

  // Idle first: with no input, every frame is animated from silence.
  await sleep(1200);
  let snap = await snapshot(s, id);
  t.equal(snap.audio_source, 'push');
  t.ok(snap.frames_out > 20, `frames flow before any audio (${snap.frames_out})`);
  t.ok(snap.silence_frames >= snap.frames_out - 3, `all of them idle (${snap.silence_frames} of ${snap.frames_out})`);

  const { ws, next } = await open(`${base}/webrtc/sessions/${id}/audio?token=${TEST_ADMIN_TOKEN}`);
  t.teardown(() => ws.close());
  ws.send(SPEECH); // 12 s utterance as one WAV chunk
  const queued = await next();
  t.match(queued, { type: 'queued' });
  t.ok(Math.abs((queued['duration_s'] as number) - 12.35) < 0.05);
  // The element posts its stats once a second: measure over whole windows, after the audio has arrived.
  await sleep(1000);
  const before = await snapshot(s, id);
  await sleep(2500);
  const during = await snapshot(s, id);
  const framesDuring = during.frames_out - before.frames_out;
  const silentDuring = during.silence_frames - before.silence_frames;
  t.ok(framesDuring >= 40, `stream goes on (${framesDuring} frames in 2.5 s)`);
  t.ok(silentDuring <= 5, `speech drives the face, not silence (${silentDuring} silent of ${framesDuring})`);

  const r = await s.app.inject({ method: 'POST', url: `/webrtc/sessions/${id}/interrupt` });
  t.equal(r.statusCode, 200, r.body);
  t.same(r.json(), { session_id: id, interrupted: true });
  await sleep(1000); // frames already animated ahead of the clock play out first
  const afterInterrupt = await snapshot(s, id);
  await sleep(2500);
  const idle = await snapshot(s, id);
  const framesIdle = idle.frames_out - afterInterrupt.frames_out;
  const silentIdle = idle.silence_frames - afterInterrupt.silence_frames;
  t.ok(framesIdle >= 40, `the stream never stops (${framesIdle} frames)`);
  t.ok(silentIdle >= framesIdle - 3, `idle again after the interrupt (${silentIdle} silent of ${framesIdle})`);
  t.ok(idle.interrupts === 1 && idle.pushed_audio_s > 12);

  // A second utterance after the gap: raw PCM frames this time.
  const pcm = SPEECH.subarray(44, 44 + 32000 * 5);
  ws.send(pcm);
  t.match(await next(), { type: 'queued', duration_s: 5 });
  await sleep(1000);
  const againFrom = await snapshot(s, id);
  await sleep(2500);
  const again = await snapshot(s, id);
  const silentAgain = again.silence_frames - againFrom.silence_frames;
  t.ok(silentAgain <= 5, `speech again after the gap (${silentAgain} silent of ${again.frames_out - againFrom.frames_out})`);
  // A/V lockstep across the gap and the interrupt: the element's last audio and video PTS agree.
  for (const snap of [during, afterInterrupt, idle, again]) {
    // A snapshot of each pad's last pushed PTS: on a loaded machine one pad's task may trail the other by up to
    // two frames while both stay in lockstep; a drifting timeline grows past that.
    t.ok(snap.av_drift_ms !== null && Math.abs(snap.av_drift_ms) <= 20, `A/V drift ${snap.av_drift_ms} ms`);
  }

  // Bad messages are answered on the socket, which stays open.
  ws.send(Buffer.alloc(5));
  t.match(await next(), { type: 'error', error: { code: 'LIVE_AUDIO_INVALID' } });
  ws.send(JSON.stringify({ type: 'interrupt' }));
  t.match(await next(), { type: 'interrupted' });
  snap = await snapshot(s, id);
  t.equal(snap.interrupts, 2);

  // The socket closes when the session ends.
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
  t.equal(await closed, 1001);
  const final = await rx.stats();
  t.ok((final.audio?.totalSamplesReceived ?? 0) > 48000, 'the viewer received the audio');
});

t.test('file sessions and unknown sessions refuse live audio in the error shape', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: OFFER, type: 'offer', source_path: 'portrait.jpg' } });
  t.equal(r.statusCode, 400);
  t.match(r.json().error, { code: 'VALIDATION_FAILED', message: /audio_path/ });
  const file = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: OFFER, type: 'offer', source_path: 'portrait.jpg', audio_path: 'speech.wav' } });
  const id = file.json().session_id;
  const i = await s.app.inject({ method: 'POST', url: `/webrtc/sessions/${id}/interrupt` });
  t.equal(i.statusCode, 409);
  t.equal(i.json().error.code, 'SESSION_NOT_LIVE');
  const address = await s.app.listen({ host: '127.0.0.1', port: 0 });
  await t.rejects(open(`${address.replace('http', 'ws')}/webrtc/sessions/${id}/audio?token=${TEST_ADMIN_TOKEN}`), /HTTP 409/);
  await t.rejects(open(`${address.replace('http', 'ws')}/webrtc/sessions/nope/audio?token=${TEST_ADMIN_TOKEN}`), /HTTP 404/);
  const n = await s.app.inject({ method: 'POST', url: '/webrtc/sessions/nope/interrupt' });
  t.equal(n.json().error.code, 'SESSION_NOT_FOUND');
});

t.test('pushed audio is bounded: the socket is slowed past 30 s ahead, a chunk past 150 s is refused', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: OFFER, type: 'offer', source_path: 'portrait.jpg', audio_source: 'push' } });
  t.equal(r.statusCode, 200, r.body.slice(0, 300));
  const id = r.json().session_id as string;
  const address = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const { ws, next } = await open(`${address.replace('http', 'ws')}/webrtc/sessions/${id}/audio?token=${TEST_ADMIN_TOKEN}`);
  const pcm = (seconds: number) => Buffer.alloc(seconds * 32000);

  ws.send(pcm(35));
  t.match(await next(), { type: 'queued', duration_s: 35 });
  const bp = await next();
  t.match(bp, { type: 'backpressure' }, 'told that reading is paused');
  t.ok((bp['queued_s'] as number) > 30);
  const i = await s.app.inject({ method: 'POST', url: `/webrtc/sessions/${id}/interrupt` });
  t.equal(i.statusCode, 200);
  t.match(await next(), { type: 'resumed' }, 'an interrupt empties the queue: reading resumes');

  ws.send(pcm(29));
  t.match(await next(), { type: 'queued', duration_s: 29 });
  ws.send(pcm(125));
  const refused = await next();
  t.match(refused, { type: 'error', error: { code: 'LIVE_AUDIO_OVERRUN' } }, 'a chunk that would run 150 s ahead is refused');
  const snap = (await s.app.inject(`/webrtc/sessions/${id}`)).json();
  t.ok(Math.abs(snap.pushed_audio_s - 64) < 0.01, 'the refused chunk was not queued');
  ws.close();
  await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
});
