import t from 'tap';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, TEST_ADMIN_TOKEN, testServer, type TestServer } from '../helpers/server-app.js';

/**
 * Who may act on a session, on the real app and routes (real GStreamer sessions from a Chromium offer; no
 * viewer connects): tokens on every session route and the audio WebSocket, admin listing, API keys, the offer
 * rate limit, Origin checks on the upgrade; lifecycle limits in the answer and enforced; instance routing.
 */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });

interface Answer {
  session_id: string;
  session_token: string;
  session_url: string;
  audio_url?: string;
  instance: string | null;
  limits: { max_duration_s: number | null; expires_at: string | null; idle_timeout_s: number | null; idle_expires_at: string | null };
}

async function offer(s: TestServer, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER, extra), headers });
  if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.body}`);
  return r.json();
}

function upgrade(url: string, protocols?: string[], headers: Record<string, string> = {}): Promise<{ ws: WebSocket; protocol: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.once('open', () => resolve({ ws, protocol: ws.protocol }));
    ws.once('unexpected-response', (req, res) => {
      req.destroy(); // ws leaves a refused upgrade's socket open otherwise
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
}

t.test('every session route needs the session token; listing needs an admin', async (t) => {
  const s = await testServer({ DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '60000' }, { asOperator: false });
  t.teardown(() => s.cleanup());
  const a = await offer(s, { audio_source: 'push' });
  const b = await offer(s);
  t.match(a.session_token, /^[A-Za-z0-9_-]{43}$/, 'the answer carries a 256-bit token');
  t.not(a.session_token, b.session_token);
  t.equal(a.session_url, `/webrtc/sessions/${a.session_id}`);
  t.equal(a.audio_url, `/webrtc/sessions/${a.session_id}/audio`);

  const routes: [string, string][] = [
    ['GET', `/webrtc/sessions/${a.session_id}`],
    ['POST', `/webrtc/sessions/${a.session_id}/interrupt`],
    ['POST', `/webrtc/sessions/${a.session_id}/keepalive`],
    ['DELETE', `/webrtc/sessions/${a.session_id}`],
  ];
  for (const [method, url] of routes) {
    const none = await s.app.inject({ method: method as 'GET', url });
    t.equal(none.statusCode, 401, `${method} ${url} without a token`);
    t.equal(none.json().error.code, 'AUTH_REQUIRED');
    const other = await s.app.inject({ method: method as 'GET', url, headers: bearer(b.session_token) });
    t.equal(other.statusCode, 403, `${method} with another session's token`);
    t.equal(other.json().error.code, 'AUTH_FORBIDDEN');
  }
  const got = await s.app.inject({ url: `/webrtc/sessions/${a.session_id}`, headers: bearer(a.session_token) });
  t.equal(got.statusCode, 200);
  t.equal(got.json().session_id, a.session_id);

  t.equal((await s.app.inject('/webrtc/sessions')).statusCode, 401, 'listing without a token');
  t.equal((await s.app.inject({ url: '/webrtc/sessions', headers: bearer(a.session_token) })).statusCode, 403, 'a session token is not an admin token');
  const list = await s.app.inject({ url: '/webrtc/sessions', headers: bearer(TEST_ADMIN_TOKEN) });
  t.equal(list.json().sessions.length, 2);

  // The audio WebSocket, over a real upgrade: token as subprotocol (what browsers can do) or ?token=.
  const base = (await s.app.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws');
  const audio = `${base}/webrtc/sessions/${a.session_id}/audio`;
  await t.rejects(upgrade(audio), /HTTP 401/, 'no token: refused before the upgrade');
  await t.rejects(upgrade(audio, ['ditto-gst', `ditto-token.${b.session_token}`]), /HTTP 403/);
  await t.rejects(upgrade(audio, ['ditto-gst', `ditto-token.${a.session_token}`], { origin: 'https://evil.example' }), /HTTP 403/, 'a foreign Origin is refused');
  const viaProtocol = await upgrade(audio, ['ditto-gst', `ditto-token.${a.session_token}`]);
  t.equal(viaProtocol.protocol, 'ditto-gst', 'the server selects ditto-gst, never the token');
  const replies: Record<string, unknown>[] = [];
  viaProtocol.ws.on('message', (d: Buffer) => replies.push(JSON.parse(d.toString())));
  viaProtocol.ws.send(JSON.stringify({ type: 'keepalive' }));
  await new Promise((r) => viaProtocol.ws.once('message', r));
  t.match(replies[0], { type: 'keepalive', limits: { idle_timeout_s: 120 } });
  viaProtocol.ws.close();
  const viaQuery = await upgrade(`${audio}?token=${a.session_token}`);
  viaQuery.ws.close();

  t.equal((await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${a.session_id}`, headers: bearer(a.session_token) })).statusCode, 200, 'the owner ends it');
  const gone = await s.app.inject({ url: `/webrtc/sessions/${a.session_id}`, headers: bearer(a.session_token) });
  t.equal(gone.statusCode, 404, 'the token dies with its session');
  t.equal((await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${b.session_id}`, headers: bearer(TEST_ADMIN_TOKEN) })).statusCode, 200, 'an operator may end any session');
});

