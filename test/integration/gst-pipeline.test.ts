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

async function rejectsWith(t: Test, p: Promise<unknown>, code: GstError['code'], what: string): Promise<string> {
  try {
    await p;
    t.fail(`${what}: resolved, expected ${code}`);
    return '';
  } catch (e) {
    t.ok(e instanceof GstError, `${what}: a GstError`);
    t.equal((e as GstError).code, code, `${what}: ${code} (${(e as Error).message})`);
    return (e as Error).message;
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
  const missing = await rejectsWith(t, Pipeline.launch('videotestsrc ! no-such-element ! fakesink'), 'GST_PARSE', 'unknown element');
  t.match(missing, /no element "no-such-element"/, 'names the missing element');
  t.match(await rejectsWith(t, Pipeline.launch('videotestsrc ! ! fakesink'), 'GST_PARSE', 'syntax error'), /syntax error/i);
  t.match(await rejectsWith(t, Pipeline.launch('audiotestsrc ! video/x-raw ! fakesink'), 'GST_PARSE', 'impossible link'), /could not link/i);
  t.match(await rejectsWith(t, Pipeline.launch('fakesrc nosuchprop=1 ! fakesink'), 'GST_PARSE', 'unknown property'), /nosuchprop/);
});

t.test('launch parses on a worker thread: the event loop keeps turning meanwhile', async (t) => {
  // 200 elements to construct and link: milliseconds of work that a parse on the JS thread would hold it for.
  const description = `fakesrc num-buffers=10 ! ${Array.from({ length: 200 }, () => 'identity').join(' ! ')} ! fakesink sync=false`;
  // Event-loop turns (setImmediate runs once per turn): none can run while the JS thread is busy parsing.
  let turns = 0;
  let spinning = true;
  const spin = () => {
    turns++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  const before = turns;
  const p = await Pipeline.launch(description, { name: 'long-chain' });
  const during = turns - before;
  spinning = false;
  t.teardown(() => p.close());
  t.ok(during > 0, `the event loop turned ${during} times during the launch`);
  t.equal(p.name, 'long-chain');
  t.equal(p.element('identity199').get('name'), 'identity199', 'every element was built');
  const eos = nextEvent((l) => p.once('eos', l), 'eos');
  await p.setState('playing');
  await eos;
  t.pass('the launched pipeline plays to the end');
});

t.test('concurrent launches all settle, each on its own', async (t) => {
  // More than the worker pool's 8 threads; every fifth one cannot be built.
  const n = 40;
  const launches = Array.from({ length: n }, (_, i) =>
    Pipeline.launch(i % 5 === 4 ? `fakesrc ! no-such-element-${i} ! fakesink` : `fakesrc num-buffers=1 ! identity name=id${i} ! fakesink`, { name: `many-${i}` }),
  );
  const settled = await Promise.allSettled(launches);
  const pipelines = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  t.teardown(() => Promise.all(pipelines.map((p) => p.close())));
  settled.forEach((r, i) => {
    if (i % 5 === 4) {
      t.ok(r.status === 'rejected' && (r.reason as GstError).code === 'GST_PARSE' && (r.reason as Error).message.includes(`no-such-element-${i}`), `launch ${i}: its own GST_PARSE`);
    } else {
      t.ok(r.status === 'fulfilled' && r.value.name === `many-${i}` && r.value.element(`id${i}`).get('name') === `id${i}`, `launch ${i}: its own pipeline`);
    }
  });
  t.equal(pipelines.length, n - n / 5);
  await Promise.all(pipelines.map((p) => p.setState('paused')));
});

t.test('a single element is given a pipeline; closing right after launch', async (t) => {
  const single = await Pipeline.launch('fakesrc name=only num-buffers=1', { name: 'single' });
  t.equal(single.name, 'single');
  t.equal(single.element('only').get('num-buffers'), 1, 'the element inside it');
  await single.close();
  t.ok(single.closed);
  // Closed before anything else happened to them, concurrently with other launches.
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, (_, i) => Pipeline.launch(`videotestsrc is-live=true ! fakesink name=s${i}`).then((p) => p.close().then(() => p.closed))),
  );
  t.same(outcomes, Array(10).fill(true), 'every one closed');
});

