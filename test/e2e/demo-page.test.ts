import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, FAKE_MEDIA_ARGS, chromiumAvailable } from '../helpers/chromium.js';
import { ROOT, testServer, type TestServer } from '../helpers/server-app.js';

/**
 * The /demo page driven like a person in Debian's headless Chromium: it loads its config, a portrait is
 * uploaded through the file picker, Start is clicked, the face plays with live stats, the screenshot shows it,
 * and Stop ends the session on the server. Microphone mode sends Chromium's fake microphone on the same peer
 * connection; live-push mode says a WAV file over the session's WebSocket and interrupts it.
 */

async function openDemo(t: Test): Promise<{ s: TestServer; url: string; page: Page }> {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const profile = mkdtempSync(join(tmpdir(), 'ditto-demo-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    // The fake microphone plays a beep tone; permission is granted without a prompt.
    args: [...CHROMIUM_ARGS, ...FAKE_MEDIA_ARGS],
    viewport: { width: 1280, height: 860 },
  });
  t.teardown(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return { s, url, page: await browser.newPage() };
}

/** The video element has shown `seconds` of the stream. */
const playing = (page: Page, seconds: number) =>
  page.waitForFunction(
    (min) => {
      const v = document.getElementById('video') as HTMLVideoElement;
      return v.videoWidth > 0 && v.currentTime > min;
    },
    seconds,
    { timeout: 20000 },
  );

/** A number from the server-session panel ("silence frames" → its value). */
async function serverStat(page: Page, name: string): Promise<string | null> {
  return page.evaluate((n) => {
    const dts = [...document.querySelectorAll('#server-stats dt')];
    const dt = dts.find((d) => d.textContent === n);
    return dt?.nextElementSibling?.textContent ?? null;
  }, name);
}

async function saveShot(page: Page, name: string): Promise<void> {
  const shot = join(ROOT, 'var', name);
  await page.screenshot({ path: shot });
  try {
    copyFileSync(shot, join('/work/brief', name));
  } catch {
    // only where the brief directory exists
  }
}

t.test('the demo page streams the animated face', { skip: !chromiumAvailable() && 'no Chromium' }, async (t) => {
  const { s, url, page } = await openDemo(t);
  await page.goto(`${url}/demo`);
  await page.waitForFunction(() => (document.getElementById('audio_path') as HTMLInputElement).value !== '');
  t.equal(await page.inputValue('#audio_path'), 'speech.wav', 'sample media from /demo/config');
  t.equal(await page.inputValue('#frame_scale'), '1');

  // Upload a portrait through the picker: the field then holds the server's content-hash name.
  const portrait = join(s.mediaDir, 'picked.jpg');
  copyFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg'), portrait);
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
  await saveShot(page, 'demo.png');
  t.equal(s.app.sessions.size, 1);
  await page.click('#stop');
  await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'idle');
  for (let i = 0; i < 100 && s.app.sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(s.app.sessions.size, 0, 'Stop ended the session on the server');
});

t.test('microphone mode: the fake microphone drives the face', { skip: !chromiumAvailable() && 'no Chromium' }, async (t) => {
  const { s, url, page } = await openDemo(t);
  await page.goto(`${url}/demo`);
  await page.waitForFunction(() => (document.getElementById('audio_path') as HTMLInputElement).value !== '');
  await page.click('text=Microphone');
  t.ok(await page.isHidden('#file_fields'), 'no speech file in microphone mode');
  t.match(await page.textContent('#mode_hint'), /microphone/);
  await page.fill('#frame_scale', '0.75');
  await page.click('#start');
  await playing(page, 1.5);
  t.ok(await page.isVisible('#mic-badge'), 'the page shows the microphone is live');
  t.equal(await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).muted), true, 'playback muted against echo');
  await page.waitForFunction(() => (document.getElementById('server-stats')?.textContent ?? '').includes('audio sourcemic'));
  // The microphone arrives shortly after the connection; from then on no frame is padded with silence.
  await new Promise((r) => setTimeout(r, 2500));
  const before = Number(await serverStat(page, 'silence frames'));
  const framesBefore = Number(await serverStat(page, 'frames out'));
  await page.waitForFunction(
    (n) => Number([...document.querySelectorAll('#server-stats dt')].find((d) => d.textContent === 'frames out')?.nextElementSibling?.textContent) > n + 50,
    framesBefore,
    { timeout: 10000 },
  );
  const after = Number(await serverStat(page, 'silence frames'));
  t.ok(after - before <= 5, `the microphone feeds the element (silence frames ${before} → ${after})`);
  await page.waitForFunction(() => (document.getElementById('stats')?.textContent ?? '').includes('fps'));
  await saveShot(page, 'demo-mic.png');
  const [session] = s.app.sessions.list();
  t.equal(session?.audioSource, 'mic');
  await page.click('#stop');
  await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'idle');
  t.ok(await page.isHidden('#mic-badge'));
});

t.test('live-push mode: say a WAV file, then interrupt', { skip: !chromiumAvailable() && 'no Chromium' }, async (t) => {
  const { s, url, page } = await openDemo(t);
  await page.goto(`${url}/demo`);
  await page.waitForFunction(() => (document.getElementById('audio_path') as HTMLInputElement).value !== '');
  await page.click('text=Live push');
  await page.click('#start');
  await playing(page, 1);
  await page.waitForFunction(() => !(document.getElementById('interrupt') as HTMLButtonElement).disabled);
  t.ok(await page.isDisabled('#say_send'), 'Say waits for a file');
  await page.setInputFiles('#say_file', join(s.mediaDir, 'speech.wav'));
  await page.click('#say_send');
  await page.waitForFunction(() => /queued 12\.\d s/.test(document.getElementById('say_status')?.textContent ?? ''));
  await page.click('#interrupt');
  await page.waitForFunction(() => document.getElementById('say_status')?.textContent === 'interrupted');
  const [session] = s.app.sessions.list();
  t.match(session?.snapshot(), { audio_source: 'push', interrupts: 1 });
  t.ok((session?.snapshot().pushed_audio_s ?? 0) > 12);
  await page.click('#stop');
  await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'idle');
  t.ok(await page.isHidden('#say'), 'the say box goes with the session');
});
