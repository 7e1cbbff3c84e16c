import t from 'tap';
import { mkdtempSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumAvailable } from '../helpers/chromium.js';
import { ROOT, testServer } from '../helpers/server-app.js';

/**
 * The /demo page driven like a person in Debian's headless Chromium: it loads its config, a portrait is
 * uploaded through the file picker, Start is clicked, the face plays with live stats, the screenshot shows it,
 * and Stop ends the session on the server.
 */

t.test('the demo page streams the animated face', { skip: !chromiumAvailable() && 'no Chromium' }, async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const profile = mkdtempSync(join(tmpdir(), 'ditto-demo-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    viewport: { width: 1280, height: 860 },
  });
  t.teardown(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = await browser.newPage();
  await page.goto(`${url}/demo`);
  await page.waitForFunction(() => (document.getElementById('audio_path') as HTMLInputElement).value !== '');
  t.equal(await page.inputValue('#audio_path'), 'speech.wav', 'sample media from /demo/config');
  t.equal(await page.inputValue('#frame_scale'), '1');

  // Upload a portrait through the picker: the field then holds the server's content-hash name.
  const portrait = join(s.mediaDir, 'picked.jpg');
  copyFileSync(join(ROOT, 'media', 'portrait.jpg'), portrait);
  await page.setInputFiles('#source_file', portrait);
  await page.waitForFunction(() => /^[0-9a-f]{32}\.jpg$/.test((document.getElementById('source_path') as HTMLInputElement).value));

  await page.fill('#frame_scale', '0.75');
  await page.click('#start');
  await page.waitForFunction(
    () => {
      const v = document.getElementById('video') as HTMLVideoElement;
      return v.videoWidth > 0 && v.currentTime > 1.5;
    },
    undefined,
    { timeout: 20000 },
  );
  t.equal(await page.textContent('#conn'), 'connected');
  const size = await page.evaluate(() => {
    const v = document.getElementById('video') as HTMLVideoElement;
    return [v.videoWidth, v.videoHeight];
  });
  t.same(size, [384, 384], 'frame scale 0.75 of the 512x512 portrait');
  await page.waitForFunction(() => (document.getElementById('stats')?.textContent ?? '').includes('fps'));
  t.match(await page.textContent('#stats'), /resolution384×384/);
  await page.waitForFunction(() => (document.getElementById('server-stats')?.textContent ?? '').includes('connected'));
  const shot = join(ROOT, 'var', 'demo.png');
  await page.screenshot({ path: shot });
  try {
    copyFileSync(shot, '/work/brief/demo.png');
  } catch {
    // only where the brief directory exists
  }
  t.equal(s.app.sessions.size, 1);
  await page.click('#stop');
  await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'idle');
  for (let i = 0; i < 100 && s.app.sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(s.app.sessions.size, 0, 'Stop ended the session on the server');
});