t.test('API keys for creating sessions; the per-client offer rate limit', async (t) => {
  const s = await testServer({ DITTO_AUTH_API_KEYS: 'tenant-key-0123456789', DITTO_AUTH_OFFER_RATE_MAX: '3' }, { asOperator: false });
  t.teardown(() => s.cleanup());
  const post = (headers: Record<string, string> = {}) => s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER), headers });
  const none = await post();
  t.equal(none.statusCode, 401);
  t.equal(none.headers['www-authenticate'], 'Bearer realm="ditto-gst"');
  t.equal((await post(bearer('wrong-key-0123456789'))).statusCode, 403);
  const ok = await post(bearer('tenant-key-0123456789'));
  t.equal(ok.statusCode, 200);
  t.equal((await s.app.inject({ method: 'POST', url: '/upload', headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--' })).statusCode, 401, 'uploads need a key too');
  // the budget is per client: the key has used 1 of 3
  t.equal((await post(bearer('tenant-key-0123456789'))).statusCode, 200);
  t.equal((await post(bearer('tenant-key-0123456789'))).statusCode, 200);
  const limited = await post(bearer('tenant-key-0123456789'));
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error.code, 'RATE_LIMITED');
  t.ok(Number(limited.headers['retry-after']) > 0);
});

t.test('lifecycle: limits in the answer; idle push sessions and the maximum duration end them', async (t) => {
  const s = await testServer({ DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '60000', DITTO_LIFECYCLE_IDLE_TIMEOUT_S: '1', DITTO_LIFECYCLE_MAX_DURATION_S: '3' });
  t.teardown(() => s.cleanup());
  const closed = new Map<string, string>();
  s.app.sessions.on('closed', (sess, { reason }) => closed.set(sess.id, reason));
  const push = await offer(s, { audio_source: 'push' });
  const file = await offer(s);
  t.match(push.limits, { max_duration_s: 3, idle_timeout_s: 1 });
  t.ok(Date.parse(push.limits.expires_at!) > Date.now());
  t.match(file.limits, { max_duration_s: 3, idle_timeout_s: null, idle_expires_at: null }, 'file sessions have no idle timeout');
  // keep-alives hold the idle push session past its 1 s timeout
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 400));
    const k = await s.app.inject({ method: 'POST', url: `/webrtc/sessions/${push.session_id}/keepalive`, headers: bearer(push.session_token) });
    t.equal(k.statusCode, 200);
  }
  t.notOk(closed.has(push.session_id), 'alive after 1.6 s of keep-alives');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(closed.get(push.session_id), 'idle-timeout');
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(file.limits.expires_at!) - Date.now() + 500)));
  t.equal(closed.get(file.session_id), 'max-duration');
  const metrics = (await s.app.inject('/metrics')).body;
  t.match(metrics, /ditto_sessions_closed_total\{reason="idle-timeout"\} 1/);
  t.match(metrics, /ditto_sessions_closed_total\{reason="max-duration"\} 1/);
});

t.test('an unconnected session gives its slot back after the connect timeout', async (t) => {
  const s = await testServer({ DITTO_SESSIONS_MAX: '1', DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '500' });
  t.teardown(() => s.cleanup());
  await offer(s);
  t.equal((await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER) })).statusCode, 503, 'full');
  await new Promise((r) => setTimeout(r, 1200));
  t.equal(s.app.sessions.size, 0);
  t.ok(await offer(s), 'the slot is free again');
  t.equal(s.config.sessions.connectTimeoutMs, 500);
  const defaults = await testServer();
  t.teardown(() => defaults.cleanup());
  t.ok(defaults.config.sessions.connectTimeoutMs <= 10_000, 'the default is short');
});

t.test('instance routing: session URLs under /i/<instance>, own prefix stripped, others 421', async (t) => {
  const s = await testServer({ DITTO_INSTANCE_ID: 'ditto-gst-gpu-1', DITTO_INSTANCE_PUBLIC_URL: 'https://avatar.example.com/i/ditto-gst-gpu-1', DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '60000' });
  t.teardown(() => s.cleanup());
  const a = await offer(s, { audio_source: 'push' });
  t.equal(a.instance, 'ditto-gst-gpu-1');
  t.equal(a.session_url, `https://avatar.example.com/i/ditto-gst-gpu-1/webrtc/sessions/${a.session_id}`);
  t.equal(a.audio_url, `https://avatar.example.com/i/ditto-gst-gpu-1/webrtc/sessions/${a.session_id}/audio`);
  const path = new URL(a.session_url).pathname;
  const got = await s.app.inject({ url: path, headers: bearer(a.session_token) });
  t.equal(got.statusCode, 200, 'the ingress passes the path as it is; the server routes it');
  t.equal(got.headers['x-ditto-instance'], 'ditto-gst-gpu-1');
  t.equal((await s.app.inject({ url: '/i/ditto-gst-gpu-1/healthz' })).statusCode, 200);
  const wrong = await s.app.inject({ url: `/i/ditto-gst-gpu-0/webrtc/sessions/${a.session_id}`, headers: bearer(a.session_token) });
  t.equal(wrong.statusCode, 421);
  t.match(wrong.json().error, { code: 'WRONG_INSTANCE', details: { instance: 'ditto-gst-gpu-1', requested: 'ditto-gst-gpu-0' } });
  t.equal((await s.app.inject({ url: '/i/ditto-gst-gpu-10/healthz' })).statusCode, 421, 'a longer id is another instance');
});
