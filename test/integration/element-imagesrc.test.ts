/**
 * dittoimagesrc: the portrait loader of dittotalkinghead as a source element. A good PNG, JPEG or WebP comes
 * out as one RGB frame of its size, then EOS; a file the loader refuses is one bus error carrying the
 * loader's message, with a code per kind of failure. And its verdict is the element's: for every file the
 * talking-head element fails (or starts) exactly when dittoimagesrc does, with the same message.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { dittoElement, gstLaunch, probe, requirePlugin, tempDir, type ProbeReport } from '../helpers/gst-probe.js';
import { makeImage, pngDeclaring } from '../helpers/media-files.js';

requirePlugin();
const tmp = tempDir('ditto-imagesrc-');
t.teardown(tmp.cleanup);

const STREAM = 'gst-stream-error-quark';
const RESOURCE = 'gst-resource-error-quark';
// GstStreamError / GstResourceError codes (gst/gsterror.h)
const WRONG_TYPE = 5;
const DECODE = 7;
const FORMAT = 11;
const NOT_FOUND = 3;
const OPEN_READ = 5;

// An odd width: video/x-raw RGB rows are padded to 4 bytes, the loader's are not.
const W = 97;
const H = 61;
const ROW = Math.ceil((W * 3) / 4) * 4;

const file = (name: string, data: Buffer | string) => {
  const path = join(tmp.dir, name);
  writeFileSync(path, data);
  return path;
};
const png = readFileSync(makeImage(tmp.dir, 'png', W, H));
const jpeg = readFileSync(makeImage(tmp.dir, 'jpeg', W, H));
const webp = readFileSync(makeImage(tmp.dir, 'webp', W, H));
/** Where a JPEG's scan data starts (its SOS marker): cut before it, there is no picture at all. */
const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
mkdirSync(join(tmp.dir, 'a-directory'));

const imageSrc = (location: string) => probe(`dittoimagesrc location=${location} ! fakesink name=vsink`, { timeoutS: 20 });
const element = (location: string) =>
  probe(
    `audiotestsrc num-buffers=2 samplesperbuffer=640 ! audio/x-raw,rate=16000,channels=1 ! ${dittoElement({ 'source-image': location })} ` +
      'd.video ! fakesink name=vsink d.audio ! fakesink name=asink',
    { timeoutS: 30 },
  );
const firstError = (r: ProbeReport) => r.errors[0]?.message ?? null;

t.test('a good PNG, JPEG or WebP is one RGB frame of its size, then EOS', async (t) => {
  for (const [format, data] of [['png', png], ['jpeg', jpeg], ['webp', webp]] as const) {
    const r = await imageSrc(file(`good.${format}`, data));
    t.same(r.errors, [], `${format}: no error`);
    t.equal(r.video.count, 1, `${format}: one frame`);
    t.ok(r.video.eos, `${format}: then EOS`);
    t.match(r.video.caps, new RegExp(`video/x-raw, format=\\(string\\)RGB, width=\\(int\\)${W}, height=\\(int\\)${H}`), `${format}: RGB caps of the image's size`);
    t.match(r.video.caps, /framerate=\(fraction\)0\/1/, `${format}: a still picture`);
    t.equal(r.video.bytes, ROW * H, `${format}: one ${W}x${H} RGB frame with padded rows`);
    t.equal(r.video.first_pts, 0, `${format}: at PTS 0`);
  }
});

