import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, ROOT } from '../helpers/server-app.js';

/**
 * Drain on SIGTERM, with the real CLI server in a child process: /readyz turns 503 at once, new offers get 503
 * SHUTTING_DOWN with Retry-After, running sessions go on (and can still be used and ended by their owners)
 * until the drain deadline, when the rest are closed with reason drain-timeout; the exit code is 0.
 */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
const ADMIN = 'drain-test-admin-token-0123456789';
const DRAIN_S = 3;

t.test('SIGTERM drains: readiness, refusals, running sessions until the deadline, exit 0', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--log-level', 'info', '--ice-local-addresses', '127.0.0.1'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DITTO_AUTH_ADMIN_TOKENS: ADMIN,
      DITTO_LIFECYCLE_DRAIN_TIMEOUT_S: String(DRAIN_S),
      // unconnected sessions (no viewer in this test) must outlive the drain deadline
      DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '60000',
    },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 60000);
    child.stdout.on('data', () => {
      const m = /demo: (http:\/\/127\.0\.0\.1:\d+)\/demo/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  const offer = () =>
    fetch(`${base}/webrtc/offer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(offerPayload(OFFER)) });
  const a = (await (await offer()).json()) as { session_id: string; session_token: string };
  const b = (await (await offer()).json()) as { session_id: string; session_token: string };
  t.ok(a.session_token && b.session_token, 'two sessions running');
  t.equal((await fetch(`${base}/readyz`)).status, 200, 'ready before SIGTERM');

  const signalledAt = Date.now();
  child.kill('SIGTERM');
  // readiness flips at once; poll briefly since the signal is delivered asynchronously
  let ready = 200;
  for (let i = 0; i < 50 && ready === 200; i++) {
    ready = (await fetch(`${base}/readyz`)).status;
    if (ready === 200) await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(ready, 503, '/readyz answers 503 while draining');
  const readyz = await (await fetch(`${base}/readyz`)).json();
  t.match(readyz, { error: { code: 'NOT_READY', message: /draining/ } });

  const refused = await offer();
  t.equal(refused.status, 503, 'new offers are refused');
  t.equal(((await refused.json()) as { error: { code: string } }).error.code, 'SHUTTING_DOWN');
  t.ok(Number(refused.headers.get('retry-after')) >= 1, 'with Retry-After');

  const auth = (tok: string) => ({ authorization: `Bearer ${tok}` });
  t.equal((await fetch(`${base}/webrtc/sessions/${a.session_id}`, { headers: auth(a.session_token) })).status, 200, 'running sessions go on');
  t.equal((await fetch(`${base}/webrtc/sessions/${a.session_id}`, { method: 'DELETE', headers: auth(a.session_token) })).status, 200, 'and their owners can end them');
  const listed = (await (await fetch(`${base}/webrtc/sessions`, { headers: auth(ADMIN) })).json()) as { sessions: { session_id: string }[] };
  t.same(listed.sessions.map((s) => s.session_id), [b.session_id], 'one session left to the deadline');

  t.equal(await exited, 0, 'exit code 0');
  const tookS = (Date.now() - signalledAt) / 1000;
  t.ok(tookS >= DRAIN_S - 0.2, `the remaining session ran until the drain deadline (exit after ${tookS.toFixed(1)} s)`);
  const closed = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['msg'] === 'session closed');
  t.same(
    closed.map((l) => [l['session_id'], l['reason']]),
    [
      [a.session_id, 'deleted'],
      [b.session_id, 'drain-timeout'],
    ],
    'closed by its owner, then by the drain deadline',
  );
});
