import { AppError } from '../errors.js';

/**
 * Ogg/Opus chunks on the live-audio socket, split into Opus packets for the graph's opusdec (the container is
 * parsed here, the audio is decoded in GStreamer). Why not oggdemux in the graph: each utterance a TTS front
 * end sends is its own Ogg stream (a new serial number, i.e. a chained Ogg), and oggdemux exposes a new pad
 * per chain, which a launch-line graph links only once. Splitting pages here is a few lines, keeps every
 * utterance decodable, and checks each page's CRC so damaged input is refused instead of played as noise.
 *
 * One reader per socket: a message may hold any number of whole pages and may end inside a page; the next
 * message then continues that page. Streams must follow one another (chained), not interleave (grouped).
 */

export interface OpusPackets {
  /** Opus packets (no Ogg framing, no OpusHead/OpusTags), in order. */
  packets: Buffer[];
  /** Channels of the stream the packets belong to (mapping family 0). */
  channels: 1 | 2;
  /** Audio duration of the packets, seconds (from each packet's TOC). */
  durationS: number;
}

const OGG_MAGIC = 'OggS';
const HEADER_BYTES = 27;
/** A chunk is refused rather than buffered without bound when it never completes a page. */
const MAX_PENDING_BYTES = 65_307; // the largest possible Ogg page

function invalid(message: string): AppError {
  return new AppError('LIVE_AUDIO_INVALID', message);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

/** Ogg's CRC-32 (polynomial 0x04c11db7, no reflection, init 0) over a page whose CRC field reads zero. */
function oggCrc(page: Buffer): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    const byte = i >= 22 && i < 26 ? 0 : page[i]!;
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  }
  return crc;
}

/** Samples at 48 kHz in one Opus packet (RFC 6716 §3.1), or null when its TOC is malformed. */
export function opusPacketSamples(packet: Buffer): number | null {
  if (packet.length < 1) return null;
  const toc = packet[0]!;
  const config = toc >> 3;
  let frame: number;
  if (config < 12) frame = [480, 960, 1920, 2880][config & 3]!; // SILK 10/20/40/60 ms
  else if (config < 16) frame = [480, 960][config & 1]!; // hybrid 10/20 ms
  else frame = [120, 240, 480, 960][config & 3]!; // CELT 2.5/5/10/20 ms
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    if (packet.length < 2) return null;
    frames = packet[1]! & 0x3f;
    if (frames === 0) return null;
  }
  const samples = frame * frames;
  return samples > 5760 ? null : samples; // at most 120 ms per packet
}

interface StreamState {
  serial: number;
  channels: 1 | 2;
  /** Header packets still expected: OpusHead, then OpusTags. */
  headersLeft: number;
}

export class OggOpusReader {
  private pending: Buffer = Buffer.alloc(0);
  /** A packet continued on the next page (lacing value 255 at the end of a page). */
  private partial: Buffer[] = [];
  private stream: StreamState | null = null;

  /** True while a page is incomplete: the next binary message continues it, whatever its first bytes. */
  get midPage(): boolean {
    return this.pending.length > 0;
  }

  static isOgg(buf: Buffer): boolean {
    return buf.length >= 4 && buf.toString('latin1', 0, 4) === OGG_MAGIC;
  }

