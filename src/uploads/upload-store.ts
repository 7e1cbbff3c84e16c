import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors.js';
import { UploadOwners } from './upload-owners.js';

/**
 * The upload directory: files arrive streamed into a temporary name (never whole in memory), are hashed on
 * the way, and only a validated file is renamed into place under a name the server chooses (its content
 * hash), so a half-written or rejected upload never appears under a final name. A retention policy (age,
 * then total size) keeps the directory bounded; over the size limit, files nobody owns (stored before a
 * restart) go first, then the oldest file of whichever uploader holds the most bytes, so one heavy uploader
 * cannot push everyone else's fresh files out.
 */

const TEMP_PREFIX = '.upload-';
/** Temporary files older than this belong to a crashed request: retention removes them. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Hex digits of the SHA-256 used as the file's id (128 bits). */
const ID_HEX = 32;

export interface ReceivedFile {
  tempPath: string;
  size: number;
  sha256: string;
  /** The first `headBytes` bytes (or the whole file when smaller), for sniffing and image headers. */
  head: Buffer;
}

export interface StoredFile {
  /** Content id (hex): the file's name without extension. */
  id: string;
  /** File name inside the upload directory, e.g. "3f…9a.wav". */
  name: string;
  path: string;
  size: number;
  /** false when identical content was already stored (the existing file is reused). */
  created: boolean;
}

export interface RetentionPolicy {
  /** 0 = no age limit. */
  maxAgeMs: number;
  /** 0 = no size limit. */
  maxTotalBytes: number;
}

export interface PruneResult {
  removed: string[];
  totalBytes: number;
}

/** A full disk or quota is the operator's problem, not a crash: 507 STORAGE_FULL (the log keeps the errno). */
function storageError(e: unknown, field: string): unknown {
  const code = (e as { code?: string }).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return e;
  return new AppError('STORAGE_FULL', `no space left to store ${field}; try again later`, { details: { field }, cause: e });
}

export class UploadStore {
  /** Who uploaded what (upload-owners.ts); UploadService charges and checks quotas with it. */
  readonly owners = new UploadOwners();

