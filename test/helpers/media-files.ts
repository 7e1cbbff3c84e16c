/**
 * Real media files made at test time with gst-launch-1.0 (every format POST /upload accepts), and a
 * multipart/form-data body builder for inject().
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

const AUDIO = 'audiotestsrc num-buffers=10 samplesperbuffer=1600 wave=sine ! audio/x-raw,rate=16000,channels=1 ! audioconvert ! audioresample';

/** Encoder tail per audio format (file extension -> launch fragment after AUDIO). */
export const AUDIO_FORMATS: Record<string, { file: string; tail: string }> = {
  wav: { file: 'a.wav', tail: 'wavenc' },
  mp3: { file: 'a.mp3', tail: 'lamemp3enc ! id3v2mux' },
  m4a: { file: 'a.m4a', tail: 'avenc_aac ! mp4mux' },
  aac: { file: 'a.aac', tail: 'avenc_aac ! aacparse ! audio/mpeg,stream-format=adts' },
  flac: { file: 'a.flac', tail: 'flacenc' },
  'ogg-vorbis': { file: 'v.ogg', tail: 'vorbisenc ! oggmux' },
  'ogg-opus': { file: 'o.ogg', tail: 'opusenc ! oggmux' },
  webm: { file: 'o.webm', tail: 'opusenc ! webmmux' },
};

export const IMAGE_FORMATS: Record<string, { file: string; tail: string }> = {
  png: { file: 'i.png', tail: 'pngenc' },
  jpeg: { file: 'i.jpg', tail: 'jpegenc' },
  webp: { file: 'i.webp', tail: 'webpenc' },
};

function launch(description: string): void {
  execFileSync('gst-launch-1.0', ['-q', ...description.split(' ')], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
}

export function makeAudio(dir: string, format: string): string {
  const f = AUDIO_FORMATS[format]!;
  const path = join(dir, f.file);
  launch(`${AUDIO} ! ${f.tail} ! filesink location=${path}`);
  return path;
}

export function makeImage(dir: string, format: string, width = 96, height = 64): string {
  const f = IMAGE_FORMATS[format]!;
  const path = join(dir, f.file);
  launch(`videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=${width},height=${height} ! videoconvert ! ${f.tail} ! filesink location=${path}`);
  return path;
}

export interface FilePart {
  field: string;
  filename: string;
  contentType?: string;
  data: Buffer;
}

/** A multipart/form-data request body; file parts in the order given. */
export function multipart(parts: (FilePart | { field: string; value: string })[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----ditto' + randomBytes(8).toString('hex');
  const chunks: Buffer[] = [];
  for (const p of parts) {
    if ('data' in p) {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${p.field}"; filename="${p.filename}"\r\n` +
            `Content-Type: ${p.contentType ?? 'application/octet-stream'}\r\n\r\n`,
        ),
        p.data,
        Buffer.from('\r\n'),
      );
    } else {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.field}"\r\n\r\n${p.value}\r\n`));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** A WAV file around raw PCM S16LE 16 kHz mono (the element's input format; the sample speech is one). */
export function wavS16Mono16k(pcm: Buffer): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + pcm.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(32000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([h, pcm]);
}

/** A PCM WAV played `times` over, as one WAV (the data chunk repeated, the sizes fixed). */
export function repeatWav(wav: Buffer, times: number): Buffer {
  const at = wav.indexOf('data', 12);
  const size = wav.readUInt32LE(at + 4);
  const data = wav.subarray(at + 8, at + 8 + size);
  const header = Buffer.from(wav.subarray(0, at + 8));
  header.writeUInt32LE(size * times, at + 4);
  header.writeUInt32LE(header.length - 8 + size * times, 4);
  return Buffer.concat([header, ...Array(times).fill(data)]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A well-formed PNG (valid CRCs) declaring width x height, 8-bit RGB, whose IDAT inflates to `zeros` bytes of
 * zeros: far too little for a large canvas (an image bomb's header, or a cut-off picture).
 */
export function pngDeclaring(width: number, height: number, zeros = 4 * 1024 * 1024): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(zeros))), pngChunk('IEND', Buffer.alloc(0))]);
}