t.test('an environment torn down while a parse is in flight leaves no GStreamer object behind', async (t) => {
  // A worker thread starts a long parse and exits at once: its environment (and the launch's event queue) goes
  // away while the parse still runs on the addon's pool. In a child process with GStreamer's leaks tracer.
  const dir = mkdtempSync(join(tmpdir(), 'ditto-gst-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tracker = fileURLToPath(new URL('../churn/gst-objects.ts', import.meta.url));
  const addon = fileURLToPath(new URL('../../src/native/build/Release/ditto_gst.node', import.meta.url));
  const script = join(dir, 'env-teardown.mts');
  writeFileSync(
    script,
    `import { Worker } from 'node:worker_threads';
     import { createRequire } from 'node:module';
     import { GstObjectTracker } from ${JSON.stringify(tracker)};
     const tracker = GstObjectTracker.enable();
     const addon = ${JSON.stringify(addon)};
     const native = createRequire(import.meta.url)(addon); // GStreamer initialised here, with the tracer
     // The element classes' pad templates live for the process: made before the checkpoint.
     await native.pipelineClose(await native.pipelineLaunch('fakesrc ! identity ! fakesink', null, () => {}));
     await tracker.checkpoint();
     const worker = new Worker(
       \`const native = require(\${JSON.stringify(addon)});
        const chain = Array.from({ length: 200 }, () => 'identity').join(' ! ');
        native.pipelineLaunch('fakesrc ! ' + chain + ' ! fakesink', 'orphan', () => {});
        process.exit(0);\`,
       { eval: true },
     );
     await new Promise((resolve) => worker.once('exit', resolve));
     // The parse finishes on its own; then everything it built must go. (The tracker waits 10 s for a
     // checkpoint that reports nothing, as the first one: the bound only matters when something is left.)
     let added = 0, alive = 0;
     for (let i = 0; i < 4; i++) {
       const d = await tracker.delta();
       added += d?.added ?? 0;
       alive += d?.alive_delta ?? 0;
       if (added > 0 && alive === 0) break;
     }
     tracker.cleanup();
     console.log('added:' + added + ' alive:' + alive);`,
  );
  const r = spawnSync(process.execPath, ['--import=tsx', script], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  const [, added, alive] = /added:(\d+) alive:(-?\d+)/.exec(r.stdout) ?? [];
  t.ok(Number(added) > 600, `the parse built its elements (${added} GstObjects)`);
  t.equal(Number(alive), 0, 'none of them is alive afterwards');
});

t.test('elements and properties', async (t) => {
  const p = await Pipeline.launch('videotestsrc name=src num-buffers=3 ! fakesink name=sink', { name: 'props' });
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
  const p = await Pipeline.launch('videotestsrc num-buffers=10 ! video/x-raw,width=64,height=48 ! fakesink sync=false');
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
  const p = await Pipeline.launch('audiotestsrc is-live=true samplesperbuffer=480 ! audio/x-raw,rate=48000 ! fakesink sync=true processing-deadline=0');
  t.teardown(() => p.close());
  t.equal(p.latencyMs(), null, 'unknown before playing');
  await p.setState('playing');
  const end = Date.now() + 3000;
  while (p.latencyMs() === null && Date.now() < end) await sleep(20);
  t.equal(p.latencyMs(), 10, 'one 480-sample buffer at 48 kHz');
});

t.test('error events and state failures', async (t) => {
  const p = await Pipeline.launch('filesrc location=/nonexistent/ditto/file ! fakesink');
  t.teardown(() => p.close());
  const errors: PipelineEvents['error'][0][] = [];
  p.on('error', (e) => errors.push(e));
  await rejectsWith(t, p.setState('playing'), 'GST_STATE', 'unreadable file');
  await sleep(20);
  t.ok(errors.length >= 1, 'error events');
  t.equal(errors[0]?.source, 'filesrc0');
  t.equal(errors[0]?.domain, 'gst-resource-error-quark');
  t.match(errors[0]?.message ?? '', /not found|No such file/i);
  const q = await Pipeline.launch('fakesrc ! fakesink');
  t.teardown(() => q.close());
  await rejectsWith(t, q.setState('sideways' as 'playing'), 'GST_STATE', 'unknown state');
});

t.test('element messages reach JS as plain objects', async (t) => {
  const p = await Pipeline.launch('audiotestsrc num-buffers=5 ! level post-messages=true interval=10000000 ! fakesink sync=false');
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
  const p = await Pipeline.launch('videotestsrc is-live=true ! fakesink');
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
    const p = await Pipeline.launch('videotestsrc is-live=true ! x264enc tune=zerolatency ! fakesink');
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
     const p = await Pipeline.launch('videotestsrc num-buffers=1 ! fakesink sync=false');
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
