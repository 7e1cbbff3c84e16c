import t from 'tap';
import { readFileSync } from 'node:fs';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer } from '../helpers/server-app.js';

/**
 * The ICE settings through the real server and GStreamer (no browser): the announced public address and the
 * port range in the answer's candidates, GET /webrtc/ice-servers, and PATCH /webrtc/sessions/:id (owner only).
 */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
const candidates = (sdp: string) => sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));

t.test('public address, port range and ICE-TCP off reach the answer', async (t) => {
  const min = 44000 + Math.floor(Math.random() * 100) * 20;
  const s = await testServer({ DITTO_ICE_PUBLIC_ADDRESS: '203.0.113.7', DITTO_ICE_MIN_PORT: String(min), DITTO_ICE_MAX_PORT: String(min + 19), DITTO_ICE_TCP: 'false' });
  t.teardown(() => s.cleanup());
  const res = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER) });
  t.equal(res.statusCode, 200, 'answered');
  const cands = candidates(res.json().sdp);
  t.ok(cands.length > 0);
  for (const c of cands) {
    const f = c.split(' ');
    t.equal(f[4], '203.0.113.7', `announced: ${c}`);
    t.equal(f[2]!.toUpperCase(), 'UDP');
    t.ok(Number(f[5]) >= min && Number(f[5]) <= min + 19, `port ${f[5]} in the range`);
  }
});

t.test('GET /webrtc/ice-servers: nothing by default; STUN and TURN with minted credentials when configured', async (t) => {
  const plain = await testServer();
  t.teardown(() => plain.cleanup());
  t.same((await plain.app.inject('/webrtc/ice-servers')).json(), { iceServers: [], expires_at: null });
  const s = await testServer({ DITTO_ICE_SERVERS: 'stun:stun.example.net,turn:turn.example.net?transport=tcp', DITTO_ICE_TURN_SECRET: 'k', DITTO_ICE_SERVER_USES_TURN: 'false' });
  t.teardown(() => s.cleanup());
  const r = await s.app.inject('/webrtc/ice-servers');
  t.equal(r.headers['cache-control'], 'no-store');
  const body = r.json();
  t.same(body.iceServers[0], { urls: ['stun:stun.example.net:3478'] });
  t.match(body.iceServers[1], { urls: ['turn:turn.example.net:3478?transport=tcp'], username: /^\d+:client-/, credential: /^[A-Za-z0-9+/]+=*$/ });
});

t.test('with API keys configured, TURN credentials need one', async (t) => {
  const key = 'k'.repeat(32);
  const s = await testServer({ DITTO_AUTH_API_KEYS: key, DITTO_ICE_SERVERS: 'turn:turn.example.net', DITTO_ICE_TURN_SECRET: 'k', DITTO_ICE_SERVER_USES_TURN: 'false' }, { asOperator: false });
  t.teardown(() => s.cleanup());
  t.equal((await s.app.inject('/webrtc/ice-servers')).statusCode, 401);
  const ok = await s.app.inject({ url: '/webrtc/ice-servers', headers: { authorization: `Bearer ${key}` } });
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().iceServers.length, 1);
});

t.test('PATCH /webrtc/sessions/:id: sdpfrag from the owner only', async (t) => {
  const s = await testServer({}, { asOperator: false });
  t.teardown(() => s.cleanup());
  const answer = (await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER) })).json();
  const id = answer.session_id as string;
  const token = (answer.session_token as string | undefined) ?? s.app.auth.handOut(id)!;
  const frag = 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 61764 typ host\r\n';
  const patch = (headers: Record<string, string>, payload = frag) =>
    s.app.inject({ method: 'PATCH', url: `/webrtc/sessions/${id}`, headers: { 'content-type': 'application/trickle-ice-sdpfrag', ...headers }, payload });
  t.equal((await patch({})).statusCode, 401, 'no token');
  t.equal((await patch({ authorization: 'Bearer wrongwrongwrongwrong' })).statusCode, 403, 'not the owner');
  const ok = await patch({ authorization: `Bearer ${token}` });
  t.equal(ok.statusCode, 204, 'trickle accepted, no late server candidates');
  t.match(ok.headers['etag'], /^"ice-0-/);
  const bad = await patch({ authorization: `Bearer ${token}` }, 'not a fragment');
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error.code, 'INVALID_SDP');
});
