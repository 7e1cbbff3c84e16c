import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { ROOT } from '../helpers/server-app.js';

/** The `ditto-gst` CLI as a user runs it: help, refusal of bad options, serve + SIGTERM. */

const MAIN = 'src/cli/main.ts';
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30000 });

t.test('help lists commands and every option', async (t) => {
  let r = run(['--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /Usage: ditto-gst <command>/);
  t.match(r.stdout, /serve\s+run the WebRTC signalling server/);
  r = run(['serve', '--help']);
  t.equal(r.status, 0);
  for (const flag of ['--host', '--port', '--media-dirs', '--sessions-max', '--ice-local-addresses', '--element-frame-scale', '--config']) {
    t.match(r.stdout, flag);
  }
  t.match(r.stdout, /DITTO_SESSIONS_MAX/);
});

t.test('bad commands and options exit non-zero with a clear message', async (t) => {
  let r = run(['frobnicate']);
  t.equal(r.status, 2);
  t.match(r.stderr, /unknown command "frobnicate"/);
  r = run(['serve', '--no-such-option', 'x']);
  t.equal(r.status, 1);
  t.match(r.stderr, /CONFIG_INVALID: unknown option --no-such-option/);
  r = run(['serve'], { DITTO_PORT: 'http' });
  t.equal(r.status, 1);
  t.match(r.stderr, /port \(env DITTO_PORT\)/);
});

t.test('serve prints the demo URL, answers, and stops gracefully on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--port', '0', '--log-level', 'warn', '--ice-local-addresses', '127.0.0.1'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed; stdout: ${out} stderr: ${err}`)), 30000);
    child.stdout.on('data', () => {
      const m = /demo: (http:\/\/127\.0\.0\.1:(\d+))\/demo/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  const status = await (await fetch(url + '/')).json();
  t.match(status, { name: 'ditto-gst' });
  const health = await fetch(url + '/healthz');
  t.equal(health.status, 200);
  t.match(await health.json(), { status: 'ok' });
  const ready = await fetch(url + '/readyz');
  t.equal(ready.status, 200);
  t.match(await ready.json(), { status: 'ready', checks: { gstreamer: { ready: true, details: { gstreamer: /^GStreamer 1\./, pipelines: [{ codec: 'VP8' }, { codec: 'H264' }] } } } });
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0 after SIGTERM');
});