  /**
   * Adds one message's bytes and returns the audio packets of the pages it completes. Throws
   * LIVE_AUDIO_INVALID for anything that is not well-formed Ogg/Opus (and forgets the broken state).
   */
  read(chunk: Buffer): OpusPackets {
    try {
      return this.readPages(chunk);
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  /** Forget partial pages and the current stream (after an error or an interrupt). */
  reset(): void {
    this.pending = Buffer.alloc(0);
    this.partial = [];
    this.stream = null;
  }

  private readPages(chunk: Buffer): OpusPackets {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let samples = 0;
    let channels: 1 | 2 | null = null;
    while (buf.length > 0) {
      if (buf.length >= 4 && buf.toString('latin1', 0, 4) !== OGG_MAGIC) throw invalid('Ogg chunk: expected a page ("OggS") here');
      if (buf.length < HEADER_BYTES) break;
      if (buf[4] !== 0) throw invalid(`Ogg chunk: page version ${buf[4]} is not supported`);
      const segments = buf[26]!;
      if (buf.length < HEADER_BYTES + segments) break;
      const lacing = buf.subarray(HEADER_BYTES, HEADER_BYTES + segments);
      const bodyBytes = lacing.reduce((a, b) => a + b, 0);
      const pageBytes = HEADER_BYTES + segments + bodyBytes;
      if (buf.length < pageBytes) break;
      const page = buf.subarray(0, pageBytes);
      buf = buf.subarray(pageBytes);
      if (oggCrc(page) !== page.readUInt32LE(22)) throw invalid('Ogg chunk: page checksum mismatch (damaged data)');
      for (const packet of this.pagePackets(page, lacing)) {
        const audio = this.takePacket(page, packet);
        if (!audio) continue;
        const n = opusPacketSamples(audio);
        if (n === null) throw invalid('Ogg/Opus chunk: malformed Opus packet');
        if (channels !== null && channels !== this.stream!.channels) {
          throw invalid('Ogg/Opus chunk: streams with different channel counts in one message; send them separately');
        }
        channels = this.stream!.channels;
        samples += n;
        out.push(audio);
      }
    }
    if (buf.length > MAX_PENDING_BYTES) throw invalid('Ogg chunk: no complete page');
    this.pending = Buffer.from(buf);
    return { packets: out, channels: channels ?? this.stream?.channels ?? 1, durationS: samples / 48000 };
  }

  /** The page's complete packets (joining a packet continued from the previous page). */
  private *pagePackets(page: Buffer, lacing: Buffer): Generator<Buffer> {
    const continued = (page[5]! & 0x01) !== 0;
    if (!continued && this.partial.length) throw invalid('Ogg chunk: a packet continued on a page that does not continue it');
    if (continued && !this.partial.length) throw invalid('Ogg chunk: a page continues a packet that never started');
    let offset = HEADER_BYTES + lacing.length;
    let start = offset;
    for (const value of lacing) {
      offset += value;
      if (value < 255) {
        this.partial.push(page.subarray(start, offset));
        yield Buffer.concat(this.partial);
        this.partial = [];
        start = offset;
      }
    }
    if (start < offset) this.partial.push(page.subarray(start, offset));
  }

  /** Tracks the stream's headers; returns the packet when it is audio, else null. */
  private takePacket(page: Buffer, packet: Buffer): Buffer | null {
    const bos = (page[5]! & 0x02) !== 0;
    const serial = page.readUInt32LE(14);
    if (bos) {
      if (packet.length < 19 || packet.toString('latin1', 0, 8) !== 'OpusHead') {
        const what = packet.toString('latin1', 1, 7) === 'vorbis' ? 'Vorbis' : 'not Opus';
        throw invalid(`Ogg chunk: the stream is ${what}; only Ogg/Opus is supported`);
      }
      const version = packet[8]!;
      const channels = packet[9]!;
      const family = packet[18]!;
      if (version >> 4 !== 0) throw invalid(`Ogg/Opus chunk: OpusHead version ${version} is not supported`);
      if (family !== 0 || (channels !== 1 && channels !== 2)) {
        throw invalid(`Ogg/Opus chunk: ${channels} channels with mapping family ${family}; send mono or stereo (family 0)`);
      }
      this.stream = { serial, channels, headersLeft: 1 };
      return null;
    }
    if (!this.stream) throw invalid('Ogg/Opus chunk: audio before the stream\'s OpusHead (start each utterance at its first page)');
    if (serial !== this.stream.serial) throw invalid('Ogg chunk: interleaved (grouped) streams are not supported; send one stream after the other');
    if (this.stream.headersLeft > 0) {
      if (packet.toString('latin1', 0, 8) !== 'OpusTags') throw invalid('Ogg/Opus chunk: OpusTags missing after OpusHead');
      this.stream.headersLeft--;
      return null;
    }
    return packet;
  }
}
