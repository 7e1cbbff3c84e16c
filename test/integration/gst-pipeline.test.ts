import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GstError, Pipeline, gstVersion, hasElementFactory } from '../../src/gst/index.js';
import type { PipelineEvents } from '../../src/gst/index.js';

/**
 * src/gst over the addon with plain stock elements: launching, parse errors, elements and properties, state
 * changes off the JS thread, bus events, close() semantics.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The next event, bounded. The bound's timer also keeps Node running meanwhile: a playing pipeline alone does
 * not (the addon only holds the event loop open while one of its promises is pending).
 */
function nextEvent<A extends unknown[]>(
  subscribe: (listener: (...args: A) => void) => void,
  what: string,
  timeoutMs = 5000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    subscribe((...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function rejectsWith(t: Test, p: Promise<unknown>, code: GstError['code'], what: string) {
  try {
    await p;
    t.fail(`${what}: resolved, expected ${code}`);
  } catch (e) {
    t.ok(e instanceof GstError, `${what}: a GstError`);
    t.equal((e as GstError).code, code, `${what}: ${code} (${(e as Error).message})`);
  }
}

function throwsWith(t: Test, fn: () => unknown, code: GstError['code'], what: string): string {
  try {
    fn();
    t.fail(`${what}: did not throw`);
    return '';
  } catch (e) {
    t.ok(e instanceof GstError, `${what}: a GstError`);
    t.equal((e as GstError).code, code, `${what}: ${code} (${(e as Error).message})`);
    return (e as Error).message;
  }
}

t.test('version and element factories', async (t) => {
  t.match(gstVersion(), /^GStreamer 1\.\d+/);
  t.equal(gstVersion(), gstVersion(), 'idempotent');
  t.ok(hasElementFactory('webrtcbin'));
  t.ok(hasElementFactory('videotestsrc'));
  t.notOk(hasElementFactory('no-such-element-anywhere'));
});

t.test('bad launch descriptions are GstError GST_PARSE with GStreamer text', async (t) => {
  const missing = throwsWith(t, () => Pipeline.launch('videotestsrc ! no-such-element ! fakesink'), 'GST_PARSE', 'unknown element');
  t.match(missing, /no-such-element/);
  throwsWith(t, () => Pipeline.launch('videotestsrc ! ! fakesink'), 'GST_PARSE', 'syntax error');
  throwsWith(t, () => Pipeline.launch('audiotestsrc ! video/x-raw ! fakesink'), 'GST_PARSE', 'impossible link');
  throwsWith(t, () => Pipeline.launch('fakesrc nosuchprop=1 ! fakesink'), 'GST_PARSE', 'unknown property');
});

t.test('elements and properties', async (t) => {
  const p = Pipeline.launch('videotestsrc name=src num-buffers=3 ! fakesink name=sink', { name: 'props' });
  t.teardown(() => p.close());
  t.equal(p.name, 'props');

  const src = p.element('src');
  t.equal(src.get('num-buffers'), 3);
  src.set('pattern', 'ball');
  t.equal(src.get('pattern'), 'ball', 'enum by nick');
  src.set('pattern', 0);
  t.equal(src.get('pattern'), 'smpte', 'enum by value');
  src.set('is-live', true);
  t.equal(src.get('is-live'), true);
  src.set('timestamp-offset', 5_000_000_000n);
  t.equal(src.get('timestamp-offset'), 5_000_000_000, '64-bit within 2^53 read as a number');
  p.element('sink').set('sync', false);
  t.equal(p.element('props').get('name'), 'props', 'the pipeline itself by its name');

  throwsWith(t, () => p.element('nope'), 'GST_NO_ELEMENT', 'missing element');
  throwsWith(t, () => src.set('no-such-prop', 1), 'GST_PROPERTY', 'unknown property');
  throwsWith(t, () => src.set('num-buffers', 'many'), 'GST_PROPERTY', 'unparsable string');
  throwsWith(t, () => src.set('num-buffers', 1.5), 'GST_PROPERTY', 'non-integer');
  throwsWith(t, () => src.set('num-buffers', -5), 'GST_PROPERTY', 'out of range');
  throwsWith(t, () => src.set('pattern', 'no-such-pattern'), 'GST_PROPERTY', 'unknown enum nick');
  throwsWith(t, () => src.set('is-live', 1), 'GST_PROPERTY', 'number for a boolean');
  t.equal(src.get('num-buffers'), 3, 'failed sets left the value alone');
});

t.test('state changes, state-changed and eos events, latency', async (t) => {
  const p = Pipeline.launch('videotestsrc num-buffers=10 ! video/x-raw,width=64,height=48 ! fakesink sync=false');
  t.teardown(() => p.close());
  const states: PipelineEvents['state-changed'][0][] = [];
  p.on('state-changed', (s) => states.push(s));
  const eos = nextEvent((l) => p.once('eos', l), 'eos');
  t.equal(await p.setState('playing'), 'async', 'a non-live pipeline prerolls asynchronously');
  await eos;
  t.ok(
    states.some((s) => s.current === 'playing'),
    `reached playing: ${states.map((s) => `${s.old}->${s.current}`).join(' ')}`,
  );
  t.ok(states.every((s) => ['null', 'ready', 'paused', 'playing', 'void-pending'].includes(s.current)));
  await sleep(50);
  t.equal(p.latencyMs(), 0, 'non-live pipeline: no latency');
});

t.test('a live pipeline reports its latency', async (t) => {
  const p = Pipeline.launch('audiotestsrc is-live=true samplesperbuffer=480 ! audio/x-raw,rate=48000 ! fakesink sync=true processing-deadline=0');
  t.teardown(() => p.close());
  t.equal(p.latencyMs(), null, 'unknown before playing');
  await p.setState('playing');
  const end = Date.now() + 3000;
  while (p.latencyMs() === null && Date.now() < end) await sleep(20);
  t.equal(p.latencyMs(), 10, 'one 480-sample buffer at 48 kHz');
});

t.test('error events and state failures', async (t) => {
  const p = Pipeline.launch('filesrc location=/nonexistent/ditto/file ! fakesink');
  t.teardown(() => p.close());
  const errors: PipelineEvents['error'][0][] = [];
  p.on('error', (e) => errors.push(e));
  await rejectsWith(t, p.setState('playing'), 'GST_STATE', 'unreadable file');
  await sleep(20);
  t.ok(errors.length >= 1, 'error events');
  t.equal(errors[0]?.source, 'filesrc0');
  t.equal(errors[0]?.domain, 'gst-resource-error-quark');
  t.match(errors[0]?.message ?? '', /not found|No such file/i);
  await rejectsWith(t, Pipeline.launch('fakesrc ! fakesink').setState('sideways' as 'playing'), 'GST_STATE', 'unknown state');
});

t.test('element messages reach JS as plain objects', async (t) => {
  const p = Pipeline.launch('audiotestsrc num-buffers=5 ! level post-messages=true interval=10000000 ! fakesink sync=false');
  t.teardown(() => p.close());
  const message = nextEvent((l: (m: PipelineEvents['element'][0]) => void) => p.once('element', l), 'element message');
  await p.setState('playing');
  const [m] = await message;
  t.equal(m.source, 'level0');
  t.equal(m.name, 'level');
  t.type(m.fields['endtime'], 'number');
  t.ok(Array.isArray(m.fields['rms']), 'value arrays become JS arrays');
});

t.test('close() is idempotent, final and silent afterwards', async (t) => {
  const p = Pipeline.launch('videotestsrc is-live=true ! fakesink');
  let eventsAfterClose = 0;
  let closedAt = 0;
  p.on('state-changed', () => {
    if (closedAt) eventsAfterClose++;
  });
  await p.setState('playing');
  const c1 = p.close();
  const c2 = p.close();
  t.equal(c1, c2, 'same promise');
  t.ok(p.closed, 'closed as soon as close() is called');
  await c1;
  closedAt = Date.now();
  await sleep(100);
  t.equal(eventsAfterClose, 0, 'no event after close resolved');
  throwsWith(t, () => p.element('videotestsrc0'), 'GST_CLOSED', 'element after close');
  await rejectsWith(t, p.setState('playing'), 'GST_CLOSED', 'setState after close');
  t.equal(p.latencyMs(), null);
  await p.close();
});

t.test('setState racing close() settles with GST_CLOSED or success, never hangs', async (t) => {
  for (let i = 0; i < 10; i++) {
    const p = Pipeline.launch('videotestsrc is-live=true ! x264enc tune=zerolatency ! fakesink');
    const s = p.setState('playing').then(
      (r) => r,
      (e: GstError) => e.code,
    );
    await p.close();
    t.match(await s, /^(no-preroll|async|success|GST_CLOSED)$/);
  }
});

t.test('a listener exception is contained and reported (never uncaught: in a tsfn callback that is fatal)', async (t) => {
  // In a child process: without onListenerError() the default report is a process warning with the stack.
  const dir = mkdtempSync(join(tmpdir(), 'ditto-gst-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const index = fileURLToPath(new URL('../../src/gst/index.ts', import.meta.url));
  const script = join(dir, 'throw.mts');
  writeFileSync(
    script,
    `import { Pipeline } from ${JSON.stringify(index)};
     process.on('uncaughtException', (e) => { console.log('uncaught:' + e.message); process.exit(1); });
     const p = Pipeline.launch('videotestsrc num-buffers=1 ! fakesink sync=false');
     p.once('eos', () => { throw new Error('listener bug'); });
     p.on('eos', () => { console.log('other listener ran'); });
     await p.setState('playing');
     setTimeout(async () => { await p.close(); console.log('still alive'); process.exit(0); }, 1500);`,
  );
  const r = spawnSync(process.execPath, ['--import=tsx', script], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /other listener ran[\s\S]*still alive/);
  t.match(r.stderr, /GstWarning: .*"eos" listener threw: Error: listener bug/, 'reported with the stack');
});
