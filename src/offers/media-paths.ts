import { realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, resolve, sep } from 'node:path';
import { AppError } from '../errors.js';

/**
 * Resolves a client-given audio_path / source_path to a real file inside the configured media directories.
 * The path is checked lexically before the filesystem is touched (so a client cannot probe which files
 * exist elsewhere), then again after realpath (so a symlink inside a media directory cannot point out of it).
 */

export type MediaKind = 'audio' | 'image';

export interface MediaPolicy {
  /** Absolute media roots (the upload directory included). */
  dirs: readonly string[];
  audioExtensions: readonly string[];
  imageExtensions: readonly string[];
}

const FIELD: Record<MediaKind, string> = { audio: 'audio_path', image: 'source_path' };

const inside = (path: string, root: string) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

async function realRoots(dirs: readonly string[]): Promise<string[]> {
  const roots = await Promise.all(
    dirs.map(async (d) => {
      const abs = resolve(d);
      try {
        return [abs, await realpath(abs)];
      } catch {
        return [abs]; // a configured dir that does not exist yet still bounds the lexical check
      }
    }),
  );
  return [...new Set(roots.flat())];
}

export async function resolveMediaPath(input: string, kind: MediaKind, policy: MediaPolicy): Promise<string> {
  const field = FIELD[kind];
  const details = { field, path: input };
  // Control characters (and a trailing backslash) cannot be passed safely to a gst-launch line.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(input) || input.endsWith('\\')) {
    throw new AppError('VALIDATION_FAILED', `${field} contains control characters or ends with a backslash`, { details: { field } });
  }
  const allowed = kind === 'audio' ? policy.audioExtensions : policy.imageExtensions;
  const checkExtension = (p: string) => {
    const ext = extname(p).toLowerCase();
    if (!allowed.includes(ext)) {
      throw new AppError('MEDIA_EXTENSION_NOT_ALLOWED', `Unsupported ${kind === 'audio' ? 'audio' : 'source'} extension: ${ext || '(none)'}`, {
        details: { ...details, allowed },
      });
    }
  };
  checkExtension(input);

  const roots = await realRoots(policy.dirs);
  // Relative names are looked up in each media directory in turn; absolute ones must lie inside one.
  const candidates = isAbsolute(input) ? [resolve(input)] : policy.dirs.map((d) => resolve(d, input));
  const lexical = candidates.filter((c) => roots.some((r) => inside(c, r)));
  if (lexical.length === 0) {
    throw new AppError('MEDIA_PATH_OUTSIDE_ROOTS', `${field} is outside the media directories`, { details });
  }

  for (const candidate of lexical) {
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      continue;
    }
    if (!roots.some((r) => inside(real, r))) {
      throw new AppError('MEDIA_PATH_OUTSIDE_ROOTS', `${field} resolves outside the media directories`, { details });
    }
    checkExtension(real);
    const info = await stat(real);
    if (!info.isFile()) throw new AppError('MEDIA_NOT_A_FILE', `${field} is not a regular file`, { details });
    return real;
  }
  throw new AppError('MEDIA_NOT_FOUND', `${kind === 'audio' ? 'audio' : 'source'} file not found: ${input}`, { details });
}
