import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, privateTmp } from './disk.js';
import { AUDIO_FORMATS, IMAGE_FORMATS, PNG_SIGNATURE, makeAudio, makeImage, multipart, pngDeclaring, type FilePart } from '../helpers/media-files.js';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer } from '../helpers/server-app.js';

/**
 * Hostile media in every accepted container, through the real app (inject) with real decode probes: empty,
 * truncated, garbage after a valid header, header only, polyglots, wrong extensions, image bombs (huge
 * dimensions with a valid header, oversized chunks), and hostile upload fields and file names. Each one as an
 * upload and as a file an offer names. Every answer is a 4xx in the one error shape with a stable code — never
 * a 500, never internal names — and nothing is left on disk (everything under the process's private TMPDIR,
 * the upload directory included, is compared before and after) and no session stays open.
 */

const tmp = privateTmp();
t.teardown(() => tmp.cleanup());
const work = mkdtempSync(join(tmp.root, 'files-'));
const audio = Object.fromEntries(Object.keys(AUDIO_FORMATS).map((f) => [f, readFileSync(makeAudio(work, f))]));
const images = Object.fromEntries(Object.keys(IMAGE_FORMATS).map((f) => [f, readFileSync(makeImage(work, f))]));
rmSync(work, { recursive: true });
const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');

const s = await testServer({ DITTO_AUTH_OFFER_RATE_MAX: '0' }); // one client sends every offer here
t.teardown(() => s.cleanup());
await s.app.ready();
await s.app.media.warm();
mkdirSync(s.config.uploadDir, { recursive: true });
const baseline = tmp.snapshot();

/** The real JPEG with its frame header (SOF0/SOF2) rewritten to declare width x height. */
function jpegDeclaring(width: number, height: number): Buffer {
  const b = Buffer.from(images['jpeg']!);
  for (let i = 2; i + 9 < b.length; ) {
    const marker = b[i + 1]!;
    if (marker === 0xc0 || marker === 0xc2) {
      b.writeUInt16BE(height, i + 5);
      b.writeUInt16BE(width, i + 7);
      return b;
    }
    i += 2 + b.readUInt16BE(i + 2);
  }
  throw new Error('no SOF in the fixture JPEG');
}
/** A WebP VP8X header declaring a 16384 x 16384 canvas (the format's maximum), no image data after it. */
function webpBomb(): Buffer {
  const vp8x = Buffer.alloc(10);
  vp8x.writeUIntLE(16383, 4, 3);
  vp8x.writeUIntLE(16383, 7, 3);
  const chunk = Buffer.concat([Buffer.from('VP8X'), Buffer.from([10, 0, 0, 0]), vp8x]);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + chunk.length, 4);
  riff.write('WEBP', 8, 'latin1');
  return Buffer.concat([riff, chunk]);
}
/** The real WAV with its data chunk declaring 4 GiB (a reader that trusts it allocates or waits forever). */
function wavHugeChunk(): Buffer {
  const b = Buffer.from(audio['wav']!);
  b.writeUInt32LE(0xffffffff, 4);
  const at = b.indexOf(Buffer.from('data'));
  b.writeUInt32LE(0xfffffff0, at + 4);
  return b.subarray(0, at + 8 + 256);
}
/** A PNG whose first chunk after IHDR claims 2 GiB. */
function pngHugeChunk(): Buffer {
  const b = Buffer.from(images['png']!.subarray(0, 33 + 12));
  b.writeUInt32BE(0x7fffffff, 33);
  return b;
}

const garbage = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + ((i * i) >> 3)) & 0xff));
const kindOf = (format: string) => (format in IMAGE_FORMATS ? 'image' : 'audio');