/** The JPEG with an EXIF block saying "rotate 90 degrees clockwise to display" (Orientation 6), as phones write. */
function withExifOrientation6(jpg: Buffer): Buffer {
  // Big-endian TIFF header, an IFD of one entry: tag 0x0112 (Orientation), SHORT, count 1, value 6; no next IFD.
  const tiff = Buffer.from([0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([jpg.subarray(0, 2), app1, body, jpg.subarray(2)]);
}

t.test('a phone photo comes out upright: the loader applies its EXIF orientation', async (t) => {
  const r = await imageSrc(file('rotated.jpg', withExifOrientation6(jpeg)));
  t.same(r.errors, [], 'no error');
  t.match(r.video.caps, new RegExp(`width=\\(int\\)${H}, height=\\(int\\)${W}`), `the ${W}x${H} picture comes out ${H}x${W}`);
});

t.test('the pixels are the picture, row padding and all', async (t) => {
  // PNG is lossless: the frame dittoimagesrc pushes equals the raw frame the PNG was made from.
  const raw = (head: string, name: string) => gstLaunch(`${head} ! video/x-raw,format=RGB,width=${W},height=${H} ! filesink location=${join(tmp.dir, name)}`, 20);
  const a = await raw(`videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=${W},height=${H} ! videoconvert`, 'made.rgb');
  const b = await raw(`dittoimagesrc location=${join(tmp.dir, 'good.png')}`, 'seen.rgb');
  t.equal(a.code, 0, `raw source frame (${a.stderr.trim()})`);
  t.equal(b.code, 0, `dittoimagesrc frame (${b.stderr.trim()})`);
  const made = readFileSync(join(tmp.dir, 'made.rgb'));
  const seen = readFileSync(join(tmp.dir, 'seen.rgb'));
  t.equal(seen.length, ROW * H, 'one frame');
  t.ok(seen.equals(made), 'the same pixels');
});

interface Case {
  what: string;
  path: string;
  /** null: the file loads */
  error: { domain: string; code: number; message: RegExp } | null;
}
const cases: Case[] = [
  { what: 'PNG cut in half', path: file('half.png', png.subarray(0, png.length >> 1)), error: { domain: STREAM, code: DECODE, message: /cannot decode source image .*half\.png/ } },
  {
    what: 'JPEG cut off before its scan',
    path: file('header-only.jpg', jpeg.subarray(0, sos)),
    error: { domain: STREAM, code: DECODE, message: /cannot decode source image .*header-only\.jpg.*JPEG header is cut off or corrupt/ },
  },
  // libjpeg shows a scan that ends early with the rest grey: the element shows that picture too.
  { what: 'JPEG cut off in its scan', path: file('half.jpg', jpeg.subarray(0, sos + ((jpeg.length - sos) >> 1))), error: null },
  { what: 'PNG 4000x4000 inflating too few bytes', path: file('bomb.png', pngDeclaring(4000, 4000, 64 * 1024)), error: { domain: STREAM, code: DECODE, message: /cannot decode source image .*Not enough image data/ } },
  { what: 'empty file', path: file('empty.png', Buffer.alloc(0)), error: { domain: STREAM, code: WRONG_TYPE, message: /source image '.*empty\.png' is empty/ } },
  { what: 'text file', path: file('text.png', 'this is not a picture\n'), error: { domain: STREAM, code: WRONG_TYPE, message: /text\.png' is not a PNG, JPEG or WebP image/ } },
  { what: 'a GIF', path: file('anim.gif', Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64')), error: { domain: STREAM, code: WRONG_TYPE, message: /is a gif image; only PNG, JPEG and WebP are supported/ } },
  { what: 'header over the size limit', path: file('wide.png', pngDeclaring(9000, 100, 16)), error: { domain: STREAM, code: FORMAT, message: /is 9000x100 pixels; the limit is 8192 pixels per side/ } },
  { what: 'missing file', path: join(tmp.dir, 'nope.png'), error: { domain: RESOURCE, code: NOT_FOUND, message: /cannot read source image .*nope\.png.*No such file/ } },
  { what: 'a directory', path: join(tmp.dir, 'a-directory'), error: { domain: RESOURCE, code: OPEN_READ, message: /is a directory/ } },
];

t.test('a file the loader refuses is one clear error, of its kind', async (t) => {
  for (const c of cases) {
    const r = await imageSrc(c.path);
    t.notOk(r.timed_out, `${c.what}: no hang`);
    if (c.error === null) {
      t.same(r.errors, [], `${c.what}: loads`);
      t.equal(r.video.count, 1, `${c.what}: one frame`);
      continue;
    }
    t.equal(r.video.count, 0, `${c.what}: no frame`);
    t.match(r.errors[0], { source: /dittoimagesrc/, domain: c.error.domain, code: c.error.code, message: c.error.message }, `${c.what}: ${firstError(r)}`);
  }
  const none = await probe('dittoimagesrc ! fakesink name=vsink', { timeoutS: 20 });
  t.match(none.errors[0], { domain: RESOURCE, code: NOT_FOUND, message: /No portrait given \(set the location property\)/ }, 'no location');
});

t.test('one loader, one verdict: dittotalkinghead fails exactly on those files, with the same message', async (t) => {
  for (const c of [...cases, { what: 'good JPEG', path: join(tmp.dir, 'good.jpeg'), error: null }]) {
    const [src, el] = [await imageSrc(c.path), await element(c.path)];
    t.equal(firstError(el), firstError(src), `${c.what}: ${firstError(src) ?? 'loads'}`);
    if (c.error === null) t.ok(el.video.count > 0, `${c.what}: the element animates it`);
  }
});
