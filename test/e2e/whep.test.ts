/**
 * WHEP end to end with a client written to the draft (test/helpers/whep-client.ts) and headless Chromium as
 * its WebRTC peer: POST /whep/:avatar -> 201 + Location/ETag/Link, decoded video and audio, DELETE; trickle
 * ICE (the answer's candidates withheld, so only the viewer's PATCHed candidates can connect); an ICE restart
 * across a network change (the viewer's TURN relay dies, it restarts through another) that keeps the session,
 * its portrait and its timeline; and the resource's refusals.
 */
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { mintTurnCredentials } from '../../src/ice/turn-rest.js';
import { buildSdpFrag, sdpIceCredentials } from '../../src/ice/sdpfrag.js';
import { ChromiumBrowser, chromiumAvailable } from '../helpers/chromium.js';
import { Coturn, coturnAvailable } from '../helpers/coturn.js';
import { testServer, type TestServer } from '../helpers/server-app.js';
import { answerAfterRestart, WhepClient } from '../helpers/whep-client.js';

if (!chromiumAvailable() || !coturnAvailable()) {
  t.fail('Chromium or coturn is missing: run `bash docker/setup.sh --test`');
  process.exit(1);
}

const SECRET = `whep-${Math.random().toString(36).slice(2)}`;
const PRESETS = 'sample:source_path=portrait.jpg;audio_path=speech.wav,live:source_path=portrait.jpg;audio_source=push';

let turnA: Coturn;
let server: TestServer;
let base: string;
let browser: ChromiumBrowser;

