import t, { type Test } from 'tap';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer } from '../helpers/server-app.js';
import { withoutCodec } from '../helpers/chromium-like-offer.js';

/** Every refusal path of the HTTP API, through app.inject(): one error shape, stable codes, right statuses. */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');

const server = await testServer({ DITTO_BODY_LIMIT_BYTES: String(64 * 1024) });
t.teardown(() => server.cleanup());
const { app, mediaDir } = server;
server.app.get('/test/boom', async () => {
  throw new Error('secret internal detail');
});
writeFileSync(join(mediaDir, 'notes.txt'), 'x');
symlinkSync('/etc/hostname', join(mediaDir, 'escape.wav'));

function assertErrorShape(t: Test, body: unknown, code: string) {
  const b = body as { error: Record<string, unknown> };
  t.same(Object.keys(b), ['error'], 'one top-level key');
  t.equal(b.error['code'], code);
  t.type(b.error['message'], 'string');
  t.ok(Object.keys(b.error).every((k) => ['code', 'message', 'details'].includes(k)), 'only code, message, details');
}

const post = (payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/webrtc/offer', payload: payload as string, headers });

t.test('GET / answers a JSON status', async (t) => {
  const r = await app.inject('/');
  t.equal(r.statusCode, 200);
  t.match(r.json(), { name: 'ditto-gst', demo: '/demo', sessions: { active: 0, max: 8 } });
});

t.test('404 for unknown routes and sessions', async (t) => {
  let r = await app.inject('/nope?x=1');
  t.equal(r.statusCode, 404);
  assertErrorShape(t, r.json(), 'NOT_FOUND');
  t.equal(r.json().error.message, 'no route GET /nope');
  r = await app.inject('/webrtc/sessions/00000000-0000-0000-0000-000000000000');
  t.equal(r.statusCode, 404);
  assertErrorShape(t, r.json(), 'SESSION_NOT_FOUND');
  r = await app.inject({ method: 'DELETE', url: '/webrtc/sessions/abc' });
  t.equal(r.statusCode, 404);
  assertErrorShape(t, r.json(), 'SESSION_NOT_FOUND');
  r = await app.inject({ method: 'GET', url: '/webrtc/offer' });
  t.equal(r.statusCode, 404, 'wrong method');
  assertErrorShape(t, r.json(), 'NOT_FOUND');
});

t.test('GET /webrtc/sessions lists nothing yet', async (t) => {
  const r = await app.inject('/webrtc/sessions');
  t.equal(r.statusCode, 200);
  t.same(r.json(), { sessions: [], active: 0, max: 8 });
});

t.test('415 for bodies that are not JSON', async (t) => {
  for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
    const r = await post('sdp=v%3D0', { 'content-type': type });
    t.equal(r.statusCode, 415, type);
    assertErrorShape(t, r.json(), 'UNSUPPORTED_MEDIA_TYPE');
  }
});

t.test('413 for bodies over the limit', async (t) => {
  const r = await post(JSON.stringify(offerPayload(OFFER + 'a=x:' + 'y'.repeat(70 * 1024) + '\r\n')), { 'content-type': 'application/json' });
  t.equal(r.statusCode, 413);
  assertErrorShape(t, r.json(), 'PAYLOAD_TOO_LARGE');
});

t.test('400 for broken JSON and schema violations', async (t) => {
  let r = await post('{"sdp": ', { 'content-type': 'application/json' });
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'INVALID_JSON');
  r = await post('', { 'content-type': 'application/json' });
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'INVALID_JSON');
  r = await post({});
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'VALIDATION_FAILED');
  t.same(r.json().error.details.map((d: { path: string }) => d.path).sort(), ['audio_path', 'sdp', 'source_path', 'type']);
  r = await post(offerPayload(OFFER, { type: 'answer' }));
  t.equal(r.statusCode, 400);
  t.match(r.json().error.details, [{ path: 'type' }]);
  r = await post([1, 2]);
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'VALIDATION_FAILED');
  r = await post(offerPayload(OFFER, { run_kwargs: 'fast' }));
  t.equal(r.statusCode, 400);
  t.match(r.json().error.details, [{ path: 'run_kwargs' }]);
});

t.test('400 for media paths', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ audio_path: '/etc/passwd.wav' }, 'MEDIA_PATH_OUTSIDE_ROOTS'],
    [{ audio_path: '../../../../etc/hostname.wav' }, 'MEDIA_PATH_OUTSIDE_ROOTS'],
    [{ audio_path: 'escape.wav' }, 'MEDIA_PATH_OUTSIDE_ROOTS'],
    [{ audio_path: 'missing.wav' }, 'MEDIA_NOT_FOUND'],
    [{ audio_path: 'notes.txt' }, 'MEDIA_EXTENSION_NOT_ALLOWED'],
    [{ source_path: 'speech.wav' }, 'MEDIA_EXTENSION_NOT_ALLOWED'],
    [{ source_path: 'missing.png' }, 'MEDIA_NOT_FOUND'],
    [{ source_path: join(mediaDir, 'uploads.png') }, 'MEDIA_NOT_FOUND'],
  ];
  for (const [extra, code] of cases) {
    const r = await post(offerPayload(OFFER, extra));
    t.equal(r.statusCode, 400, JSON.stringify(extra));
    assertErrorShape(t, r.json(), code);
  }
  const r = await post(offerPayload(OFFER, { audio_path: 'notes.txt' }));
  t.equal(r.json().error.message, 'Unsupported audio extension: .txt', "the predecessor's message text");
  t.match(r.json().error.details, { field: 'audio_path', allowed: ['.wav', '.mp3', '.m4a', '.flac', '.ogg', '.aac', '.webm'] });
});

t.test('400 for offers we cannot answer (never an abort)', async (t) => {
  let r = await post(offerPayload('hello'));
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'INVALID_SDP');
  const vp9only = withoutCodec(withoutCodec(withoutCodec(OFFER, 'VP8'), 'H264'), 'AV1');
  r = await post(offerPayload(vp9only));
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'NO_COMMON_CODEC');
  t.match(r.json().error.details, { kind: 'video', supported: ['VP8', 'H264'] });
  r = await post(offerPayload(withoutCodec(OFFER, 'opus')));
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'NO_COMMON_CODEC');
  r = await post(offerPayload(OFFER.replace(/a=recvonly/g, 'a=sendonly')));
  t.equal(r.statusCode, 400);
  assertErrorShape(t, r.json(), 'OFFER_MEDIA_MISSING');
});

t.test('500 hides internals', async (t) => {
  const r = await app.inject('/test/boom');
  t.equal(r.statusCode, 500);
  assertErrorShape(t, r.json(), 'INTERNAL');
  t.notMatch(r.body, /secret/);
});

t.test('/metrics counts errors by code', async (t) => {
  const r = await app.inject('/metrics');
  t.equal(r.statusCode, 200);
  t.match(r.headers['content-type'], /text\/plain/);
  t.match(r.body, /ditto_errors_total\{code="NOT_FOUND"\} [1-9]/);
  t.match(r.body, /ditto_errors_total\{code="NO_COMMON_CODEC"\} 2/);
  t.match(r.body, /ditto_errors_total\{code="UNSUPPORTED_MEDIA_TYPE"\} 3/);
  t.match(r.body, /ditto_sessions_active 0/);
  t.match(r.body, /ditto_offer_answer_seconds_count 0/);
});
