import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config/schema.js';
import { AppError } from '../errors.js';
import { IMAGE_HEADER_BYTES } from './image-header.js';
import type { MediaCheck, MediaInfo } from './media-check.js';
import type { UploadKind } from './sniff.js';
import { UploadStore, type ReceivedFile, type StoredFile } from './upload-store.js';

/**
 * POST /upload without the HTTP: each field is streamed to a temporary file, then checked by content
 * (media-check.ts: magic bytes, header dimensions for images, a decode probe out of process) and only when
 * every field passed are they renamed into place. Any failure removes every file this upload wrote.
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

export function isUploadField(name: string): name is UploadField {
  return Object.hasOwn(UPLOAD_FIELDS, name);
}

export class UploadService {
  readonly store: UploadStore;

  constructor(
    private readonly config: ServerConfig,
    private readonly media: MediaCheck,
  ) {
    const { retentionMaxAgeS, retentionMaxTotalBytes } = config.upload;
    this.store = new UploadStore(config.uploadDir, { maxAgeMs: retentionMaxAgeS * 1000, maxTotalBytes: retentionMaxTotalBytes });
  }

  limitFor(field: UploadField): number {
    return UPLOAD_FIELDS[field] === 'audio' ? this.config.upload.maxAudioBytes : this.config.upload.maxImageBytes;
  }

  /**
   * Throws UPLOAD_QUOTA_EXCEEDED when `uploader` cannot store `bytes` more in `files` more files. Retry-After is
   * when its oldest upload ages out (when an age limit is set).
   */
  checkQuota(uploader: string, bytes: number, files: number): void {
    const { quotaBytesPerUploader: maxBytes, quotaFilesPerUploader: maxFiles, retentionMaxAgeS } = this.config.upload;
    const used = this.store.owners.usage(uploader);
    const overBytes = maxBytes > 0 && used.bytes + bytes > maxBytes;
    const overFiles = maxFiles > 0 && used.files + files > maxFiles;
    if (!overBytes && !overFiles) return;
    const freesAt = retentionMaxAgeS > 0 && used.oldestMs !== null ? used.oldestMs + retentionMaxAgeS * 1000 : null;
    throw new AppError(
      'UPLOAD_QUOTA_EXCEEDED',
      overBytes
        ? `this upload would take your stored uploads past the quota of ${maxBytes} bytes (${used.bytes} stored)`
        : `this upload would take your stored uploads past the quota of ${maxFiles} files (${used.files} stored)`,
      {
        ...(freesAt !== null ? { retryAfterS: Math.max(1, Math.ceil((freesAt - Date.now()) / 1000)) } : {}),
        details: { used_bytes: used.bytes, used_files: used.files, quota_bytes: maxBytes, quota_files: maxFiles },
      },
    );
  }

  /** Streams one field to a temporary file (see UploadStore.receive). */
  receive(field: UploadField, stream: Readable): Promise<ReceivedFile> {
    return this.store.receive(stream, this.limitFor(field), field, IMAGE_HEADER_BYTES);
  }

  /**
   * Validates every received field, charges them to `uploader` within its quota, then stores them all or
   * none. The temporary files are gone when this returns or throws.
   */
  async accept(received: Partial<Record<UploadField, ReceivedFile>>, uploader: string): Promise<UploadResult> {
    const entries = Object.entries(received) as [UploadField, ReceivedFile][];
    const stored: StoredFile[] = [];
    const charged: string[] = [];
    try {
      if (entries.length === 0) {
        throw new AppError('UPLOAD_FIELD_MISSING', 'send a file in the "audio" and/or "source" field', { details: { fields: Object.keys(UPLOAD_FIELDS) } });
      }
      for (const [field, file] of entries) {
        if (file.size === 0) throw new AppError('UPLOAD_INVALID', `${field} is empty`, { details: { field } });
      }
      // allSettled: no probe may still be reading a temporary file when the finally below removes it.
      const settled = await Promise.allSettled(
        entries.map(async ([field, file]) => ({ field, file, info: await this.media.check(file.tempPath, UPLOAD_FIELDS[field], field, file) })),
      );
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const checked = settled.map((r) => (r as PromiseFulfilledResult<{ field: UploadField; file: ReceivedFile; info: MediaInfo }>).value);
      // Charged before the first await of the commit, so concurrent uploads of one uploader cannot both pass.
      const { owners } = this.store;
      const fresh = checked.map((c) => ({ name: this.store.nameFor(c.file, c.info.format.ext), size: c.file.size })).filter((f) => !owners.owns(uploader, f.name));
      this.checkQuota(uploader, fresh.reduce((a, f) => a + f.size, 0), fresh.length);
      for (const f of fresh) if (owners.add(f.name, f.size, uploader)) charged.push(f.name);
      const result: UploadResult = { files: {} };
      for (const c of checked) {
        const s = await this.store.commit(c.file, c.info.format.ext);
        stored.push(s);
        const media: UploadedMedia = { id: s.id, path: s.name, format: c.info.format.format, size: s.size, ...(c.info.dimensions ?? {}) };
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
      for (const name of charged) this.store.owners.release(name, uploader);
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
