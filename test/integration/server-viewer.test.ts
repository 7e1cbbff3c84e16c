import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ChromiumBrowser } from '../helpers/chromium.js';
import { offerPayload, testServer } from '../helpers/server-app.js';

/**
 * Session lifecycle with a real viewer (Debian's headless Chromium): the session follows the connection,
 * and a viewer that vanishes without closing is noticed through its missing RTCP receiver reports.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const browser = await ChromiumBrowser.launch();
t.teardown(() => browser.close());

t.test('connected viewer, then a viewer that silently vanishes', async (t) => {
  const s = await testServer({ DITTO_SESSIONS_RTCP_SILENCE_TIMEOUT_MS: '2000', DITTO_SESSIONS_DISCONNECTED_GRACE_MS: '30000' });
  t.teardown(() => s.cleanup());
  const closed = new Map<string, { reason: string; at: number }>();
  s.app.sessions.on('closed', (session, { reason }) => closed.set(session.id, { reason, at: Date.now() }));

  const rx = await browser.newReceiver();
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(await rx.createOffer()) });
  t.equal(r.statusCode, 200, r.body.slice(0, 300));
  const id: string = r.json().session_id;
  await rx.acceptAnswer(r.json().sdp);
  await rx.waitFor((st) => (st.video?.framesDecoded ?? 0) > 5 && (st.audio?.packetsReceived ?? 0) > 5, { timeoutMs: 15000 });

  let detail = (await s.app.inject(`/webrtc/sessions/${id}`)).json();
  t.match(detail, { state: 'connected', connection_state: 'connected' });
  await sleep(1500); // receiver reports come every second or so
  detail = (await s.app.inject(`/webrtc/sessions/${id}`)).json();
  t.type(detail.ms_since_last_rtcp, 'number', 'RTCP from the viewer is seen');
  t.ok(detail.ms_since_last_rtcp < 2000);
  t.ok(detail.rtp.bytes_sent > 0, 'webrtcbin stats: bytes sent');
  t.ok(detail.bitrate_bps === null || detail.bitrate_bps > 0);

  const vanishedAt = Date.now();
  await rx.vanish();
  for (let i = 0; i < 100 && !closed.has(id); i++) await sleep(100);
  const end = closed.get(id);
  t.ok(end, 'the session ended');
  t.equal(end?.reason, 'rtcp-silence');
  t.ok(end && end.at - vanishedAt < 6000, `noticed within the RTCP timeout plus a poll (${end ? end.at - vanishedAt : '-'} ms)`);
});

t.test('end of the file audio with a connected viewer ends the session', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const short = join(s.mediaDir, 'short.wav');
  execFileSync('gst-launch-1.0', ['-q', 'audiotestsrc', 'num-buffers=30', 'samplesperbuffer=1600', '!', 'audio/x-raw,rate=16000,channels=1', '!', 'wavenc', '!', 'filesink', `location=${short}`]);
  const closed = new Map<string, string>();
  s.app.sessions.on('closed', (session, { reason }) => closed.set(session.id, reason));
  const rx = await browser.newReceiver();
  t.teardown(() => rx.close());
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(await rx.createOffer(), { audio_path: 'short.wav' }) });
  t.equal(r.statusCode, 200, r.body.slice(0, 300));
  await rx.acceptAnswer(r.json().sdp);
  for (let i = 0; i < 100 && !closed.has(r.json().session_id); i++) await sleep(100);
  t.equal(closed.get(r.json().session_id), 'eos', '3 s of audio, then EOS');
});
