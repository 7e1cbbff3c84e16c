import t from 'tap';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveMediaPath, type MediaPolicy } from '../../src/offers/media-paths.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'ditto-media-')));
t.teardown(() => import('node:fs').then((fs) => fs.rmSync(root, { recursive: true, force: true })));
const media = join(root, 'media');
const uploads = join(root, 'uploads');
const outside = join(root, 'outside');
for (const d of [media, uploads, outside, join(media, 'dir.wav')]) mkdirSync(d, { recursive: true });
writeFileSync(join(media, 'speech.wav'), 'RIFF');
writeFileSync(join(media, 'with space "quote".WAV'), 'RIFF');
writeFileSync(join(media, 'face.png'), 'PNG');
writeFileSync(join(media, 'notes.txt'), 'x');
writeFileSync(join(uploads, 'up.mp3'), 'ID3');
writeFileSync(join(outside, 'secret.wav'), 'RIFF');
symlinkSync(join(outside, 'secret.wav'), join(media, 'escape.wav'));
symlinkSync(join(media, 'speech.wav'), join(media, 'alias.wav'));
symlinkSync(join(media, 'notes.txt'), join(media, 'renamed.wav'));

const policy: MediaPolicy = { dirs: [media, uploads], audioExtensions: ['.wav', '.mp3'], imageExtensions: ['.png', '.jpg'] };

t.test('files inside the media dirs resolve to their real path', async (t) => {
  t.equal(await resolveMediaPath(join(media, 'speech.wav'), 'audio', policy), join(media, 'speech.wav'));
  t.equal(await resolveMediaPath('speech.wav', 'audio', policy), join(media, 'speech.wav'), 'relative names are looked up in the media dirs');
  t.equal(await resolveMediaPath('up.mp3', 'audio', policy), join(uploads, 'up.mp3'), 'second media dir');
  t.equal(await resolveMediaPath(join(media, 'with space "quote".WAV'), 'audio', policy), join(media, 'with space "quote".WAV'), 'extension case-insensitive');
  t.equal(await resolveMediaPath(join(media, 'alias.wav'), 'audio', policy), join(media, 'speech.wav'), 'a symlink inside the roots is followed');
  t.equal(await resolveMediaPath(join(media, '..', 'media', 'face.png'), 'image', policy), join(media, 'face.png'));
});

t.test('refusals carry stable codes and the field name', async (t) => {
  await t.rejects(resolveMediaPath(join(outside, 'secret.wav'), 'audio', policy), { code: 'MEDIA_PATH_OUTSIDE_ROOTS', status: 400, details: { field: 'audio_path' } });
  await t.rejects(resolveMediaPath('../outside/secret.wav', 'audio', policy), { code: 'MEDIA_PATH_OUTSIDE_ROOTS' }, 'dot-dot escape');
  await t.rejects(resolveMediaPath(join(media, 'escape.wav'), 'audio', policy), { code: 'MEDIA_PATH_OUTSIDE_ROOTS' }, 'symlink escape');
  await t.rejects(resolveMediaPath(join(outside, 'nonexistent.wav'), 'audio', policy), { code: 'MEDIA_PATH_OUTSIDE_ROOTS' }, 'outside is refused before existence is checked');
  await t.rejects(resolveMediaPath(join(media, 'missing.wav'), 'audio', policy), { code: 'MEDIA_NOT_FOUND', message: /audio file not found/ });
  await t.rejects(resolveMediaPath(join(media, 'notes.txt'), 'audio', policy), { code: 'MEDIA_EXTENSION_NOT_ALLOWED', message: 'Unsupported audio extension: .txt' });
  await t.rejects(resolveMediaPath(join(media, 'renamed.wav'), 'audio', policy), { code: 'MEDIA_EXTENSION_NOT_ALLOWED' }, 'target extension counts too');
  await t.rejects(resolveMediaPath(join(media, 'speech.wav'), 'image', policy), { code: 'MEDIA_EXTENSION_NOT_ALLOWED', details: { field: 'source_path' } });
  await t.rejects(resolveMediaPath(join(media, 'dir.wav'), 'audio', policy), { code: 'MEDIA_NOT_A_FILE' });
  await t.rejects(resolveMediaPath(join(media, 'x\n.wav'), 'audio', policy), { code: 'VALIDATION_FAILED' }, 'control characters');
  await t.rejects(resolveMediaPath(join(media, 'x.wav\\'), 'audio', policy), { code: 'VALIDATION_FAILED' }, 'trailing backslash');
  await t.rejects(resolveMediaPath('/etc/passwd', 'audio', policy), { code: 'MEDIA_EXTENSION_NOT_ALLOWED' });
});