interface Hostile {
  what: string;
  kind: 'audio' | 'image';
  data: Buffer;
  /** Truncations a decoder may legitimately accept (a cut audio stream is still audio). */
  mayPass?: boolean;
  code?: RegExp;
}
const hostile: Hostile[] = [];
for (const [format, data] of Object.entries({ ...audio, ...images })) {
  const kind = kindOf(format);
  // Any bytes after a WAV header are samples: garbage there is noise, not a broken file. The element's image
  // loader (which the probe runs, as dittoimagesrc) shows a JPEG or WebP cut off in its picture data with the
  // rest grey, and decodes what libwebp makes of VP8 garbage: such a file works in a session too, so it may
  // pass. A cut-off PNG it refuses.
  const pcm = format === 'wav';
  const lenient = kind === 'image' && format !== 'png';
  hostile.push(
    { what: `${format}: empty`, kind, data: Buffer.alloc(0) },
    { what: `${format}: first 16 bytes`, kind, data: data.subarray(0, 16) },
    { what: `${format}: header then garbage`, kind, data: Buffer.concat([data.subarray(0, 64), garbage(6000, format.length)]), mayPass: pcm || format === 'webp' },
    { what: `${format}: header then zeros`, kind, data: Buffer.concat([data.subarray(0, 64), Buffer.alloc(6000)]), mayPass: pcm || format === 'webp' },
    { what: `${format}: first half`, kind, data: data.subarray(0, Math.floor(data.length / 2)), mayPass: kind === 'audio' || lenient },
    { what: `${format}: in the other field`, kind: kind === 'audio' ? 'image' : 'audio', data, code: /UNSUPPORTED_MEDIA_FORMAT/ },
  );
}
hostile.push(
  { what: 'text', kind: 'image', data: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'.repeat(20)), code: /UNSUPPORTED_MEDIA_FORMAT/ },
  { what: 'polyglot: PNG signature, WAV body', kind: 'image', data: Buffer.concat([PNG_SIGNATURE, audio['wav']!]) },
  { what: 'polyglot: WAV header, PNG body (PNG bytes as samples)', kind: 'audio', data: Buffer.concat([audio['wav']!.subarray(0, 44), images['png']!]), mayPass: true },
  { what: 'polyglot: JPEG magic, Ogg body', kind: 'image', data: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), audio['ogg-opus']!]) },
  { what: 'polyglot: ID3 tag, PNG body', kind: 'audio', data: Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), images['png']!]) },
  { what: 'PNG bomb 60000x60000 (valid CRCs)', kind: 'image', data: pngDeclaring(60000, 60000), code: /IMAGE_TOO_LARGE/ },
  { what: 'PNG 1x100000000', kind: 'image', data: pngDeclaring(1, 100_000_000), code: /IMAGE_TOO_LARGE/ },
  { what: 'PNG 0x0', kind: 'image', data: pngDeclaring(0, 0) },
  { what: 'PNG 4000x4000 (inside the limits) inflating 4 MiB of zeros', kind: 'image', data: pngDeclaring(4000, 4000), code: /MEDIA_DECODE_FAILED/ },
  { what: 'JPEG bomb 60000x60000', kind: 'image', data: jpegDeclaring(60000, 60000), code: /IMAGE_TOO_LARGE/ },
  { what: 'JPEG 0x0', kind: 'image', data: jpegDeclaring(0, 0) },
  { what: 'WebP canvas 16384x16384', kind: 'image', data: webpBomb(), code: /IMAGE_TOO_LARGE/ },
  { what: 'PNG chunk claiming 2 GiB', kind: 'image', data: pngHugeChunk(), code: /MEDIA_DECODE_FAILED/ },
  { what: 'WAV data chunk claiming 4 GiB', kind: 'audio', data: wavHugeChunk(), mayPass: true },
);

