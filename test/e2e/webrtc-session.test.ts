/**
 * End to end: real headless Chromium posts a recvonly offer to the real server, which answers it with a real
 * GStreamer graph (dittotalkinghead + encoders + webrtcbin). The browser must decode video at about 25 fps at
 * the expected size and receive audio — for one session and for four at once.
 */
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { ChromiumBrowser, chromiumAvailable, type ChromiumReceiver } from '../helpers/chromium.js';
import { offerPayload, TEST_ADMIN_TOKEN, testServer, type TestServer } from '../helpers/server-app.js';

if (!chromiumAvailable()) {
  t.fail('Chromium is missing: run `bash docker/setup.sh --test`');
  process.exit(1);
}

interface Started {
  rx: ChromiumReceiver;
  sessionId: string;
  answer: { sdp: string; session_id: string; session_token: string; params: Record<string, unknown>; warnings: unknown[] };
  /** Headers that carry the session's token. */
  auth: { authorization: string };
}

async function startSession(base: string, browser: ChromiumBrowser, extra: Record<string, unknown> = {}): Promise<Started> {
  const rx = await browser.newReceiver();
  const offer = await rx.createOffer();
  const res = await fetch(`${base}/webrtc/offer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(offerPayload(offer, extra)),
  });
  const answer = (await res.json()) as Started['answer'];
  if (res.status !== 200) throw new Error(`offer refused: ${res.status} ${JSON.stringify(answer)}`);
  await rx.acceptAnswer(answer.sdp);
  return { rx, sessionId: answer.session_id, answer, auth: { authorization: `Bearer ${answer.session_token}` } };
}

let server: TestServer;
let browser: ChromiumBrowser;
let base: string;

t.before(async () => {
  server = await testServer();
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  browser = await ChromiumBrowser.launch();
});

t.teardown(async () => {
  await browser?.close();
  await server?.cleanup();
});

t.test('one session: Chromium decodes 25 fps video of the portrait and receives audio', async (t) => {
  const { rx, sessionId, answer, auth } = await startSession(base, browser);
  t.match(answer.sdp, /a=sendonly/, 'the answer sends media');
  // Chrome lip-syncs tracks of one stream: both m-lines must name the same msid stream on their ssrc lines.
  const streams = [...answer.sdp.matchAll(/a=ssrc:\d+ msid:(\S+) \S+/g)].map((m) => m[1]);
  t.equal(streams.length, 2, 'video and audio carry ssrc msid lines');
  t.equal(streams[0], streams[1], 'video and audio belong to one stream, for lip sync');

  const first = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 10 && (s.audio?.totalSamplesReceived ?? 0) > 0, {
    timeoutMs: 20_000,
  });
  t.equal(first.connectionState, 'connected');
  t.equal(first.video?.frameWidth, 512, 'video width is the portrait width at frame_scale 1');
  t.equal(first.video?.frameHeight, 512, 'video height is the portrait height');

  const fps = await rx.measureFps(3000);
  t.ok(fps > 20 && fps < 30, `decodes about 25 fps (measured ${fps.toFixed(1)})`);

  const later = await rx.stats();
  t.ok((later.audio?.totalSamplesReceived ?? 0) > 48_000, 'more than a second of audio arrived');
  t.ok((later.audio?.audioLevel ?? 0) > 0 || (later.audio?.totalSamplesReceived ?? 0) > 0, 'audio flows');

  t.equal((await fetch(`${base}/webrtc/sessions/${sessionId}`)).status, 401, 'not without its token');
  const listed = (await (await fetch(`${base}/webrtc/sessions/${sessionId}`, { headers: auth })).json()) as Record<string, unknown>;
  t.equal(listed['id'] ?? listed['session_id'], sessionId, 'the server reports the session');

  const del = await fetch(`${base}/webrtc/sessions/${sessionId}`, { method: 'DELETE', headers: auth });
  t.ok(del.status === 200 || del.status === 204, 'DELETE ends the session');
  await rx.close();
  const gone = await fetch(`${base}/webrtc/sessions/${sessionId}`, { headers: auth });
  t.equal(gone.status, 404, 'the session is gone after DELETE');
});

t.test('frame_scale reaches the browser as the decoded size', async (t) => {
  const { rx, sessionId, answer, auth } = await startSession(base, browser, { run_kwargs: { frame_scale: 0.5 } });
  t.equal(answer.params['frame_scale'], 0.5);
  const s = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 5, { timeoutMs: 20_000 });
  t.equal(s.video?.frameWidth, 256);
  t.equal(s.video?.frameHeight, 256);
  await fetch(`${base}/webrtc/sessions/${sessionId}`, { method: 'DELETE', headers: auth });
  await rx.close();
});

t.test('four sessions at once all decode video and receive audio', async (t) => {
  const sessions = await Promise.all([0, 1, 2, 3].map(() => startSession(base, browser)));
  const ids = new Set(sessions.map((s) => s.sessionId));
  t.equal(ids.size, 4, 'four distinct sessions');
  for (const { rx } of sessions) {
    await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 10 && (s.audio?.totalSamplesReceived ?? 0) > 0, {
      timeoutMs: 30_000,
    });
  }
  const rates = await Promise.all(sessions.map(({ rx }) => rx.measureFps(3000)));
  // Four encoders and four Chromium decoders share two cores here: allow headroom below 25 fps.
  for (const fps of rates) t.ok(fps > 15, `each session keeps decoding (measured ${fps.toFixed(1)} fps)`);

  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const list = (await (await fetch(`${base}/webrtc/sessions`, { headers: admin })).json()) as { sessions: unknown[] };
  t.equal(list.sessions.length, 4, 'the server lists four sessions');

  await Promise.all(sessions.map(({ sessionId, auth }) => fetch(`${base}/webrtc/sessions/${sessionId}`, { method: 'DELETE', headers: auth })));
  await Promise.all(sessions.map(({ rx }) => rx.close()));
  const after = (await (await fetch(`${base}/webrtc/sessions`, { headers: admin })).json()) as { sessions: unknown[] };
  t.equal(after.sessions.length, 0, 'no session is left');
});

t.test('a viewer that vanishes without closing is torn down', async (t) => {
  const { rx, sessionId, auth } = await startSession(base, browser);
  await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 5, { timeoutMs: 20_000 });
  await rx.vanish();
  const deadline = Date.now() + 20_000;
  let status = 200;
  while (Date.now() < deadline) {
    status = (await fetch(`${base}/webrtc/sessions/${sessionId}`, { headers: auth })).status;
    if (status === 404) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(status, 404, 'the session ends once the viewer is gone');
});
