import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { privateTmp, eventually } from './disk.js';
import { makeAudio, makeImage, multipart } from '../helpers/media-files.js';
import { testServer, TEST_ADMIN_TOKEN } from '../helpers/server-app.js';

/**
 * Uploads over real TCP to a listening server: connections cut mid-file and between two parts, and clients
 * that dribble their body a few bytes at a time. Nothing may be stored, no temporary may stay, the server
 * keeps answering, and a dribbler is cut off with 408 UPLOAD_TIMEOUT in the one error shape.
 */

const tmp = privateTmp();
t.teardown(() => tmp.cleanup());
const work = mkdtempSync(`${tmp.root}/files-`);
const wav = readFileSync(makeAudio(work, 'wav'));
const png = readFileSync(makeImage(work, 'png'));
rmSync(work, { recursive: true });

const s = await testServer({ DITTO_UPLOAD_TIMEOUT_MS: '1500' });
t.teardown(() => s.cleanup());
await s.app.listen({ host: '127.0.0.1', port: 0 });
const port = (s.app.server.address() as { port: number }).port;
mkdirSync(s.config.uploadDir, { recursive: true });
const baseline = tmp.snapshot();

const { payload, headers } = multipart([
  { field: 'audio', filename: 'speech.wav', data: wav },
  { field: 'source', filename: 'face.png', data: png },
]);
const head = Buffer.from(
  `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_ADMIN_TOKEN}\r\n` +
    `Content-Type: ${headers['content-type']}\r\nContent-Length: ${payload.length}\r\n\r\n`,
);
/** Where the second part starts: everything before it is the complete, valid audio part. */
const secondPart = payload.indexOf(Buffer.from('name="source"')) - 80;

const open = () =>
  new Promise<Socket>((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  });
const response = (c: Socket) =>
  new Promise<string>((resolve) => {
    let got = '';
    c.on('data', (d) => (got += d.toString('latin1')));
    c.on('close', () => resolve(got));
    c.on('error', () => undefined);
  });
const healthy = async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
const settled = () => eventually(tmp.snapshot, (now) => now.join('\n') === baseline.join('\n'));

t.test('a connection destroyed mid-file stores nothing and leaves no temporary', async (t) => {
  for (const cut of [head.length + 300, head.length + Math.floor(wav.length / 2), head.length + secondPart + 150]) {
    const c = await open();
    c.write(Buffer.concat([head, payload]).subarray(0, cut));
    await new Promise((r) => setTimeout(r, 300)); // the server is writing the temporary now
    c.destroy();
    t.same(await settled(), baseline, `cut at byte ${cut}: nothing left on disk`);
  }
  t.ok(await healthy(), 'the server still answers');
});

t.test('a connection cut between two parts does not store the complete first part', async (t) => {
  const c = await open();
  c.write(Buffer.concat([head, payload.subarray(0, secondPart)]));
  await new Promise((r) => setTimeout(r, 500));
  c.destroy();
  t.same(await settled(), baseline, 'the valid audio part was not kept');
  t.ok(await healthy());
});

t.test('a dribbled body is cut off with 408 UPLOAD_TIMEOUT and leaves nothing', async (t) => {
  for (const [what, start] of [
    ['mid-file', head.length + 200],
    ['between parts', head.length + secondPart],
  ] as const) {
    const c = await open();
    const answer = response(c);
    const all = Buffer.concat([head, payload]);
    c.write(all.subarray(0, start));
    let at = start;
    // 8 bytes every 100 ms: well under what the body needs to arrive inside the 1.5 s limit.
    const drip = setInterval(() => {
      if (c.destroyed || at >= all.length - 64) return;
      c.write(all.subarray(at, at + 8));
      at += 8;
    }, 100);
    const got = await Promise.race([answer, new Promise<string>((r) => setTimeout(() => r('no answer in 15 s'), 15_000))]);
    clearInterval(drip);
    c.destroy();
    t.match(got, /^HTTP\/1\.1 408 /, `${what}: ${got.slice(0, 80)}`);
    const body = got.slice(got.indexOf('\r\n\r\n') + 4);
    t.match(JSON.parse(body), { error: { code: 'UPLOAD_TIMEOUT', message: String } }, what);
    t.notMatch(body, /\n\s+at |busboy|node:internal/, 'nothing internal in the answer');
    t.same(await settled(), baseline, `${what}: nothing left on disk`);
  }
  t.ok(await healthy());
});

t.test('a whole upload over the same server still works', async (t) => {
  const r = await fetch(`http://127.0.0.1:${port}/upload`, {
    method: 'POST',
    headers: { ...headers, authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    body: new Uint8Array(payload),
  });
  t.equal(r.status, 200, await r.clone().text());
  const names = tmp.snapshot().filter((n) => !baseline.includes(n));
  t.equal(names.length, 2, `the two files and nothing else: ${names.join(', ')}`);
  t.ok(names.every((n) => /\/[0-9a-f]{32}\.(wav|png)$/.test(n)));
});
