import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multipart, repeatWav } from '../helpers/media-files.js';
import { testServer } from '../helpers/server-app.js';

/**
 * Fault: the upload disk fills. The upload directory is a 2 MiB tmpfs this test mounts; an upload larger than
 * what is left fails with 507 STORAGE_FULL in the one error shape, leaves nothing partial (no temporary, no
 * final name), is counted in /metrics, and the server goes on storing uploads that fit. Needs root (mount).
 */

function canMount(): boolean {
  return process.getuid?.() === 0;
}

t.test('a full upload disk answers 507 STORAGE_FULL, keeps nothing partial, and the server goes on', { skip: !canMount() && 'needs root to mount a tmpfs' }, async (t) => {
  const disk = mkdtempSync(join(tmpdir(), 'ditto-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk], { stdio: 'pipe' });
  } catch (e) {
    rmSync(disk, { recursive: true, force: true });
    t.comment(`cannot mount a tmpfs here: ${String(e).slice(0, 200)}`);
    t.pass('skipped: no tmpfs mount');
    return;
  }
  t.teardown(() => {
    execFileSync('umount', ['-l', disk], { stdio: 'pipe' });
    rmSync(disk, { recursive: true, force: true });
  });
  const s = await testServer({ DITTO_UPLOAD_DIR: disk });
  t.teardown(() => s.cleanup());
  const speech = readFileSync(join(s.mediaDir, 'speech.wav'));
  const portrait = readFileSync(join(s.mediaDir, 'portrait.jpg'));
  const big = repeatWav(speech, 8); // ~3 MiB, more than the whole disk
  const post = (field: string, filename: string, data: Buffer) => {
    const { payload, headers } = multipart([{ field, filename, data }]);
    return s.app.inject({ method: 'POST', url: '/upload', payload, headers });
  };

  const first = await post('audio', 'speech.wav', speech);
  t.equal(first.statusCode, 200, `an upload that fits is stored: ${first.body.slice(0, 200)}`);
  const before = readdirSync(disk).sort();

  const full = await post('audio', 'long.wav', big);
  t.equal(full.statusCode, 507, `the disk is full: ${full.body.slice(0, 300)}`);
  t.equal(full.json().error.code, 'STORAGE_FULL');
  t.notMatch(full.body, /ENOSPC|\/tmp|ditto-full-disk|stack/i, 'no errno or paths in the answer');
  t.same(readdirSync(disk).sort(), before, 'nothing partial is left (no temporary, no new name)');

  t.equal((await s.app.inject('/healthz')).statusCode, 200, 'the server stays up');
  const image = await post('source', 'portrait.jpg', portrait);
  t.equal(image.statusCode, 200, 'and stores what still fits');
  t.match((await s.app.inject('/metrics')).body, /ditto_errors_total\{code="STORAGE_FULL"\} 1/, '/metrics counts it');
});