t.before(async () => {
  turnA = await Coturn.start({ secret: SECRET });
  server = await testServer({
    DITTO_WHEP_PRESETS: PRESETS,
    DITTO_ICE_SERVERS: turnA.url,
    DITTO_ICE_TURN_SECRET: SECRET,
    // the relay is the viewer's path here; the server answers with host candidates
    DITTO_ICE_SERVER_USES_TURN: 'false',
    DITTO_SESSIONS_DISCONNECTED_GRACE_MS: '15000',
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  // raw host candidates (no mDNS names): the trickle test needs candidates the server can reach
  browser = await ChromiumBrowser.launch({ args: ['--disable-features=WebRtcHideLocalIpsWithMdns'] });
});
t.teardown(async () => {
  await browser?.close();
  await server?.cleanup();
  await turnA?.stop();
});

const withoutCandidates = (sdp: string) => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n');

/** The viewer's ICE state of its first m-line as an RFC 8840 fragment (credentials + candidates). */
function fragmentOf(offer: string): string {
  const mid = /^a=mid:(\S+)/m.exec(offer)![1]!;
  const { ufrag, pwd } = sdpIceCredentials(offer);
  const first = offer.split(/\r\nm=/)[1] ?? '';
  const candidates = [...first.matchAll(/^a=(candidate:.*)$/gm)].map((m) => m[1]!);
  return buildSdpFrag({ ufrag: ufrag!, pwd: pwd!, sections: [{ mid, candidates, endOfCandidates: true }] });
}

t.test('POST /whep/sample: 201, Location, ETag, Link; Chromium decodes; DELETE ends it', async (t) => {
  const rx = await browser.newReceiver();
  t.teardown(() => rx.close());
  const whep = await WhepClient.connect(`${base}/whep/sample`, await rx.createOffer());
  t.match(whep.resourceUrl, new RegExp(`^${base}/whep/sessions/[^/]+/[^/]{16,}$`), 'Location: the session resource (with its capability)');
  t.match(whep.etag, /^"ice-0-/, 'ETag of the ICE session');
  t.equal(whep.acceptPatch, 'application/trickle-ice-sdpfrag');
  t.equal(whep.iceServers.length, 1, 'Link rel="ice-server"');
  t.match(whep.iceServers[0], { urls: [turnA.url], username: /^\d+:[0-9a-f-]+$/ }, 'the TURN server, credentials for this session');
  t.equal(whep.iceServers[0]!.credential, mintTurnCredentials(SECRET, whep.iceServers[0]!.username!.split(':')[1]!, 1, Number(whep.iceServers[0]!.username!.split(':')[0]) * 1000 - 1000).credential, 'REST credentials for the session');
  t.match(whep.answer, /^v=0\r\n/);
  await rx.acceptAnswer(whep.answer);
  const s = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 25 && (s.audio?.totalSamplesReceived ?? 0) > 9600, { timeoutMs: 20_000 });
  t.equal(s.video?.frameWidth, 512, 'the sample portrait');

  const id = whep.resourceUrl.split('/').at(-2)!;
  t.ok(server.app.sessions.list().some((x) => x.id === id), 'the resource names a live session');
  t.equal(await whep.close(), 200, 'DELETE');
  t.notOk(server.app.sessions.list().some((x) => x.id === id), 'the session is gone');
  t.equal(await whep.close(), 404, 'DELETE again: gone');
});

t.test('the resource refuses what is not its own or not an sdpfrag', async (t) => {
  const post = (path: string, body: string, type = 'application/sdp') => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
  const unknown = await post('/whep/nobody', 'v=0\r\n');
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { error: { code: 'NOT_FOUND', message: /no avatar "nobody"/ } });
  const wrongType = await post('/whep/sample', '{}', 'application/json');
  t.equal(wrongType.status, 415, 'a JSON body is not an offer');
  const notSdp = await post('/whep/sample', 'hello');
  t.equal(notSdp.status, 400, 'text that is not SDP');

  const rx = await browser.newReceiver();
  t.teardown(() => rx.close());
  const whep = await WhepClient.connect(`${base}/whep/sample`, await rx.createOffer());
  t.teardown(() => whep.close());
  const forged = whep.resourceUrl.replace(/\/[^/]+$/, '/' + 'x'.repeat(43));
  const r403 = await fetch(forged, { method: 'DELETE' });
  t.equal(r403.status, 403, 'another token: forbidden');
  t.match(await r403.json(), { error: { code: 'AUTH_FORBIDDEN' } });
  const patch = (body: string, headers: Record<string, string> = {}) =>
    fetch(whep.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', ...headers }, body });
  t.equal((await patch('garbage')).status, 400, 'not an sdpfrag');
  t.equal((await patch('m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:7\r\n')).status, 400, 'an m-line the offer does not have');
  const stale = await patch('m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n', { 'if-match': '"ice-9-old"' });
  t.equal(stale.status, 412, 'If-Match of another ICE session');
  t.match(await stale.json(), { error: { code: 'ICE_SESSION_CHANGED' } });
  const wrongPatchType = await fetch(whep.resourceUrl, { method: 'PATCH', headers: { 'content-type': 'application/sdp' }, body: 'v=0' });
  t.equal(wrongPatchType.status, 415);
});

t.test('trickle: only the candidates PATCHed after the answer connect the viewer', async (t) => {
  const rx = await browser.newReceiver();
  t.teardown(() => rx.close());
  const offer = await rx.createOffer({ waitForGathering: false });
  t.notMatch(offer, /a=candidate:/, 'the offer goes out before any candidate');
  const whep = await WhepClient.connect(`${base}/whep/sample`, offer);
  t.teardown(() => whep.close());
  // Withhold the server's candidates: the browser cannot reach the server on its own.
  await rx.acceptAnswer(withoutCandidates(whep.answer));
  const gathered = await rx.localDescription();
  const host = [...gathered.matchAll(/^a=(candidate:\S+ 1 udp \d+ (\S+) \d+ typ host.*)$/gm)];
  if (host.length === 0) {
    t.comment('SKIPPED: Chromium gathered no host candidate on this machine (loopback only), nothing to trickle');
    return;
  }
  await new Promise((r) => setTimeout(r, 1500));
  t.not((await rx.stats()).connectionState, 'connected', 'no connection without the trickled candidates');
  const res = await whep.trickle(fragmentOf(gathered));
  t.equal(res.status, 204, 'trickle PATCH: 204 No Content');
  const s = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 10, { timeoutMs: 20_000 });
  t.equal(s.connectionState, 'connected', `connected through the trickled candidates (${host.map((h) => h[2]).join(', ')})`);
});

t.test('ICE restart across a network change keeps the session, its portrait and its timeline', async (t) => {
  const turnB = await Coturn.start({ secret: SECRET });
  t.teardown(() => turnB.stop());
  const { iceServers: ice } = (await (await fetch(`${base}/webrtc/ice-servers`)).json()) as { iceServers: { urls: string[] }[] };
  const rx = await browser.newReceiver({ rtcConfiguration: { iceServers: ice, iceTransportPolicy: 'relay' } });
  t.teardown(() => rx.close());
  const whep = await WhepClient.connect(`${base}/whep/live`, await rx.createOffer({ gatheringTimeoutMs: 8000 }));
  t.teardown(() => whep.close());
  await rx.acceptAnswer(whep.answer);
  const before = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= 25, { timeoutMs: 20_000 });
  const id = whep.resourceUrl.split('/').at(-2)!;
  const session = server.app.sessions.get(id);
  const snapBefore = session.snapshot();
  t.equal((await rx.selectedPair())?.local.candidateType, 'relay', 'first through relay A');

  // The network changes: relay A is gone for good.
  await turnA.stop();
  const creds = mintTurnCredentials(SECRET, 'viewer', 600);
  const reoffer = await rx.restartIce({ iceServers: [{ urls: turnB.url, username: creds.username, credential: creds.credential }], iceTransportPolicy: 'relay' }, 8000);
  t.not(sdpIceCredentials(reoffer).ufrag, sdpIceCredentials(whep.answer).ufrag);
  const etag = whep.etag;
  const frag = await whep.restart(fragmentOf(reoffer));
  t.not(whep.etag, etag, 'a new ETag for the new ICE session');
  t.match(frag, /^a=ice-ufrag:\S+\r\na=ice-pwd:\S+\r\nm=/, 'the server answers with its new credentials');
  t.match(frag, /a=candidate:.* typ host/, 'and its candidates');
  await rx.acceptAnswer(answerAfterRestart(whep.answer, frag));

  const after = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) >= (before.video?.framesDecoded ?? 0) + 50 && s.connectionState === 'connected', { timeoutMs: 20_000 });
  t.equal(after.video?.frameWidth, 512, 'the same portrait');
  t.match(turnB.log(), /ALLOCATE/i, 'now through relay B');
  t.equal((await rx.selectedPair())?.local.candidateType, 'relay', 'still relayed (A is gone: B carries it)');
  const snapAfter = session.snapshot();
  t.equal(server.app.sessions.get(id), session, 'the same session object serves the viewer');
  t.notOk(session.ended, 'never closed');
  t.ok((snapAfter.frames_out ?? 0) > (snapBefore.frames_out ?? 0), `the timeline went on: frames ${snapBefore.frames_out} -> ${snapAfter.frames_out}`);
  t.ok((snapAfter.pts_s ?? 0) > (snapBefore.pts_s ?? 0), `pts ${snapBefore.pts_s} -> ${snapAfter.pts_s} s, no restart from 0`);
});
