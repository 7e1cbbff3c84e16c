/**
 * Liveness that standard receivers pass: three 60-second sessions at once with the server's default RTCP
 * silence limit: the CLI client (a GStreamer receiver: RTCP at RFC 3550's randomised >= 5 s interval), a WHEP
 * client with Chromium as its peer, and Chromium on the JSON API. None may be torn down; each keeps
 * decoding. The longest RTCP silence seen from each viewer is printed (the figure the limit must cover).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ChromiumBrowser, chromiumAvailable } from '../helpers/chromium.js';
import { offerPayload, ROOT, testServer, type TestServer } from '../helpers/server-app.js';
import { wavS16Mono16k } from '../helpers/media-files.js';
import { WhepClient } from '../helpers/whep-client.js';

if (!chromiumAvailable()) {
  t.fail('Chromium is missing: run `bash docker/setup.sh --test`');
  process.exit(1);
}

const RUN_S = 60;

/** The sample speech (12 s) looped to `seconds`: a session ends with its audio. */
function writeLongSpeech(path: string, seconds: number): void {
  const pcm = readFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav')).subarray(44);
  const out = Buffer.alloc(seconds * 32000);
  for (let o = 0; o < out.length; o += pcm.length) pcm.copy(out, o, 0, Math.min(pcm.length, out.length - o));
  writeFileSync(path, wavS16Mono16k(out));
}

let server: TestServer;
let browser: ChromiumBrowser;
let base: string;

t.before(async () => {
  server = await testServer({ DITTO_WHEP_PRESETS: 'long:source_path=portrait.jpg;audio_path=long.wav;frame_scale=0.5' });
  t.equal(server.config.sessions.rtcpSilenceTimeoutMs, 20000, 'the default RTCP silence limit, as shipped');
  writeLongSpeech(join(server.mediaDir, 'long.wav'), RUN_S + 15);
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  browser = await ChromiumBrowser.launch();
});
t.teardown(async () => {
  await browser?.close();
  await server?.cleanup();
});

t.test(`CLI client, WHEP client and Chromium all keep ${RUN_S}-second sessions`, async (t) => {
  const closed: { id: string; reason: string; detail: string | null }[] = [];
  server.app.sessions.on('closed', (s, { reason, detail }) => closed.push({ id: s.id, reason, detail }));

  // 1. the CLI client (GStreamer webrtcbin receiver), as a user runs it
  let cliErr = '';
  const cli = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'client', '--server', base, '--audio', 'long.wav', '--source', 'portrait.jpg', '--frame-scale', '0.5', '--duration', String(RUN_S + 2), '--ice-local-address', '127.0.0.1'],
    { cwd: ROOT, env: process.env },
  );
  cli.stderr.on('data', (d) => (cliErr += d));
  const cliDone = new Promise<number | null>((resolve) => cli.on('close', resolve));
  t.teardown(() => cli.kill('SIGKILL'));

  // 2. a WHEP client with Chromium as its peer
  const whepRx = await browser.newReceiver();
  const whep = await WhepClient.connect(`${base}/whep/long`, await whepRx.createOffer());
  await whepRx.acceptAnswer(whep.answer);
  // 3. Chromium on the JSON API
  const rx = await browser.newReceiver();
  const res = await fetch(`${base}/webrtc/offer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(offerPayload(await rx.createOffer(), { audio_path: 'long.wav', frame_scale: 0.5 })),
  });
  const answer = (await res.json()) as { sdp: string; session_id: string };
  t.equal(res.status, 200);
  await rx.acceptAnswer(answer.sdp);

  // Watch every session's RTCP silence for the whole run.
  const maxSilence = new Map<string, number>();
  const started = Date.now();
  while (Date.now() - started < RUN_S * 1000) {
    for (const s of server.app.sessions.list()) {
      const ms = s.snapshot().ms_since_last_rtcp;
      if (ms !== null) maxSilence.set(s.id, Math.max(maxSilence.get(s.id) ?? 0, ms));
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const live = server.app.sessions.list().map((s) => s.id);
  t.equal(live.length, 3, `three sessions after ${RUN_S} s`);
  t.same(closed, [], 'none was torn down');

  const [a, b] = [await whepRx.stats(), await rx.stats()];
  t.ok((a.video?.framesDecoded ?? 0) > RUN_S * 25 * 0.6, `WHEP/Chromium decoded ${a.video?.framesDecoded} frames`);
  t.ok((b.video?.framesDecoded ?? 0) > RUN_S * 25 * 0.6, `Chromium decoded ${b.video?.framesDecoded} frames`);
  const code = await cliDone;
  t.equal(code, 0, 'the CLI client exits 0');
  const m = /ended \(([\w-]+)\): (\d+) video frames/.exec(cliErr);
  t.equal(m?.[1], 'duration', `the CLI client ran its full duration (${cliErr.trim().split('\n').at(-1)})`);
  t.ok(Number(m?.[2] ?? 0) > RUN_S * 25 * 0.6, `the CLI client received ${m?.[2]} frames`);
  for (const [id, ms] of maxSilence) t.comment(`session ${id}: longest RTCP silence ${Math.round(ms)} ms`);
  t.ok(Math.max(...maxSilence.values()) < server.config.sessions.rtcpSilenceTimeoutMs, 'every viewer reported within the limit');
  await whep.close();
  await whepRx.close();
  await rx.close();
});