interface Answer {
  statusCode: number;
  body: string;
}
function expectRefused(t: Test, what: string, r: Answer, opts: { mayPass?: boolean; code?: RegExp } = {}): boolean {
  if (r.statusCode === 200 && opts.mayPass) return true;
  t.ok(r.statusCode >= 400 && r.statusCode < 500, `${what}: a 4xx, got ${r.statusCode} ${r.body.slice(0, 200)}`);
  let code: unknown;
  try {
    code = (JSON.parse(r.body) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  t.match(code, opts.code ?? /^[A-Z_]+$/, `${what}: a stable code (${String(code)})`);
  t.notMatch(r.body, /session-[0-9a-f]|GstPipeline|filesrc|decodebin|dittoimagesrc|probe-child|\.upload-|\n\s+at |node:internal|\/tmp\//, `${what}: nothing internal in the answer`);
  return false;
}
const upload = (parts: FilePart[]) => {
  const { payload, headers } = multipart(parts);
  return s.app.inject({ method: 'POST', url: '/upload', payload, headers });
};
const field = (kind: 'audio' | 'image') => (kind === 'audio' ? 'audio' : 'source');
const sameAsBaseline = async (t: Test, what: string) =>
  t.same(await eventually(tmp.snapshot, (n) => n.join() === baseline.join(), 5000), baseline, `${what}: nothing left on disk`);

t.test('hostile files as uploads', async (t) => {
  for (const h of hostile) {
    const r = await upload([{ field: field(h.kind), filename: h.kind === 'audio' ? 'a.wav' : 'a.png', data: h.data }]);
    expectRefused(t, `upload ${h.what}`, r, h);
    if (r.statusCode === 200) {
      // A truncated stream that still decodes is stored like any upload; remove it again for the next check.
      for (const f of Object.values((r.json() as { files: Record<string, { path: string }> }).files)) rmSync(join(s.config.uploadDir, f.path));
    }
    await sameAsBaseline(t, `upload ${h.what}`);
  }
});

t.test('hostile files named by an offer', async (t) => {
  const dir = join(s.mediaDir, 'hostile');
  mkdirSync(dir);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const withDir = tmp.snapshot();
  for (const [i, h] of hostile.entries()) {
    // The extension the field expects, so the offer's extension rule does not hide the content check.
    const name = `h${i}${h.kind === 'audio' ? '.wav' : '.png'}`;
    writeFileSync(join(dir, name), h.data);
    const r = await s.app.inject({
      method: 'POST',
      url: '/webrtc/offer',
      payload: offerPayload(OFFER, h.kind === 'audio' ? { audio_path: `hostile/${name}` } : { source_path: `hostile/${name}` }),
    });
    expectRefused(t, `offer ${h.what}`, r, h);
    if (r.statusCode === 200) await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${r.json().session_id}` });
    rmSync(join(dir, name));
    t.same(tmp.snapshot(), withDir.filter((n) => !n.endsWith(name)), `offer ${h.what}: nothing left on disk`);
  }
  // Wrong extensions: valid content under a name whose extension lies.
  writeFileSync(join(dir, 'speech.png'), audio['wav']!);
  writeFileSync(join(dir, 'face.wav'), images['png']!);
  writeFileSync(join(dir, 'face.txt'), images['png']!);
  for (const [what, extra] of [
    ['WAV named .png as the portrait', { source_path: 'hostile/speech.png' }],
    ['PNG named .wav as the audio', { audio_path: 'hostile/face.wav' }],
    ['PNG named .txt', { source_path: 'hostile/face.txt' }],
  ] as const) {
    expectRefused(t, what, await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER, extra) }));
  }
  const list = await s.app.inject('/webrtc/sessions');
  t.equal(list.json().active, 0, 'no session left open');
});

t.test('hostile upload fields and file names', async (t) => {
  const wav = audio['wav']!;
  const names = [
    '../../../../evil.wav',
    '/tmp/ditto-fuzz-absolute.wav',
    '..%2f..%2f%2e%2e%2fevil.wav',
    'nul\u0000.wav',
    'x'.repeat(5000) + '.wav',
    '\u202eevil\u2025.wav',
    'CON.wav',
    '.upload-ffffffff-0000',
    '',
  ];
  for (const filename of names) {
    const r = await upload([{ field: 'audio', filename, data: wav }]);
    if (r.statusCode === 200) {
      const path = (r.json() as { audio_path: string }).audio_path;
      t.match(path, /^[0-9a-f]{32}\.wav$/, `file name ${JSON.stringify(filename.slice(0, 40))}: the server chose the name`);
      rmSync(join(s.config.uploadDir, path));
    } else {
      expectRefused(t, `file name ${JSON.stringify(filename.slice(0, 40))}`, r);
    }
    await sameAsBaseline(t, `file name ${JSON.stringify(filename.slice(0, 40))}`);
  }
  t.notOk(existsSync('/tmp/ditto-fuzz-absolute.wav'), 'no file at the absolute name');
  const fields = ['__proto__', 'constructor', 'audio[]', 'AUDIO', 'audio\u0000', 'aud\u00edo', 'x'.repeat(300)];
  for (const f of fields) {
    const r = await upload([{ field: f, filename: 'a.wav', data: wav }]);
    expectRefused(t, `field ${JSON.stringify(f.slice(0, 20))}`, r);
    await sameAsBaseline(t, `field ${JSON.stringify(f.slice(0, 20))}`);
  }
  // JSON (and other non-multipart) bodies in every shape.
  for (const [what, payload] of [
    ['object', { audio: 'speech.wav' }],
    ['array', [1, 2]],
    ['nested', { audio: { path: '../../etc/passwd' } }],
  ] as const) {
    expectRefused(t, `JSON ${what}`, await s.app.inject({ method: 'POST', url: '/upload', payload }), { code: /UNSUPPORTED_MEDIA_TYPE/ });
  }
  for (const [what, ct, body] of [
    ['no boundary', 'multipart/form-data', 'x'],
    ['empty body', 'multipart/form-data; boundary=zz', ''],
    ['wrong boundary', 'multipart/form-data; boundary=zz', '--yy\r\nContent-Disposition: form-data; name="audio"; filename="a"\r\n\r\nRIFF\r\n--yy--\r\n'],
    ['no closing boundary', 'multipart/form-data; boundary=zz', '--zz\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n' + 'RIFF'.repeat(50)],
    ['headers without end', 'multipart/form-data; boundary=zz', '--zz\r\nContent-Disposition: form-data; name="audio"'],
  ] as const) {
    const r = await s.app.inject({ method: 'POST', url: '/upload', payload: body, headers: { 'content-type': ct } });
    expectRefused(t, `multipart ${what}`, r);
    await sameAsBaseline(t, `multipart ${what}`);
  }
  t.equal((await s.app.inject('/healthz')).statusCode, 200, 'the server is still up');
});

t.test('offer paths: encoded, NUL, unicode, very long', async (t) => {
  const cases = [
    '%2e%2e/%2e%2e/etc/passwd.wav',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd.wav',
    'speech.wav\u0000.png',
    '\u0000',
    'sp\u0065\u0301ech.wav',
    '..\\..\\windows\\win.ini.wav',
    'x'.repeat(70_000) + '.wav',
    'file:///etc/passwd.wav',
    '~/speech.wav',
  ];
  for (const p of cases) {
    const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER, { audio_path: p }) });
    expectRefused(t, `audio_path ${JSON.stringify(p.slice(0, 40))}`, r);
  }
  for (const v of [1, true, null, {}, [], { path: 'speech.wav' }, ['speech.wav', 'x']]) {
    const r = await s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER, { source_path: v }) });
    expectRefused(t, `source_path ${JSON.stringify(v)}`, r);
  }
  await sameAsBaseline(t, 'offers');
});
