import t from 'tap';
import { EventEmitter } from 'node:events';
import Fastify from 'fastify';
import errorHandling from '../../src/server/plugins/error-handling.js';
import { authPlugin, originAllowed, redactUrl, requestToken, selectWsProtocol, SecretSet, SessionOwners, newToken, type AuthOptions } from '../../src/auth/index.js';

/** src/auth: tokens, where requests carry them, the Origin allow-list, and the plugin's hooks through inject(). */

t.test('tokens: 32 random bytes, base64url', async (t) => {
  const a = newToken();
  t.match(a, /^[A-Za-z0-9_-]{43}$/);
  t.equal(Buffer.from(a, 'base64url').length, 32);
  t.not(a, newToken());
});

t.test('SecretSet compares digests, any length', async (t) => {
  const s = new SecretSet(['alpha-secret', 'b']);
  t.ok(s.has('alpha-secret'));
  t.ok(s.has('b'));
  t.notOk(s.has('alpha-secre'));
  t.notOk(s.has(''));
  t.notOk(s.has(null));
  t.ok(new SecretSet([]).empty);
});

t.test('SessionOwners: issue, hand out once, check, revoke', async (t) => {
  const o = new SessionOwners();
  o.issue('s1');
  const tok = o.handOut('s1');
  t.type(tok, 'string');
  t.equal(o.handOut('s1'), null, 'the plain token is handed out once');
  o.issue('s1');
  t.equal(o.check('s1', tok!), 'owner', 'a second issue keeps the first token');
  t.equal(o.check('s1', newToken()), 'not-owner');
  t.equal(o.check('s2', tok!), 'unknown');
  o.revoke('s1');
  t.equal(o.check('s1', tok!), 'unknown');
  t.equal(o.size, 0);
});

t.test('credentials: bearer header; subprotocol and query only for WebSockets', async (t) => {
  const r = (headers: Record<string, string>, query: Record<string, string> = {}) => ({ headers, query });
  t.equal(requestToken(r({ authorization: 'Bearer abc_-9' })), 'abc_-9');
  t.equal(requestToken(r({ authorization: 'bearer  abc' })), 'abc');
  t.equal(requestToken(r({ authorization: 'Basic abc' })), null);
  t.equal(requestToken(r({ authorization: 'Bearer a b' })), null);
  t.equal(requestToken(r({}, { token: 'q' })), null, 'no query tokens on plain HTTP routes');
  t.equal(requestToken(r({}, { token: 'q' }), true), 'q');
  t.equal(requestToken(r({ 'sec-websocket-protocol': 'ditto-gst, ditto-token.xyz' }), true), 'xyz');
  t.equal(requestToken(r({ authorization: 'Bearer h', 'sec-websocket-protocol': 'ditto-token.p' }, { token: 'q' }), true), 'h');
  t.equal(selectWsProtocol(new Set(['ditto-token.xyz', 'ditto-gst'])), 'ditto-gst');
  t.equal(selectWsProtocol(new Set(['ditto-token.xyz'])), false, 'never echoes the token');
});

t.test('tokens never reach the request log', async (t) => {
  t.equal(redactUrl('/webrtc/sessions/x/audio?token=abc_-9&a=1'), '/webrtc/sessions/x/audio?token=[redacted]&a=1');
  t.equal(redactUrl('/a?b=1&TOKEN=z'), '/a?b=1&TOKEN=[redacted]');
  t.equal(redactUrl('/a?notoken=1'), '/a?notoken=1');
});

t.test('origin allow-list', async (t) => {
  const p = { allowed: ['https://app.example.com'] };
  t.ok(originAllowed(p, undefined, 'srv:8080'), 'no Origin: not a browser cross-origin request');
  t.ok(originAllowed(p, 'http://srv:8080', 'srv:8080'), 'same origin (the demo page)');
  t.ok(originAllowed(p, 'https://app.example.com', 'srv:8080'));
  t.ok(originAllowed(p, 'https://APP.example.com:443', 'srv:8080'), 'compared after normalising');
  t.notOk(originAllowed(p, 'https://evil.example', 'srv:8080'));
  t.notOk(originAllowed(p, 'http://srv:8081', 'srv:8080'), 'another port is another origin');
  t.notOk(originAllowed(p, 'null', 'srv:8080'));
  t.ok(originAllowed({ allowed: ['*'] }, 'https://evil.example', 'srv'));
});

const BASE: AuthOptions = { adminTokens: ['admin-token-0123456789'], apiKeys: [], corsOrigins: ['https://app.example.com'], offerRateMax: 3, offerRateWindowS: 60 };

async function app(opts: Partial<AuthOptions> = {}) {
  const sessions = new EventEmitter();
  const a = Fastify({ logger: false });
  await a.register(errorHandling);
  await a.register(authPlugin, { ...BASE, ...opts, sessions });
  a.post('/offer', { onRequest: a.auth.limitOffers, preHandler: a.auth.requireApiKey }, async () => {
    const id = `s${sessions.listenerCount('opened')}-${Math.random()}`;
    sessions.emit('opened', { id });
    return { session_id: id, session_token: a.auth.handOut(id) };
  });
  a.get('/sessions', { preHandler: a.auth.requireAdmin }, async () => ({ ok: true }));
  a.get('/sessions/:id', { preHandler: a.auth.requireSessionOwner() }, async (r) => ({ id: (r.params as { id: string }).id }));
  a.get('/sessions/:id/ws', { preHandler: a.auth.requireSessionOwner({ websocket: true }) }, async () => ({ ok: true }));
  await a.ready();
  return { a, close: (id: string) => sessions.emit('closed', { id }) };
}