  constructor(
    readonly dir: string,
    private readonly retention: RetentionPolicy,
  ) {}

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /**
   * Streams `source` into a new temporary file. More than `limit` bytes: the temporary file is removed and
   * PAYLOAD_TOO_LARGE thrown (the rest of the stream is not read).
   */
  async receive(source: Readable, limit: number, field: string, headBytes: number): Promise<ReceivedFile> {
    await this.ensureDir();
    const tempPath = join(this.dir, `${TEMP_PREFIX}${randomUUID()}`);
    const hash = createHash('sha256');
    const headChunks: Buffer[] = [];
    let headLength = 0;
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > limit) {
          done(new AppError('PAYLOAD_TOO_LARGE', `${field} is larger than the limit of ${limit} bytes`, { details: { field, limit } }));
          return;
        }
        hash.update(chunk);
        if (headLength < headBytes) {
          const part = chunk.subarray(0, headBytes - headLength);
          headChunks.push(Buffer.from(part));
          headLength += part.length;
        }
        done(null, chunk);
      },
    });
    // The multipart parser destroys a part's stream when the body turns out malformed or cut off, possibly
    // before we got here; pipeline() on a destroyed source never settles, and would leave the file it created.
    if (source.destroyed) throw Object.assign(new Error(`${field} ended before it was complete`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    try {
      await pipeline(source, meter, createWriteStream(tempPath, { flags: 'wx', mode: 0o640 }));
    } catch (e) {
      await this.discard(tempPath);
      // @fastify/multipart's own hard limit (the larger of the two field limits) ends the stream like this.
      if ((e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
        throw new AppError('PAYLOAD_TOO_LARGE', `${field} is larger than the limit of ${limit} bytes`, { details: { field, limit } });
      }
      throw storageError(e, field);
    }
    return { tempPath, size, sha256: hash.digest('hex'), head: Buffer.concat(headChunks) };
  }

  /** The name a file will be stored under (its content id and extension). */
  nameFor(file: ReceivedFile, ext: string): string {
    return file.sha256.slice(0, ID_HEX) + ext;
  }

  /** Moves a validated temporary file to its content-addressed name. Identical content reuses the stored file. */
  async commit(file: ReceivedFile, ext: string): Promise<StoredFile> {
    const name = this.nameFor(file, ext);
    const id = name.slice(0, ID_HEX);
    const path = join(this.dir, name);
    let created = true;
    try {
      await lstat(path);
      created = false;
    } catch {
      // not stored yet
    }
    if (created) {
      await rename(file.tempPath, path).catch((e: unknown) => {
        throw storageError(e, 'upload');
      });
    } else {
      await this.discard(file.tempPath);
      const now = new Date();
      await utimes(path, now, now); // fresh again for the retention policy
    }
    return { id, name, path, size: file.size, created };
  }

  /** Removes a temporary file; missing is fine (idempotent). */
  async discard(tempPath: string): Promise<void> {
    await unlink(tempPath).catch(() => undefined);
  }

  /** Removes an upload this request created (all-or-nothing rollback). */
  async remove(stored: StoredFile): Promise<void> {
    if (!stored.created) return;
    await unlink(stored.path).catch(() => undefined);
    this.owners.forget(stored.name);
  }

  /**
   * Applies the retention policy: stale temporaries and files past the age limit go first, then, until the
   * directory fits the size limit, files without an owner (oldest first), then the oldest file of the
   * uploader holding the most bytes. Names in `keep` (just stored) are never removed.
   */
  async prune(keep: ReadonlySet<string> = new Set(), now = Date.now()): Promise<PruneResult> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return { removed: [], totalBytes: 0 };
    }
    const entries: { name: string; size: number; mtimeMs: number }[] = [];
    for (const name of names) {
      try {
        const info = await stat(join(this.dir, name));
        if (info.isFile()) entries.push({ name, size: info.size, mtimeMs: info.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
    const removed: string[] = [];
    const drop = async (name: string) => {
      await unlink(join(this.dir, name)).catch(() => undefined);
      this.owners.forget(name);
      removed.push(name);
    };
    const { maxAgeMs, maxTotalBytes } = this.retention;
    const live: typeof entries = [];
    for (const e of entries) {
      const temp = e.name.startsWith(TEMP_PREFIX);
      if (keep.has(e.name)) live.push(e);
      else if (temp ? now - e.mtimeMs > STALE_TEMP_MS : maxAgeMs > 0 && now - e.mtimeMs > maxAgeMs) await drop(e.name);
      else if (!temp) live.push(e);
    }
    this.owners.retain(new Set(live.map((e) => e.name)));
    let total = live.reduce((a, e) => a + e.size, 0);
    if (maxTotalBytes > 0 && total > maxTotalBytes) {
      const held = new Map<string, number>(); // uploader → bytes it holds on disk
      for (const e of live) for (const o of this.owners.ownersOf(e.name)) held.set(o, (held.get(o) ?? 0) + e.size);
      const candidates = live.filter((e) => !keep.has(e.name)).sort((a, b) => a.mtimeMs - b.mtimeMs);
      while (total > maxTotalBytes && candidates.length > 0) {
        let i = candidates.findIndex((e) => this.owners.ownersOf(e.name).length === 0);
        if (i < 0) {
          const heaviest = (e: (typeof candidates)[number]) => Math.max(...this.owners.ownersOf(e.name).map((o) => held.get(o) ?? 0));
          const top = Math.max(...candidates.map(heaviest));
          i = candidates.findIndex((e) => heaviest(e) === top); // that uploader's oldest (candidates are oldest first)
        }
        const [e] = candidates.splice(i, 1);
        for (const o of this.owners.ownersOf(e!.name)) held.set(o, (held.get(o) ?? 0) - e!.size);
        await drop(e!.name);
        total -= e!.size;
      }
    }
    return { removed, totalBytes: total };
  }
}
