import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { configOptions, valueFromText } from '../../src/config/options.js';
import { parseArgs } from '../../src/cli/args.js';
import { configOptionsHelp } from '../../src/cli/help.js';

const dir = mkdtempSync(join(tmpdir(), 'ditto-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
};

t.test('defaults', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.host, '127.0.0.1');
  t.equal(c.port, 8080);
  t.same(c.element, { frameScale: 1, samplingTimesteps: 10, chunkConfig: [3, 5, 2], chunkSleepS: 0, backend: 'builtin' });
  t.same(c.pipelines.codecPreference, ['VP8', 'H264']);
  t.match(c.pipelines.dir, /\/pipelines$/);
  t.ok(c.media.dirs[0]!.startsWith('/'), 'default paths are absolute (package root), whatever the cwd');
  t.match(c.ice, { servers: [], turnSecret: '', minPort: 0, maxPort: 0, publicAddress: '', tcp: true, stunServer: '', turnServers: [], localAddresses: [] }, 'ICE: host candidates only');
});

t.test('every option has a flag and an env var derived from its path', async (t) => {
  const opts = configOptions();
  const find = (p: string) => opts.find((o) => o.path.join('.') === p)!;
  t.match(find('sessions.max'), { flag: '--sessions-max', env: 'DITTO_SESSIONS_MAX', kind: 'number' });
  t.match(find('ice.localAddresses'), { flag: '--ice-local-addresses', env: 'DITTO_ICE_LOCAL_ADDRESSES', kind: 'string[]' });
  t.match(find('element.chunkConfig'), { kind: 'number[]', defaultValue: [3, 5, 2] });
  t.match(find('logLevel'), { kind: 'string', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] });
  t.ok(opts.every((o) => o.description.length > 0), 'every option is described');
  const help = configOptionsHelp();
  for (const o of opts) t.ok(help.includes(o.flag) && help.includes(o.env), `help lists ${o.flag}`);
  t.same(valueFromText(find('ice.turnServers'), ''), [], 'empty text is an empty list');
  t.same(valueFromText(find('element.chunkConfig'), '4, 4,4'), [4, 4, 4]);
  t.equal(valueFromText(find('port'), 'abc'), 'abc', 'non-numbers are left for the schema to reject');
});

t.test('precedence: flag > env > file > default', async (t) => {
  const cfg = file('precedence.json', { port: 1111, sessions: { max: 2, connectTimeoutMs: 3000 }, element: { frameScale: 0.3 } });
  const c = loadConfig({
    configFile: cfg,
    env: { DITTO_PORT: '2222', DITTO_SESSIONS_MAX: '3', DITTO_ELEMENT_CHUNK_CONFIG: '4,4,4' },
    flags: { port: '3333' },
  });
  t.equal(c.port, 3333, 'flag beats env and file');
  t.equal(c.sessions.max, 3, 'env beats file');
  t.equal(c.sessions.connectTimeoutMs, 3000, 'file beats default');
  t.equal(c.element.frameScale, 0.3);
  t.same(c.element.chunkConfig, [4, 4, 4]);
  t.equal(c.sessions.disconnectedGraceMs, 5000, 'untouched defaults stay');
  const viaEnv = loadConfig({ env: { DITTO_CONFIG: cfg } });
  t.equal(viaEnv.port, 1111, 'DITTO_CONFIG names the file');
  const viaFlag = loadConfig({ env: {}, flags: { config: cfg } });
  t.equal(viaFlag.sessions.max, 2, '--config names the file');
});

t.test('relative paths resolve against the cwd (flags/env) or the config file directory', async (t) => {
  const cfg = file('paths.json', { media: { dirs: ['m1', '/abs/m2'] } });
  t.same(loadConfig({ configFile: cfg, env: {} }).media.dirs, [join(dir, 'm1'), '/abs/m2']);
  t.same(loadConfig({ env: { DITTO_MEDIA_DIRS: 'a,b' }, cwd: '/srv' }).media.dirs, ['/srv/a', '/srv/b']);
  t.equal(loadConfig({ env: {}, flags: { 'upload-dir': 'up' }, cwd: '/srv' }).uploadDir, '/srv/up');
});

