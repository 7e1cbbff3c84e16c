import t from 'tap';
import { readFileSync } from 'node:fs';
import { ChromiumBrowser, chromiumAvailable } from '../helpers/chromium.js';
import { CHROMIUM_OFFER_FIXTURE, testServer } from '../helpers/server-app.js';

/**
 * Microphone sessions: headless Chromium sends its fake microphone (a beeping tone) on the same peer
 * connection it receives the face on. The server answers the sendrecv audio m-line as sendrecv, decodes the
 * incoming Opus into the element, and the element animates from that audio instead of padding with silence.
 */

const RECVONLY_OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The direction of the first audio m-line of an SDP. */
function audioDirection(sdp: string): string | null {
  const audio = sdp.split(/\r?\n(?=m=)/).find((s) => s.startsWith('m=audio'));
  return audio ? (/^a=(sendrecv|sendonly|recvonly|inactive)\s*$/m.exec(audio)?.[1] ?? null) : null;
}

t.test('microphone on the same peer connection drives the face', { skip: !chromiumAvailable() && 'no Chromium' }, async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const browser = await ChromiumBrowser.launch({ fakeMedia: true });
  t.teardown(() => browser.close());
  const rx = await browser.newReceiver({ microphone: true });
  const sdp = await rx.createOffer();
  t.equal(audioDirection(sdp), 'sendrecv', 'the browser offers its microphone');

  // No audio_path and no audio_source: a sendrecv audio m-line means the microphone.
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp, type: 'offer', source_path: 'portrait.jpg' } });
  t.equal(r.statusCode, 200, r.statusCode === 200 ? 'the offer is answered' : r.body);
  const answer = r.json();
  t.equal(answer.params.audio_source, 'mic');
  t.equal(audioDirection(answer.sdp), 'sendrecv', 'the answer receives the microphone and sends the voice back');
  await rx.acceptAnswer(answer.sdp);
  const id = answer.session_id as string;

  const rxStats = await rx.waitFor((st) => (st.video?.framesDecoded ?? 0) > 10 && (st.audio?.totalSamplesReceived ?? 0) > 4800, { timeoutMs: 20000 });
  t.ok(rxStats.elementWidth > 0, 'the browser shows the face');
  t.ok((rxStats.audioSent?.packetsSent ?? 0) > 0, 'the browser sends its microphone');

  const snapshot = async () => (await s.app.inject({ method: 'GET', url: `/webrtc/sessions/${id}` })).json();
  // The element posts stats once a second; compare whole windows once the microphone audio flows.
  // The first second or two idle on silence until the microphone's first packets arrive.
  await sleep(3000);
  const a = await snapshot();
  await sleep(3000);
  const b = await snapshot();
  t.equal(b.audio_source, 'mic');
  t.equal(b.state, 'connected');
  const frames = b.frames_out - a.frames_out;
  const silent = b.silence_frames - a.silence_frames;
  t.ok(frames >= 50, `the stream flows (${frames} frames in 3 s)`);
  t.ok(silent <= 5, `the microphone feeds the element: ${silent} of ${frames} frames padded with silence`);
  t.ok(b.av_drift_ms !== null && Math.abs(b.av_drift_ms) <= 20, `A/V lockstep (${b.av_drift_ms} ms)`);
  const after = await rx.stats();
  t.ok((after.audio?.totalSamplesReceived ?? 0) > (rxStats.audio?.totalSamplesReceived ?? 0), 'the voice keeps coming back');

  // The microphone cannot be interrupted or pushed to: it is not a push session.
  const i = await s.app.inject({ method: 'POST', url: `/webrtc/sessions/${id}/interrupt` });
  t.equal(i.json().error.code, 'SESSION_NOT_LIVE');
  await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
});

t.test('audio_source "mic" needs an offer that sends audio', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: RECVONLY_OFFER, type: 'offer', source_path: 'portrait.jpg', audio_source: 'mic' } });
  t.equal(r.statusCode, 400);
  t.equal(r.json().error.code, 'OFFER_MEDIA_MISSING');
  t.match(r.json().error.message, /sendrecv/);
  // A recvonly offer without audio_path is still the predecessor's error.
  const n = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: RECVONLY_OFFER, type: 'offer', source_path: 'portrait.jpg' } });
  t.equal(n.statusCode, 400);
  t.match(n.json().error, { code: 'VALIDATION_FAILED', message: /audio_path/ });
});
