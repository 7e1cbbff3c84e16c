import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding ditto-gst's package.json, found by walking up from this module, so defaults such as
 * `pipelines/` and the demo's sample media work from src/ (tsx) and dist/src/ (tsc) alike, whatever the working directory.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        if ((JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'ditto-gst') return dir;
      } catch {
        // an unreadable package.json is not ours: keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('ditto-gst package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