t.test('invalid configuration names the option and its source', async (t) => {
  t.throws(() => loadConfig({ env: { DITTO_PORT: 'eighty' } }), { code: 'CONFIG_INVALID', message: /port \(env DITTO_PORT\)/ });
  t.throws(() => loadConfig({ env: {}, flags: { 'element-frame-scale': '2' } }), { code: 'CONFIG_INVALID', message: /element\.frameScale \(flag --element-frame-scale\)/ });
  t.throws(() => loadConfig({ env: { DITTO_ELEMENT_CHUNK_CONFIG: '10,10,10' } }), { code: 'CONFIG_INVALID', message: /add up to 5\.\.20/ });
  t.throws(() => loadConfig({ env: { DITTO_PIPELINES_CODEC_PREFERENCE: 'VP8,AV1' } }), { code: 'CONFIG_INVALID', message: /codecPreference/ });
  t.throws(() => loadConfig({ env: {}, flags: { 'no-such-flag': '1' } }), { code: 'CONFIG_INVALID', message: /unknown option --no-such-flag/ });
  t.throws(() => loadConfig({ env: {}, configFile: file('typo.json', { sesions: { max: 1 } }) }), { code: 'CONFIG_INVALID', message: /unknown key "sesions"/ });
  t.throws(() => loadConfig({ env: {}, configFile: file('typo2.json', { sessions: { maxx: 1 } }) }), { code: 'CONFIG_INVALID', message: /unknown key "sessions\.maxx"/ });
  t.throws(() => loadConfig({ env: {}, configFile: file('bad.json', '{nope') }), { code: 'CONFIG_INVALID', message: /bad\.json/ });
  t.throws(() => loadConfig({ env: {}, configFile: join(dir, 'missing.json') }), { code: 'CONFIG_INVALID' });
  t.throws(() => loadConfig({ env: { DITTO_MEDIA_AUDIO_EXTENSIONS: 'wav' } }), { code: 'CONFIG_INVALID', message: /leading dot/ });
});

t.test('CLI argument parsing', async (t) => {
  t.same(parseArgs(['serve', '--port', '9000', '--host=0.0.0.0', '--ice-local-addresses', '127.0.0.1']), {
    command: 'serve',
    flags: { port: '9000', host: '0.0.0.0', 'ice-local-addresses': '127.0.0.1' },
    positionals: [],
    help: false,
  });
  t.same(parseArgs(['serve', '--verbose', '--port', '1']).flags, { verbose: 'true', port: '1' }, 'a flag followed by a flag is boolean');
  t.same(parseArgs(['serve', '--flag', 'x'], new Set(['flag'])), { command: 'serve', flags: { flag: 'true' }, positionals: ['x'], help: false });
  t.equal(parseArgs(['serve', '-h']).help, true);
  t.same(parseArgs(['serve', '--', '--port']).positionals, ['--port']);
  t.throws(() => parseArgs(['--=1']));
});

t.test('worker pool settings (backend "ditto"): DITTO_WORKER_SOCKET, required with that backend', async (t) => {
  const d = loadConfig({ env: {} });
  t.same(d.worker, { socket: '', reserveTimeoutMs: 2000, reservationTtlS: 30, timeoutS: 30 });
  const c = loadConfig({ env: { DITTO_ELEMENT_BACKEND: 'ditto', DITTO_WORKER_SOCKET: 'run/pool.sock', DITTO_WORKER_RESERVATION_TTL_S: '10' }, cwd: '/srv' });
  t.equal(c.worker.socket, '/srv/run/pool.sock', 'the same variable the element falls back to; relative to where it was given');
  t.equal(c.worker.reservationTtlS, 10);
  t.throws(() => loadConfig({ env: { DITTO_ELEMENT_BACKEND: 'ditto' } }), {
    code: 'CONFIG_INVALID',
    message: /worker\.socket \(default\): required when element\.backend is "ditto"/,
  });
  t.throws(() => loadConfig({ env: { DITTO_WORKER_SOCKET: '/x', DITTO_WORKER_RESERVE_TIMEOUT_MS: '10' } }), { code: 'CONFIG_INVALID', message: /worker\.reserveTimeoutMs \(env DITTO_WORKER_RESERVE_TIMEOUT_MS\)/ });
});
