/**
 * What a file is, from its first bytes (never from its name or the client's Content-Type). The decode probe
 * (probe.ts) then confirms that GStreamer can really decode it; this step only picks the container, the
 * extension the server stores it under, and refuses everything that is not one of the accepted formats.
 */

export type UploadKind = 'audio' | 'image';

export interface SniffedFormat {
  kind: UploadKind;
  /** e.g. "wav", "mp3", "m4a", "aac", "flac", "ogg", "webm", "png", "jpeg", "webp". */
  format: string;
  /** Extension the server stores the file under (allowed by the media policy). */
  ext: string;
}

/** How many leading bytes sniff() needs (image dimensions are read separately, see image-header.ts). */
export const SNIFF_BYTES = 64;

const ascii = (b: Buffer, at: number, text: string) =>
  b.length >= at + text.length && b.toString('latin1', at, at + text.length) === text;

/** MPEG-1/2 audio frame header (not ADTS): 11 sync bits, layer bits != 00, sane bitrate and rate indices. */
function mpegAudioFrame(b: Buffer, at: number): boolean {
  if (b.length < at + 4 || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return false;
  const version = (b[at + 1]! >> 3) & 0x03;
  const layer = (b[at + 1]! >> 1) & 0x03;
  const bitrate = b[at + 2]! >> 4;
  const rate = (b[at + 2]! >> 2) & 0x03;
  return version !== 0x01 && layer !== 0x00 && bitrate !== 0x0f && rate !== 0x03;
}

/** AAC ADTS header: 12 sync bits, layer 00. */
function adtsFrame(b: Buffer, at: number): boolean {
  return b.length >= at + 7 && b[at] === 0xff && (b[at + 1]! & 0xf6) === 0xf0;
}

/** EBML documents (Matroska/WebM): the DocType element names "webm" (or "matroska") near the start. */
function ebmlDocType(b: Buffer): string | null {
  if (!(b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3)) return null;
  const head = b.toString('latin1', 0, Math.min(b.length, SNIFF_BYTES));
  if (head.includes('webm')) return 'webm';
  if (head.includes('matroska')) return 'matroska';
  return null;
}

const ISO_AUDIO_BRANDS = new Set(['M4A ', 'M4B ', 'mp42', 'mp41', 'isom', 'iso2', 'iso5', 'dash', 'MSNV', 'M4V ']);

export function sniff(head: Buffer): SniffedFormat | null {
  // Images
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { kind: 'image', format: 'png', ext: '.png' };
  }
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return { kind: 'image', format: 'jpeg', ext: '.jpg' };
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WEBP')) return { kind: 'image', format: 'webp', ext: '.webp' };
  // Audio
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return { kind: 'audio', format: 'wav', ext: '.wav' };
  if (ascii(head, 0, 'fLaC')) return { kind: 'audio', format: 'flac', ext: '.flac' };
  if (ascii(head, 0, 'OggS')) return { kind: 'audio', format: 'ogg', ext: '.ogg' };
  if (ascii(head, 4, 'ftyp') && ISO_AUDIO_BRANDS.has(head.toString('latin1', 8, 12))) return { kind: 'audio', format: 'm4a', ext: '.m4a' };
  if (ebmlDocType(head) === 'webm') return { kind: 'audio', format: 'webm', ext: '.webm' };
  if (ascii(head, 0, 'ID3') || mpegAudioFrame(head, 0)) return { kind: 'audio', format: 'mp3', ext: '.mp3' };
  if (adtsFrame(head, 0)) return { kind: 'audio', format: 'aac', ext: '.aac' };
  return null;
}
