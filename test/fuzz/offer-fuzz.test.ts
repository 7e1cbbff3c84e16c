import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer } from '../helpers/server-app.js';

/**
 * Hostile offers through the real app: malformed, huge and odd SDP, JSON type confusion, unicode and traversal
 * paths, and seeded random mutations of a real offer. Every answer is either a session (closed again at once)
 * or a 4xx in the one error shape; never a 500, never an abort, never an internal name.
 */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
const s = await testServer({ DITTO_BODY_LIMIT_BYTES: String(256 * 1024) });
t.teardown(() => s.cleanup());

let seed = 0x5eed;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};

async function expectClean(t: Test, what: string, payload: unknown, raw = false) {
  const r = await s.app.inject({
    method: 'POST',
    url: '/webrtc/offer',
    ...(raw ? { payload: payload as string, headers: { 'content-type': 'application/json' } } : { payload: payload as object }),
  });
  if (r.statusCode === 200) {
    await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${r.json().session_id}` });
    return;
  }
  const ok = r.statusCode >= 400 && r.statusCode < 500;
  if (!ok) t.fail(`${what}: HTTP ${r.statusCode} ${r.body.slice(0, 200)}`);
  const body = r.json() as { error?: { code?: unknown; message?: unknown } };
  if (typeof body.error?.code !== 'string') t.fail(`${what}: not the error shape: ${r.body.slice(0, 200)}`);
  if (/session-[0-9a-f]|GstPipeline|filesrc|decodebin|\n\s+at /.test(r.body)) t.fail(`${what}: internal names in ${r.body.slice(0, 300)}`);
}

const lines = OFFER.split('\r\n');
const mline = (i: number) => `m=video 9 UDP/TLS/RTP/SAVPF ${96 + (i % 30)}\r\nc=IN IP4 0.0.0.0\r\na=mid:x${i}\r\na=recvonly\r\na=rtpmap:${96 + (i % 30)} VP8/90000`;

t.test('hand-made hostile SDP', async (t) => {
  const cases: Array<[string, string]> = [
    ['empty lines', '\r\n\r\n\r\n'],
    ['not SDP', 'GET / HTTP/1.1'],
    ['binary', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37) & 0xff)).toString('latin1')],
    ['no m-lines', lines.filter((l) => !l.startsWith('m=')).join('\r\n')],
    ['300 extra m-lines', OFFER + Array.from({ length: 300 }, (_, i) => mline(i)).join('\r\n') + '\r\n'],
    ['duplicate payload types', OFFER.replace(/a=rtpmap:(\d+) VP9\/90000/, 'a=rtpmap:96 VP9/90000').replace(/a=rtpmap:(\d+) H264\/90000/g, 'a=rtpmap:96 H264/90000')],
    ['huge attribute', OFFER.replace('a=recvonly', `a=recvonly\r\na=x-junk:${'A'.repeat(150_000)}`)],
    ['payload type out of range', OFFER.replace(/a=rtpmap:(\d+) VP8/, 'a=rtpmap:4096 VP8')],
    ['negative port', OFFER.replace(/m=video \d+/, 'm=video -1')],
    ['rtpmap without codec', OFFER.replace(/a=rtpmap:(\d+) VP8\/90000/, 'a=rtpmap:$1')],
    ['NUL bytes', OFFER.replace('a=recvonly', 'a=recv\u0000only')],
    ['unicode everywhere', OFFER.replace(/a=mid:\d+/g, 'a=mid:☃𝕏')],
    ['only CR', OFFER.replace(/\r\n/g, '\r')],
  ];
  for (const [what, sdp] of cases) await expectClean(t, what, offerPayload(sdp));
  t.pass('all answered cleanly');
});

t.test('JSON type confusion and paths', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['array body', [OFFER]],
    ['string body', 'offer'],
    ['number body', 42],
    ['null body', null],
    ['sdp as number', offerPayload(OFFER, { sdp: 1 })],
    ['sdp as object', offerPayload(OFFER, { sdp: { toString: 'x' } })],
    ['type answer', offerPayload(OFFER, { type: 'answer' })],
    ['audio_path array', offerPayload(OFFER, { audio_path: ['speech.wav'] })],
    ['kwargs array', offerPayload(OFFER, { run_kwargs: [1, 2] })],
    ['kwargs proto', offerPayload(OFFER, { run_kwargs: { __proto__: { frame_scale: 9 }, constructor: { prototype: 1 } } })],
    ['traversal', offerPayload(OFFER, { audio_path: '../../../../../../etc/passwd.wav' })],
    ['encoded traversal', offerPayload(OFFER, { audio_path: '..%2F..%2Fetc%2Fpasswd.wav' })],
    ['absolute', offerPayload(OFFER, { source_path: '/etc/ssl/certs/ca.png' })],
    ['unicode dots', offerPayload(OFFER, { audio_path: '\u2025/\u2025/etc/passwd.wav' })],
    ['RTL override', offerPayload(OFFER, { source_path: 'evil\u202egnp.png' })],
    ['very long path', offerPayload(OFFER, { audio_path: `${'a/'.repeat(3000)}x.wav` })],
    ['newline in path', offerPayload(OFFER, { audio_path: 'speech.wav\n! fakesink' })],
    ['launch syntax in path', offerPayload(OFFER, { audio_path: 'x.wav" ! filesink location=/tmp/pwn "' })],
    ['audio_source bogus', offerPayload(OFFER, { audio_source: 'camera' })],
  ];
  for (const [what, body] of cases) await expectClean(t, what, body);
  await expectClean(t, 'truncated JSON', '{"sdp": "v=0', true);
  await expectClean(t, 'deep JSON', '['.repeat(5000) + ']'.repeat(5000), true);
  t.pass('all answered cleanly');
});

t.test('seeded random mutations of a real offer', async (t) => {
  const ops = [
    (l: string[]) => l.splice(rand(l.length), 1),
    (l: string[]) => l.splice(rand(l.length), 0, l[rand(l.length)]!),
    (l: string[]) => {
      const i = rand(l.length);
      l[i] = l[i]!.slice(0, rand(l[i]!.length + 1));
    },
    (l: string[]) => {
      const i = rand(l.length);
      l[i] = l[i]!.replace(/\d+/, String(rand(70000)));
    },
  ];
  for (let round = 0; round < 60; round++) {
    const l = OFFER.split('\r\n');
    for (let k = 0, n = 1 + rand(4); k < n; k++) ops[rand(ops.length)]!(l);
    await expectClean(t, `mutation ${round}`, offerPayload(l.join('\r\n')));
  }
  t.pass('all answered cleanly');
  t.equal((await s.app.inject('/healthz')).statusCode, 200, 'the server is still up');
});
