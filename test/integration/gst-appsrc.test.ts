import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GstError, Pipeline } from '../../src/gst/index.js';

/** appsrc push from JS: bytes arrive intact, EOS propagates, memory is released at once (no GC coupling). */

function waitEos(p: Pipeline, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    // The timer also keeps Node running: a playing pipeline alone does not.
    const timer = setTimeout(() => reject(new Error('no EOS')), timeoutMs);
    p.once('eos', () => {
      clearTimeout(timer);
      resolve();
    });
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(e.message));
    });
  });
}

t.test('pushed bytes reach the sink intact, in order, then EOS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-appsrc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out.bin');
  const p = await Pipeline.launch(`appsrc name=src format=bytes ! queue ! filesink name=sink location=${out}`);
  t.teardown(() => p.close());
  const src = p.appsrc('src');
  const eos = waitEos(p);
  await p.setState('playing');
  const chunks = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 517));
  for (const c of chunks) t.equal(src.push(c), true);
  chunks[0]!.fill(0); // the addon copied the bytes: reusing the JS buffer changes nothing downstream
  src.endOfStream();
  await eos;
  t.equal(src.push(Buffer.from('late')), false, 'no push after EOS');
  await p.close();
  const written = readFileSync(out);
  const expected = Buffer.concat(chunks.map((c, i) => (i === 0 ? Buffer.alloc(0) : c)));
  t.equal(written.length, chunks.reduce((n, c) => n + c.length, 0), 'every byte arrived');
  t.ok(written.subarray(chunks[0]!.length).equals(expected), 'in order and unchanged');
  t.notOk(written.subarray(0, chunks[0]!.length).every((b) => b === 0), 'the first chunk was copied before it was zeroed');
});

t.test('appsrc lookups are checked', async (t) => {
  const p = await Pipeline.launch('appsrc name=blocking block=true ! fakesink name=sink');
  t.teardown(() => p.close());
  t.throws(() => p.appsrc('blocking'), { code: 'GST_PROPERTY' }, 'block=true would stall the JS thread');
  t.throws(() => p.appsrc('sink'), { code: 'GST_NO_ELEMENT' }, 'not an appsrc');
  t.throws(() => p.appsrc('missing'), { code: 'GST_NO_ELEMENT' });
  p.element('blocking').set('block', false);
  const src = p.appsrc('blocking');
  t.throws(() => src.push('text' as unknown as Buffer), { code: 'GST_PROPERTY' }, 'only Buffers');
  await p.close();
  t.throws(() => src.push(Buffer.alloc(4)), GstError, 'push after close');
  t.throws(() => src.push(Buffer.alloc(4)), { code: 'GST_CLOSED' });
});

t.test('512x512 RGB frames at 25 fps for 2 s: memory stays flat', async (t) => {
  const p = await Pipeline.launch(
    'appsrc name=src is-live=true do-timestamp=true format=time ' +
      'caps=video/x-raw,format=RGB,width=512,height=512,framerate=25/1 ! fakesink sync=false',
  );
  t.teardown(() => p.close());
  const src = p.appsrc('src');
  await p.setState('playing');
  const frame = Buffer.alloc(512 * 512 * 3, 0x80);
  let refused = 0;
  const push = async (n: number) => {
    for (let i = 0; i < n; i++) {
      if (!src.push(frame)) refused++;
      await new Promise((r) => setTimeout(r, 40));
    }
  };
  await push(10);
  const before = process.memoryUsage().rss;
  await push(50);
  const grown = (process.memoryUsage().rss - before) / 1e6;
  t.equal(refused, 0, 'every push accepted');
  t.ok(grown < 20, `RSS grew ${grown.toFixed(1)} MB while 39 MB of frames went through`);
});
