/**
 * "Leaves nothing on disk", checked for real: the test process (and every probe child it forks) gets a private
 * TMPDIR, so a snapshot of everything under it — the upload directory, its temporaries and any temp file a
 * decoder or a library writes — can be compared before and after each hostile request.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** Call before the server is built: os.tmpdir() (and so every mkdtemp of the helpers) reads TMPDIR each time. */
export function privateTmp(): { root: string; snapshot(): string[]; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'ditto-fuzz-tmp-'));
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = root;
  const walk = (dir: string, out: string[]) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return out;
    }
    for (const e of entries) {
      // tsx's compile cache (the probe workers run from source in tests), not a file of ours.
      if (dir === root && e.name.startsWith('tsx-')) continue;
      const p = join(dir, e.name);
      out.push(relative(root, p) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) walk(p, out);
    }
    return out;
  };
  return {
    root,
    snapshot: () => walk(root, []).sort(),
    cleanup() {
      if (previous === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = previous;
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` holds (teardown after a dropped connection is asynchronous); the last value otherwise. */
export async function eventually<T>(read: () => T, check: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = read();
  while (!check(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    v = read();
  }
  return v;
}