t.test('plugin: session routes need the session token', async (t) => {
  const { a, close } = await app();
  t.teardown(() => a.close());
  const created = (await a.inject({ method: 'POST', url: '/offer' })).json();
  const other = (await a.inject({ method: 'POST', url: '/offer' })).json();
  t.match(created.session_token, /^[A-Za-z0-9_-]{43}$/);
  const get = (url: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers });

  const missing = await get(`/sessions/${created.session_id}`);
  t.equal(missing.statusCode, 401);
  t.equal(missing.json().error.code, 'AUTH_REQUIRED');
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="ditto-gst"');
  const wrong = await get(`/sessions/${created.session_id}`, { authorization: `Bearer ${other.session_token}` });
  t.equal(wrong.statusCode, 403);
  t.equal(wrong.json().error.code, 'AUTH_FORBIDDEN');
  t.equal((await get(`/sessions/${created.session_id}`, { authorization: `Bearer ${created.session_token}` })).statusCode, 200);
  t.equal((await get(`/sessions/${created.session_id}`, { authorization: 'Bearer admin-token-0123456789' })).statusCode, 200, 'an operator may act on any session');
  t.equal((await get(`/sessions/${created.session_id}?token=${created.session_token}`)).statusCode, 401, 'no query token outside WebSockets');
  t.equal((await get(`/sessions/${created.session_id}/ws?token=${created.session_token}`)).statusCode, 200);
  t.equal((await get(`/sessions/${created.session_id}/ws`, { 'sec-websocket-protocol': `ditto-gst, ditto-token.${created.session_token}` })).statusCode, 200);
  t.equal((await get(`/sessions/${created.session_id}/ws?token=${other.session_token}`)).statusCode, 403);

  close(created.session_id);
  const gone = await get(`/sessions/${created.session_id}`, { authorization: `Bearer ${created.session_token}` });
  t.equal(gone.statusCode, 404);
  t.equal(gone.json().error.code, 'SESSION_NOT_FOUND');
});

t.test('plugin: listing needs an admin token; none configured refuses everyone', async (t) => {
  const { a } = await app();
  t.teardown(() => a.close());
  t.equal((await a.inject({ method: 'GET', url: '/sessions' })).statusCode, 401);
  t.equal((await a.inject({ method: 'GET', url: '/sessions', headers: { authorization: 'Bearer nope' } })).statusCode, 403);
  t.equal((await a.inject({ method: 'GET', url: '/sessions', headers: { authorization: 'Bearer admin-token-0123456789' } })).statusCode, 200);
  const { a: b } = await app({ adminTokens: [] });
  t.teardown(() => b.close());
  const r = await b.inject({ method: 'GET', url: '/sessions', headers: { authorization: 'Bearer anything' } });
  t.equal(r.statusCode, 403);
  t.match(r.json().error.message, /no admin token is configured/);
});

t.test('plugin: API keys and the offer rate limit', async (t) => {
  const { a } = await app({ apiKeys: ['key-1'], offerRateMax: 2 });
  t.teardown(() => a.close());
  const offer = (headers: Record<string, string> = {}, remoteAddress = '10.0.0.1') => a.inject({ method: 'POST', url: '/offer', headers, remoteAddress });
  t.equal((await offer()).statusCode, 401);
  t.equal((await offer({ authorization: 'Bearer key-2' })).statusCode, 403);
  t.equal((await offer({ authorization: 'Bearer key-1' })).statusCode, 200);
  t.equal((await offer({ authorization: 'Bearer key-1' })).statusCode, 200);
  const limited = await offer({ authorization: 'Bearer key-1' });
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error.code, 'RATE_LIMITED');
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After');
  t.equal((await offer({ authorization: 'Bearer admin-token-0123456789' })).statusCode, 200, 'another key has its own budget');
  // Without a key, the budget is per address (two refusals above count against 10.0.0.1).
  t.equal((await offer({}, '10.0.0.9')).statusCode, 401, 'another address is not limited yet');
});

t.test('plugin: Origin allow-list and CORS', async (t) => {
  const { a } = await app();
  t.teardown(() => a.close());
  const evil = await a.inject({ method: 'POST', url: '/offer', headers: { origin: 'https://evil.example', host: 'srv:1' } });
  t.equal(evil.statusCode, 403);
  t.equal(evil.json().error.code, 'ORIGIN_NOT_ALLOWED');
  const upgrade = await a.inject({ method: 'GET', url: '/sessions/x/ws', headers: { origin: 'https://evil.example', host: 'srv:1', upgrade: 'websocket' } });
  t.equal(upgrade.statusCode, 403, 'WebSocket upgrades too');
  const ok = await a.inject({ method: 'POST', url: '/offer', headers: { origin: 'https://app.example.com', host: 'srv:1' } });
  t.equal(ok.statusCode, 200);
  t.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
  t.match(String(ok.headers['access-control-expose-headers']), /Location/);
  const pre = await a.inject({ method: 'OPTIONS', url: '/offer', headers: { origin: 'https://app.example.com', host: 'srv:1', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
  t.equal(pre.statusCode, 204);
  t.match(String(pre.headers['access-control-allow-headers']), /Authorization/);
  const same = await a.inject({ method: 'POST', url: '/offer', headers: { origin: 'http://srv:1', host: 'srv:1' } });
  t.equal(same.statusCode, 200, 'the server\'s own pages');
});
