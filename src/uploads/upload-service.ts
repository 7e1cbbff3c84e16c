import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config/schema.js';
import { AppError } from '../errors.js';
import type { GstLoader } from '../gst/loader.js';
import { IMAGE_HEADER_BYTES, imageSize } from './image-header.js';
import { probeDecodes } from './probe.js';
import { sniff, type SniffedFormat, type UploadKind } from './sniff.js';
import { UploadStore, type ReceivedFile, type StoredFile } from './upload-store.js';

/**
 * POST /upload without the HTTP: each field is streamed to a temporary file, then checked by content
 * (magic bytes, header dimensions for images, a GStreamer decode probe) and only when every field passed
 * are they renamed into place. Any failure removes every file this upload wrote.
 */

export const UPLOAD_FIELDS = { audio: 'audio', source: 'image' } as const satisfies Record<string, UploadKind>;
export type UploadField = keyof typeof UPLOAD_FIELDS;

export interface UploadedMedia {
  id: string;
  /** What the offer takes as audio_path / source_path (a name inside the upload directory). */
  path: string;
  format: string;
  size: number;
  width?: number;
  height?: number;
}

export interface UploadResult {
  audio_path?: string;
  source_path?: string;
  audio_id?: string;
  source_id?: string;
  files: Partial<Record<UploadField, UploadedMedia>>;
}

interface Checked {
  field: UploadField;
  received: ReceivedFile;
  format: SniffedFormat;
  size?: { width: number; height: number };
}

export function isUploadField(name: string): name is UploadField {
  return Object.hasOwn(UPLOAD_FIELDS, name);
}

export class UploadService {
  readonly store: UploadStore;

  constructor(
    private readonly config: ServerConfig,
    private readonly loadGst: GstLoader,
  ) {
    const { retentionMaxAgeS, retentionMaxTotalBytes } = config.upload;
    this.store = new UploadStore(config.uploadDir, { maxAgeMs: retentionMaxAgeS * 1000, maxTotalBytes: retentionMaxTotalBytes });
  }

  limitFor(field: UploadField): number {
    return UPLOAD_FIELDS[field] === 'audio' ? this.config.upload.maxAudioBytes : this.config.upload.maxImageBytes;
  }

  /** Streams one field to a temporary file (see UploadStore.receive). */
  receive(field: UploadField, stream: Readable): Promise<ReceivedFile> {
    return this.store.receive(stream, this.limitFor(field), field, IMAGE_HEADER_BYTES);
  }

  private check(field: UploadField, received: ReceivedFile): Checked {
    const kind = UPLOAD_FIELDS[field];
    const allowed = kind === 'audio' ? this.config.media.audioExtensions : this.config.media.imageExtensions;
    const expected = kind === 'audio' ? 'WAV, MP3, M4A/AAC, FLAC, Ogg (Vorbis/Opus) or WebM/Opus audio' : 'a PNG, JPEG or WebP image';
    if (received.size === 0) throw new AppError('UPLOAD_INVALID', `${field} is empty`, { details: { field } });
    const format = sniff(received.head);
    if (!format || format.kind !== kind || !allowed.includes(format.ext)) {
      throw new AppError('UNSUPPORTED_MEDIA_FORMAT', `${field} is not ${expected}${format ? ` (looks like ${format.format})` : ''}`, {
        details: { field, detected: format?.format ?? null },
      });
    }
    if (kind === 'audio') return { field, received, format };
    const size = imageSize(format.format, received.head);
    if (!size || size.width < 1 || size.height < 1) {
      throw new AppError('MEDIA_DECODE_FAILED', `${field}: the ${format.format} header is malformed`, { details: { field, format: format.format } });
    }
    const { maxImageSide, maxImagePixels } = this.config.upload;
    if (size.width > maxImageSide || size.height > maxImageSide || size.width * size.height > maxImagePixels) {
      throw new AppError(
        'IMAGE_TOO_LARGE',
        `${field} is ${size.width}x${size.height} pixels; at most ${maxImageSide} per side and ${maxImagePixels} in all are accepted`,
        { details: { field, width: size.width, height: size.height, max_side: maxImageSide, max_pixels: maxImagePixels } },
      );
    }
    return { field, received, format, size };
  }

  /**
   * Validates every received field, then stores them all or none. The temporary files are gone when this
   * returns or throws.
   */
  async accept(received: Partial<Record<UploadField, ReceivedFile>>): Promise<UploadResult> {
    const entries = Object.entries(received) as [UploadField, ReceivedFile][];
    const stored: StoredFile[] = [];
    try {
      if (entries.length === 0) {
        throw new AppError('UPLOAD_FIELD_MISSING', 'send a file in the "audio" and/or "source" field', { details: { fields: Object.keys(UPLOAD_FIELDS) } });
      }
      const checked = entries.map(([field, file]) => this.check(field, file));
      const gst = await this.loadGst();
      for (const c of checked) {
        await probeDecodes(gst, c.received.tempPath, UPLOAD_FIELDS[c.field], this.config.upload.probeTimeoutMs).catch((e: unknown) => {
          if (e instanceof AppError) throw new AppError(e.code, `${c.field}: ${e.message}`, { details: { field: c.field, format: c.format.format } });
          throw e;
        });
      }
      const result: UploadResult = { files: {} };
      for (const c of checked) {
        const s = await this.store.commit(c.received, c.format.ext);
        stored.push(s);
        const media: UploadedMedia = { id: s.id, path: s.name, format: c.format.format, size: s.size, ...(c.size ?? {}) };
        result.files[c.field] = media;
        if (c.field === 'audio') {
          result.audio_path = s.name;
          result.audio_id = s.id;
        } else {
          result.source_path = s.name;
          result.source_id = s.id;
        }
      }
      await this.store.prune(new Set(stored.map((s) => s.name)));
      return result;
    } catch (e) {
      await Promise.all(stored.map((s) => this.store.remove(s)));
      throw e;
    } finally {
      await Promise.all(entries.map(([, f]) => this.store.discard(f.tempPath)));
    }
  }

  /** Drops temporary files of an upload that failed before accept(). */
  async discard(received: Partial<Record<UploadField, ReceivedFile>>): Promise<void> {
    await Promise.all(Object.values(received).map((f) => this.store.discard(f.tempPath)));
  }
}
