import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { AppError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { IMAGE_HEADER_BYTES, imageSize, type ImageSize } from './image-header.js';
import type { ProbeRunner } from './probe-runner.js';
import { sniff, type SniffedFormat, type UploadKind } from './sniff.js';

/**
 * Is this file media we can use? By content, never by name: not empty, not over the size limit, the format
 * its first bytes say (one of the accepted ones, of the expected kind), for images a header whose dimensions
 * are within limits (a small file may declare a huge canvas), and a real decode probe out of process. Used
 * for uploads and again for every offer's media before any session graph is built. Verdicts are cached by
 * content hash (and the hash by inode, size and mtime), so a repeated offer costs a stat().
 */

export interface MediaLimits {
  maxAudioBytes: number;
  maxImageBytes: number;
  maxImageSide: number;
  maxImagePixels: number;
}

export interface MediaCheckOptions {
  limits: MediaLimits;
  extensions: { audio: readonly string[]; image: readonly string[] };
  probes: ProbeRunner;
  logger: Logger;
  /** Verdicts kept (least recently used dropped first). */
  cacheEntries?: number;
}

export interface MediaInfo {
  format: SniffedFormat;
  size: number;
  dimensions?: ImageSize;
  sha256: string;
}

/** What a client may be told about a refusal; the label (field name) is added when it is thrown. */
interface Refusal {
  code: ErrorCode;
  reason: string;
  details?: Record<string, unknown>;
}

type Verdict =
  | { ok: true; format: SniffedFormat; dimensions?: ImageSize }
  /** `final: false`: true of this attempt only (a probe out of time), not of the content: never cached. */
  | { ok: false; refusal: Refusal; final: boolean };

/** What the caller already knows about the file (an upload was hashed while it streamed in). */
export interface KnownContent {
  size: number;
  sha256: string;
  head: Buffer;
}

const EXPECTED: Record<UploadKind, string> = {
  audio: 'WAV, MP3, M4A/AAC, FLAC, Ogg (Vorbis/Opus) or WebM/Opus audio',
  image: 'a PNG, JPEG or WebP image',
};

class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

export class MediaCheck {
  private readonly verdicts: Lru<Verdict>;
  private readonly hashes: Lru<string>;
  private readonly inflight = new Map<string, Promise<Verdict>>();

  constructor(private readonly opts: MediaCheckOptions) {
    this.verdicts = new Lru(opts.cacheEntries ?? 1024);
    this.hashes = new Lru(opts.cacheEntries ?? 1024);
  }

  /** Starts the probe workers; resolves once they are up. */
  warm(): Promise<void> {
    return this.opts.probes.warm();
  }

  /** Resolves once no check is in flight (a check outlives an offer that failed on its other file). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight.values()]);
  }

  /** Decode probes run so far (repeat checks of known content run none). */
  get probesRun(): number {
    return this.opts.probes.spawned;
  }

  /** Throws an AppError naming `label` (e.g. "audio_path") when the file is not usable as `kind`. */
  async check(path: string, kind: UploadKind, label: string, known?: KnownContent): Promise<MediaInfo> {
    const info = await stat(path);
    const size = known?.size ?? info.size;
    const max = kind === 'audio' ? this.opts.limits.maxAudioBytes : this.opts.limits.maxImageBytes;
    if (size === 0) throw refuse(label, { code: 'MEDIA_EMPTY', reason: 'is empty' });
    if (size > max) {
      throw refuse(label, { code: 'MEDIA_TOO_LARGE', reason: `is ${size} bytes; at most ${max} are accepted`, details: { size, max_bytes: max } });
    }
    const statKey = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
    const sha256 = known?.sha256 ?? this.hashes.get(statKey) ?? (await hashFile(path));
    this.hashes.set(statKey, sha256);
    const key = `${kind}:${sha256}`;
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      let pending = this.inflight.get(key);
      if (!pending) {
        pending = this.inspect(path, kind, known?.head).finally(() => this.inflight.delete(key));
        this.inflight.set(key, pending);
      }
      verdict = await pending;
      if (verdict.ok || verdict.final) this.verdicts.set(key, verdict);
    }
    if (!verdict.ok) throw refuse(label, verdict.refusal);
    return { format: verdict.format, size, sha256, ...(verdict.dimensions ? { dimensions: verdict.dimensions } : {}) };
  }

  private async inspect(path: string, kind: UploadKind, knownHead?: Buffer): Promise<Verdict> {
    const head = knownHead ?? (await readHead(path, IMAGE_HEADER_BYTES));
    const allowed = kind === 'audio' ? this.opts.extensions.audio : this.opts.extensions.image;
    const format = sniff(head);
    if (!format || format.kind !== kind || !allowed.includes(format.ext)) {
      return {
        ok: false,
        final: true,
        refusal: {
          code: 'UNSUPPORTED_MEDIA_FORMAT',
          reason: `is not ${EXPECTED[kind]}${format ? ` (looks like ${format.format})` : ''}`,
          details: { detected: format?.format ?? null },
        },
      };
    }
    let dimensions: ImageSize | undefined;
    if (kind === 'image') {
      const size = imageSize(format.format, head);
      if (!size || size.width < 1 || size.height < 1) {
        return { ok: false, final: true, refusal: { code: 'MEDIA_DECODE_FAILED', reason: `the ${format.format} header is malformed`, details: { format: format.format } } };
      }
      const { maxImageSide, maxImagePixels } = this.opts.limits;
      if (size.width > maxImageSide || size.height > maxImageSide || size.width * size.height > maxImagePixels) {
        return {
          ok: false,
          final: true,
          refusal: {
            code: 'IMAGE_TOO_LARGE',
            reason: `is ${size.width}x${size.height} pixels; at most ${maxImageSide} per side and ${maxImagePixels} in all are accepted`,
            details: { width: size.width, height: size.height, max_side: maxImageSide, max_pixels: maxImagePixels },
          },
        };
      }
      dimensions = size;
    }
    const probe = await this.opts.probes.probe(path, kind);
    if (!probe.ok) {
      // The file went away while it was probed (an upload cancelled): that says nothing about the content.
      await stat(path);
      // GStreamer's words can name files and elements: they go to the log only.
      this.opts.logger.info({ kind, format: format.format, reason: probe.reason }, 'media does not decode');
      const reason = probe.timedOut ? `could not be decoded in time as ${format.format} ${kind}` : `cannot be decoded as ${format.format} ${kind}`;
      return { ok: false, final: !probe.timedOut, refusal: { code: 'MEDIA_DECODE_FAILED', reason, details: { format: format.format } } };
    }
    return { ok: true, format, ...(dimensions ? { dimensions } : {}) };
  }
}

function refuse(label: string, r: Refusal): AppError {
  return new AppError(r.code, `${label} ${r.reason}`, { details: { field: label, ...r.details } });
}

async function readHead(path: string, bytes: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
