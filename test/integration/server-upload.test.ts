import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UploadStore } from '../../src/uploads/upload-store.js';
import { AUDIO_FORMATS, IMAGE_FORMATS, makeAudio, makeImage, multipart, type FilePart } from '../helpers/media-files.js';
import { CHROMIUM_OFFER_FIXTURE, testServer, type TestServer } from '../helpers/server-app.js';

/**
 * POST /upload against real GStreamer decode probes, with media files made at test time in every accepted
 * format. Checks the one error shape, that nothing half-written is left in the upload directory, and that
 * the answer goes into POST /webrtc/offer as it is.
 */

const work = mkdtempSync(join(tmpdir(), 'ditto-upload-files-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const audio = Object.fromEntries(Object.keys(AUDIO_FORMATS).map((f) => [f, readFileSync(makeAudio(work, f))]));
const images = Object.fromEntries(Object.keys(IMAGE_FORMATS).map((f) => [f, readFileSync(makeImage(work, f))]));

const post = (s: TestServer, parts: Parameters<typeof multipart>[0]) => {
  const { payload, headers } = multipart(parts);
  return s.app.inject({ method: 'POST', url: '/upload', payload, headers });
};
const audioPart = (data: Buffer, filename = 'speech.wav'): FilePart => ({ field: 'audio', filename, data });
const sourcePart = (data: Buffer, filename = 'face.png'): FilePart => ({ field: 'source', filename, data });
/** Everything in the upload directory, temporaries included. */
const uploaded = (s: TestServer) => {
  try {
    return readdirSync(s.config.uploadDir).sort();
  } catch {
    return [];
  }
};

t.test('every accepted audio and image format is stored under its content hash', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const audioFormats = Object.keys(audio);
  const imageFormats = Object.keys(images);
  for (let i = 0; i < audioFormats.length; i++) {
    const af = audioFormats[i]!;
    const imf = imageFormats[i % imageFormats.length]!;
    // The client's names are misleading on purpose: the type comes from the content.
    const r = await post(s, [audioPart(audio[af]!, 'clip.bin'), sourcePart(images[imf]!, 'photo.txt')]);
    t.equal(r.statusCode, 200, `${af} + ${imf}: ${r.body}`);
    const body = r.json();
    const ext = { 'ogg-vorbis': 'ogg', 'ogg-opus': 'ogg', webm: 'webm' }[af] ?? af;
    t.match(body.audio_path, new RegExp(`^[0-9a-f]{32}\\.${ext}$`), af);
    t.match(body.source_path, new RegExp(`^[0-9a-f]{32}\\.${imf === 'jpeg' ? 'jpg' : imf}$`), imf);
    t.equal(body.audio_id, body.audio_path.split('.')[0]);
    t.equal(body.source_id, body.source_path.split('.')[0]);
    t.match(body.files.source, { width: 96, height: 64, format: imf });
    t.same(readFileSync(join(s.config.uploadDir, body.audio_path)), audio[af], `${af} stored byte for byte`);
  }
  t.notOk(uploaded(s).some((n) => n.startsWith('.')), 'no temporary file left');
});

t.test('the answer goes into POST /webrtc/offer as it is', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const r = await post(s, [audioPart(audio['ogg-opus']!), sourcePart(images['jpeg']!)]);
  t.equal(r.statusCode, 200, r.body);
  const { audio_path, source_path } = r.json();
  const offer = await s.app.inject({
    method: 'POST',
    url: '/webrtc/offer',
    payload: { sdp: readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8'), type: 'offer', audio_path, source_path },
  });
  t.equal(offer.statusCode, 200, offer.body.slice(0, 300));
  const del = await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${offer.json().session_id}` });
  t.equal(del.statusCode, 200);
});

t.test('one field alone is accepted; identical content is stored once', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const a = await post(s, [sourcePart(images['png']!)]);
  const b = await post(s, [sourcePart(images['png']!, 'again.png')]);
  t.equal(a.statusCode, 200, a.body);
  t.equal(b.json().source_path, a.json().source_path);
  t.notOk('audio_path' in a.json());
  t.same(uploaded(s), [a.json().source_path]);
});

t.test('content decides, not the name; bad input leaves nothing behind', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const cases: [string, Parameters<typeof multipart>[0], number, string][] = [
    ['text named .wav', [audioPart(Buffer.from('hello, I am not audio at all'.repeat(4)), 'speech.wav')], 415, 'UNSUPPORTED_MEDIA_FORMAT'],
    ['an image in the audio field', [audioPart(images['png']!, 'speech.wav')], 415, 'UNSUPPORTED_MEDIA_FORMAT'],
    ['audio in the source field', [sourcePart(audio['wav']!, 'face.png')], 415, 'UNSUPPORTED_MEDIA_FORMAT'],
    ['WAV magic, garbage body', [audioPart(Buffer.concat([audio['wav']!.subarray(0, 12), Buffer.alloc(4000, 0x55)]))], 422, 'MEDIA_DECODE_FAILED'],
    ['PNG magic, garbage body', [sourcePart(Buffer.concat([images['png']!.subarray(0, 33), Buffer.alloc(2000, 0x55)]))], 422, 'MEDIA_DECODE_FAILED'],
    ['empty file', [audioPart(Buffer.alloc(0))], 400, 'UPLOAD_INVALID'],
    ['no file at all', [{ field: 'note', value: 'hi' }], 400, 'UPLOAD_FIELD_MISSING'],
    ['unknown file field', [{ field: 'video', filename: 'x.png', data: images['png']! }], 400, 'UPLOAD_INVALID'],
    ['a field twice', [audioPart(audio['wav']!), audioPart(audio['flac']!)], 400, 'UPLOAD_INVALID'],
  ];
  for (const [what, parts, status, code] of cases) {
    const r = await post(s, parts);
    t.equal(r.statusCode, status, `${what}: ${r.body}`);
    t.equal(r.json().error?.code, code, what);
    t.type(r.json().error?.message, 'string');
  }
  const json = await s.app.inject({ method: 'POST', url: '/upload', payload: { audio: 'x' } });
  t.equal(json.statusCode, 415);
  t.equal(json.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
  t.same(uploaded(s), [], 'nothing written');
});

t.test('a decompression bomb is refused from its header', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  // A valid 96x64 PNG whose IHDR now claims 30000x30000 (CRC no longer matches: nothing may decode it).
  const bomb = Buffer.from(images['png']!);
  bomb.writeUInt32BE(30000, 16);
  bomb.writeUInt32BE(30000, 20);
  const r = await post(s, [audioPart(audio['wav']!), sourcePart(bomb)]);
  t.equal(r.statusCode, 422, r.body);
  t.match(r.json().error, { code: 'IMAGE_TOO_LARGE', details: { width: 30000, height: 30000 } });
  t.same(uploaded(s), [], 'the valid audio of the same request was not kept either');
});

t.test('size limits answer 413 while streaming, per field', async (t) => {
  const s = await testServer({ DITTO_UPLOAD_MAX_AUDIO_BYTES: '20000', DITTO_UPLOAD_MAX_IMAGE_BYTES: '2048' });
  t.ok(images['png']!.length < 2048 && images['jpeg']!.length > 2048, 'fixture sizes straddle the image limit');
  t.teardown(() => s.cleanup());
  const big = await post(s, [sourcePart(images['png']!), audioPart(audio['wav']!)]);
  t.equal(big.statusCode, 413, big.body);
  t.match(big.json().error, { code: 'PAYLOAD_TOO_LARGE', details: { field: 'audio', limit: 20000 } });
  const img = await post(s, [sourcePart(images['jpeg']!)]);
  t.equal(img.statusCode, 413, img.body);
  t.match(img.json().error, { code: 'PAYLOAD_TOO_LARGE', details: { field: 'source' } });
  t.same(uploaded(s), [], 'no temporary or partial file left');
  t.ok(audio['mp3']!.length < 20000);
  const ok = await post(s, [audioPart(audio['mp3']!)]);
  t.equal(ok.statusCode, 200, 'under the limit passes');
});

t.test('all or nothing: a bad second field removes the first', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const r = await post(s, [audioPart(audio['flac']!), sourcePart(Buffer.from('GIF89a not accepted here, sorry'))]);
  t.equal(r.statusCode, 415, r.body);
  t.same(uploaded(s), []);
});

t.test('retention: age first, then total size, oldest first, never the files just stored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-retention-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  const file = (name: string, bytes: number, ageS: number) => {
    writeFileSync(join(dir, name), Buffer.alloc(bytes));
    const when = new Date(now - ageS * 1000);
    utimesSync(join(dir, name), when, when);
  };
  file('ancient.wav', 10, 7200);
  file('old.wav', 400, 1000);
  file('mid.wav', 400, 500);
  file('new.wav', 400, 10);
  file('.upload-crashed', 50, 4000); // a temporary of a request that never finished
  file('.upload-active', 50, 5); // one being written right now
  const store = new UploadStore(dir, { maxAgeMs: 3600_000, maxTotalBytes: 900 });
  const r = await store.prune(new Set(['old.wav']), now);
  t.same(r.removed.sort(), ['.upload-crashed', 'ancient.wav', 'mid.wav']);
  t.same(readdirSync(dir).sort(), ['.upload-active', 'new.wav', 'old.wav']);
  t.equal(r.totalBytes, 800);
  t.ok(statSync(join(dir, 'old.wav')).isFile());
});

/** POST /upload as one client: its address, and its API key when it has one. */
const postAs = (s: TestServer, who: { ip: string; key?: string }, parts: Parameters<typeof multipart>[0]) => {
  const { payload, headers } = multipart(parts);
  const auth = who.key ? { authorization: `Bearer ${who.key}` } : {};
  return s.app.inject({ method: 'POST', url: '/upload', payload, headers: { ...headers, ...auth }, remoteAddress: who.ip });
};

t.test('quota per uploader: by address, or by API key behind one address; others are not affected', async (t) => {
  const s = await testServer({ DITTO_UPLOAD_QUOTA_FILES_PER_UPLOADER: '2' }, { asOperator: false });
  t.teardown(() => s.cleanup());
  const a = { ip: '10.0.0.1' };
  const b = { ip: '10.0.0.2' };
  t.equal((await postAs(s, a, [audioPart(audio['wav']!), sourcePart(images['png']!)])).statusCode, 200);
  const again = await postAs(s, a, [audioPart(audio['wav']!)]);
  t.equal(again.statusCode, 429, 'at the quota: refused before reading');
  const over = await postAs(s, { ip: a.ip }, [audioPart(audio['mp3']!)]);
  t.equal(over.statusCode, 429, over.body);
  t.match(over.json().error, { code: 'UPLOAD_QUOTA_EXCEEDED', details: { used_files: 2, quota_files: 2 } });
  t.ok(Number(over.headers['retry-after']) > 0, 'Retry-After: when the oldest upload ages out');
  t.equal(uploaded(s).length, 2, 'nothing of the refused upload stored');
  const other = await postAs(s, b, [audioPart(audio['mp3']!), sourcePart(images['png']!)]);
  t.equal(other.statusCode, 200, `another address has its own quota: ${other.body}`);

  const keys = ['tenant-one-0123456789', 'tenant-two-0123456789'];
  const k = await testServer({ DITTO_UPLOAD_QUOTA_BYTES_PER_UPLOADER: String(audio['wav']!.length + 10), DITTO_AUTH_API_KEYS: keys.join(',') }, { asOperator: false });
  t.teardown(() => k.cleanup());
  const one = { ip: '10.0.0.9', key: keys[0] };
  const two = { ip: '10.0.0.9', key: keys[1] };
  t.equal((await postAs(k, one, [audioPart(audio['wav']!)])).statusCode, 200);
  const full = await postAs(k, one, [sourcePart(images['png']!)]);
  t.equal(full.statusCode, 429, full.body);
  t.match(full.json().error, { code: 'UPLOAD_QUOTA_EXCEEDED', details: { used_bytes: audio['wav']!.length } });
  t.equal((await postAs(k, two, [audioPart(audio['wav']!)])).statusCode, 200, 'the same content is charged to the second key too');
  t.equal((await postAs(k, two, [sourcePart(images['png']!)])).statusCode, 429, 'and counts against its quota');
  t.equal((await postAs(k, { ip: one.ip, key: 'made-up-key-0123456789' }, [sourcePart(images['png']!)])).statusCode, 403, 'an invented key is no new uploader');
});

t.test('retention takes from the heaviest uploader, not from others\' fresh files', async (t) => {
  const sizes = [audio['wav']!, audio['mp3']!, audio['flac']!, images['png']!].map((b) => b.length);
  // Room for exactly these four: the next upload pushes the directory over the limit.
  const limit = sizes.reduce((x, y) => x + y, 0);
  t.ok(audio['m4a']!.length < audio['wav']!.length, 'removing one file makes room');
  const s = await testServer({ DITTO_UPLOAD_RETENTION_MAX_TOTAL_BYTES: String(limit) }, { asOperator: false });
  t.teardown(() => s.cleanup());
  const light = { ip: '10.1.0.1' };
  const heavy = { ip: '10.1.0.2' };
  const lightFile = (await postAs(s, light, [sourcePart(images['png']!)])).json().source_path as string;
  const heavyFiles: string[] = [];
  for (const f of ['wav', 'mp3', 'flac']) {
    const r = await postAs(s, heavy, [audioPart(audio[f]!)]);
    t.equal(r.statusCode, 200, r.body);
    heavyFiles.push(r.json().audio_path);
  }
  // The light uploader's file is the oldest on disk (made explicit: mtimes are what retention orders by).
  const past = (ageS: number) => new Date(Date.now() - ageS * 1000);
  utimesSync(join(s.config.uploadDir, lightFile), past(300), past(300));
  heavyFiles.forEach((n, i) => utimesSync(join(s.config.uploadDir, n), past(200 - i * 10), past(200 - i * 10)));
  const r = await postAs(s, heavy, [audioPart(audio['m4a']!)]);
  t.equal(r.statusCode, 200, r.body);
  const left = uploaded(s);
  t.ok(left.includes(lightFile), 'the light uploader\'s older file stays');
  t.notOk(left.includes(heavyFiles[0]!), 'the heavy uploader\'s oldest file went');
  t.ok(left.includes(r.json().audio_path), 'the file just stored stays');
});
