/**
 * A relayed session end to end: Debian's coturn on loopback with TURN REST credentials (use-auth-secret),
 * the server configured with the same secret, Chromium forced to relay (iceTransportPolicy "relay") with the
 * credentials GET /webrtc/ice-servers minted for it. Video and audio must decode over a relay pair; the
 * server's own webrtcbin must have allocated relays with its per-session credentials. With a wrong secret
 * the failure is clear and quick: coturn answers 401, the browser reports it, the session ends on its
 * connect timeout instead of hanging.
 */
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { ChromiumBrowser, chromiumAvailable } from '../helpers/chromium.js';
import { Coturn, coturnAvailable } from '../helpers/coturn.js';
import { offerPayload, testServer, type TestServer } from '../helpers/server-app.js';

if (!chromiumAvailable() || !coturnAvailable()) {
  t.fail('Chromium or coturn is missing: run `bash docker/setup.sh --test`');
  process.exit(1);
}

const SECRET = `relay-${Math.random().toString(36).slice(2)}`;
let turn: Coturn;
let browser: ChromiumBrowser;

t.before(async () => {
  turn = await Coturn.start({ secret: SECRET });
  browser = await ChromiumBrowser.launch();
});
t.teardown(async () => {
  await browser?.close();
  await turn?.stop();
});

async function serverWith(secret: string): Promise<{ server: TestServer; base: string }> {
  const server = await testServer({
    DITTO_ICE_SERVERS: turn.url,
    DITTO_ICE_TURN_SECRET: secret,
    DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '4000',
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { server, base: `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}` };
}

const candidateTypes = (sdp: string) => [...sdp.matchAll(/^a=candidate:\S+ \d \S+ \d+ \S+ \d+ typ (\S+)/gm)].map((m) => m[1]);

t.test('relay only: Chromium decodes video and audio over a TURN relay pair', async (t) => {
  const { server, base } = await serverWith(SECRET);
  t.teardown(() => server.cleanup());

  const res = await fetch(`${base}/webrtc/ice-servers`);
  t.equal(res.status, 200);
  const { iceServers, expires_at } = (await res.json()) as { iceServers: { urls: string[]; username: string; credential: string }[]; expires_at: string };
  t.equal(iceServers.length, 1);
  t.same(iceServers[0]!.urls, [turn.url]);
  t.match(iceServers[0]!.username, /^\d+:client-/, 'REST username expiry:user');
  t.ok(Date.parse(expires_at) > Date.now(), 'credentials not yet expired');

  const rx = await browser.newReceiver({ rtcConfiguration: { iceServers, iceTransportPolicy: 'relay' } });
  t.teardown(() => rx.close());
  const offer = await rx.createOffer({ gatheringTimeoutMs: 8000 });
  const offered = candidateTypes(offer);
  t.ok(offered.length > 0 && offered.every((c) => c === 'relay'), `the offer has relay candidates only: ${offered.join(', ')}`);

  const answerRes = await fetch(`${base}/webrtc/offer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(offerPayload(offer)) });
  const answer = (await answerRes.json()) as { sdp: string; session_id: string };
  t.equal(answerRes.status, 200, 'the offer is answered');
  t.ok(candidateTypes(answer.sdp).includes('relay'), "the server's webrtcbin allocated a relay with its own credentials");
  await rx.acceptAnswer(answer.sdp);

  const s = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 25 && (s.audio?.totalSamplesReceived ?? 0) > 9600, { timeoutMs: 20_000 });
  t.equal(s.connectionState, 'connected');
  const pair = await rx.selectedPair();
  t.equal(pair?.state, 'succeeded');
  t.equal(pair?.local.candidateType, 'relay', `the selected pair is relayed (${JSON.stringify(pair)})`);
  t.equal(pair?.local.relayProtocol, 'udp');
  t.match(turn.log(), /ALLOCATE/i, 'coturn saw the allocations');
});

t.test('TURN over TCP: the relay pair runs on TCP to coturn', async (t) => {
  const { server, base } = await serverWith(SECRET);
  t.teardown(() => server.cleanup());
  const { iceServers } = (await (await fetch(`${base}/webrtc/ice-servers`)).json()) as { iceServers: { urls: string[]; username: string; credential: string }[] };
  const tcp = [{ ...iceServers[0]!, urls: [turn.tcpUrl] }];
  const rx = await browser.newReceiver({ rtcConfiguration: { iceServers: tcp, iceTransportPolicy: 'relay' } });
  t.teardown(() => rx.close());
  const offer = await rx.createOffer({ gatheringTimeoutMs: 8000 });
  const res = await fetch(`${base}/webrtc/offer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(offerPayload(offer)) });
  t.equal(res.status, 200);
  await rx.acceptAnswer(((await res.json()) as { sdp: string }).sdp);
  await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 25, { timeoutMs: 20_000 });
  const pair = await rx.selectedPair();
  t.match(pair, { local: { candidateType: 'relay', relayProtocol: 'tcp' } }, `relayed over TCP (${JSON.stringify(pair?.local)})`);
});

t.test('a wrong TURN secret fails clearly and quickly, not with a hang', async (t) => {
  const { server, base } = await serverWith('not-the-secret');
  t.teardown(() => server.cleanup());
  const { iceServers } = (await (await fetch(`${base}/webrtc/ice-servers`)).json()) as { iceServers: { urls: string[] }[] };

  const rx = await browser.newReceiver({ rtcConfiguration: { iceServers, iceTransportPolicy: 'relay' } });
  t.teardown(() => rx.close());
  const offer = await rx.createOffer({ gatheringTimeoutMs: 8000 });
  t.same(candidateTypes(offer), [], 'no relay candidate with refused credentials');
  const errors = await rx.candidateErrors();
  t.ok(errors.some((e) => e.errorCode === 401), `the browser reports coturn's 401: ${JSON.stringify(errors)}`);

  const answerRes = await fetch(`${base}/webrtc/offer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(offerPayload(offer)) });
  const answer = (await answerRes.json()) as { sdp: string; session_id: string };
  t.equal(answerRes.status, 200);
  const started = Date.now();
  const ended = new Promise<string>((resolve) => {
    server.app.sessions.on('closed', (s, { reason }) => {
      if (s.id === answer.session_id) resolve(reason);
    });
  });
  await rx.acceptAnswer(answer.sdp);
  t.equal(await ended, 'connect-timeout', 'the session ends on its connect timeout');
  t.ok(Date.now() - started < 15_000, `and within the configured bound (${Date.now() - started} ms)`);
  const s = await rx.stats();
  t.not(s.connectionState, 'connected', 'the viewer never connected');
});
