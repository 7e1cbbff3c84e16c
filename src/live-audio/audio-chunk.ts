import { AppError } from '../errors.js';
import { PUSH_PCM_CAPS } from '../pipelines/pipeline-template.js';

/**
 * One binary WebSocket message of pushed audio, turned into samples plus the caps that describe them:
 * a WAV chunk (a complete RIFF/WAVE file, e.g. one TTS utterance; 16/24/32-bit PCM or 32-bit float, any
 * rate and channel count: the graph's audioconvert/audioresample bring it to 16 kHz mono), or anything
 * else as raw PCM s16le 16 kHz mono. (Ogg/Opus chunks are split into packets by ogg-opus.ts.)
 */

export interface AudioChunk {
  data: Buffer;
  caps: string;
  /** Duration in seconds. */
  durationS: number;
  /** Bytes per 100 ms, a multiple of the sample frame size (the graph is fed in pieces of at most this). */
  sliceBytes: number;
}

/**
 * The chunk in pieces of at most 100 ms: the element takes input into a bounded queue, and small buffers
 * keep the appsrc's timestamps and the queue's accounting fine-grained.
 */
export function slices(chunk: AudioChunk): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < chunk.data.length; i += chunk.sliceBytes) out.push(chunk.data.subarray(i, i + chunk.sliceBytes));
  return out;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

function invalid(message: string): AppError {
  return new AppError('LIVE_AUDIO_INVALID', message);
}

export function parseWav(buf: Buffer): AudioChunk {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw invalid('not a RIFF/WAVE chunk');
  }
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  let i = 12;
  while (i + 8 <= buf.length) {
    const id = buf.toString('latin1', i, i + 4);
    const size = buf.readUInt32LE(i + 4);
    const body = i + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw invalid('WAV fmt chunk is truncated');
      let format = buf.readUInt16LE(body);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40 && body + 26 <= buf.length) format = buf.readUInt16LE(body + 24);
      fmt = { format, channels: buf.readUInt16LE(body + 2), rate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt) throw invalid('WAV data chunk before its fmt chunk');
      // Streamed WAV writers leave the size at 0 or 0xffffffff: take what is there.
      const end = size === 0 || size === 0xffffffff || body + size > buf.length ? buf.length : body + size;
      return fromFormat(fmt, buf.subarray(body, end));
    }
    i = body + size + (size & 1);
  }
  throw invalid('WAV chunk without a data chunk');
}

function fromFormat(f: { format: number; channels: number; rate: number; bits: number }, data: Buffer): AudioChunk {
  if (f.channels < 1 || f.channels > 8) throw invalid(`WAV with ${f.channels} channels is not supported (1..8)`);
  if (f.rate < 8000 || f.rate > 192000) throw invalid(`WAV at ${f.rate} Hz is not supported (8000..192000)`);
  let sample: string;
  if (f.format === WAVE_FORMAT_PCM && f.bits === 16) sample = 'S16LE';
  else if (f.format === WAVE_FORMAT_PCM && f.bits === 24) sample = 'S24LE';
  else if (f.format === WAVE_FORMAT_PCM && f.bits === 32) sample = 'S32LE';
  else if (f.format === WAVE_FORMAT_FLOAT && f.bits === 32) sample = 'F32LE';
  else throw invalid(`WAV format ${f.format} with ${f.bits}-bit samples is not supported (PCM 16/24/32-bit or float 32-bit)`);
  const frameBytes = (f.bits / 8) * f.channels;
  const whole = data.subarray(0, data.length - (data.length % frameBytes));
  return {
    data: whole,
    caps: `audio/x-raw,format=${sample},layout=interleaved,rate=${f.rate},channels=${f.channels}`,
    durationS: whole.length / frameBytes / f.rate,
    sliceBytes: frameBytes * Math.max(1, Math.floor(f.rate / 10)),
  };
}

export function parseAudioChunk(buf: Buffer): AudioChunk {
  if (buf.length >= 4 && buf.toString('latin1', 0, 4) === 'RIFF') return parseWav(buf);
  if (buf.length >= 4 && buf.toString('latin1', 0, 4) === 'OggS') {
    // Ogg/Opus is stateful across messages: the socket's OggOpusReader (ogg-opus.ts) takes it.
    throw invalid('Ogg chunks go through the Ogg/Opus reader, not parseAudioChunk');
  }
  if (buf.length % 2 !== 0) throw invalid(`raw PCM s16le needs an even number of bytes (got ${buf.length})`);
  return { data: buf, caps: PUSH_PCM_CAPS, durationS: buf.length / 32000, sliceBytes: 3200 };
}
