import t from 'tap';
import { Pipeline, onListenerError } from '../../src/gst/index.js';

/**
 * Events reach JS through the addon's threadsafe function, where an escaping exception is fatal to the whole
 * process (napi_fatal_exception). A listener that throws must be reported and skipped, the other listeners of
 * the same event must still run, and the process must live on.
 */

t.test('a throwing listener is reported and skipped; the others still get the event', async (t) => {
  const reported: Array<{ message: string; owner: string; event: string }> = [];
  onListenerError((err, owner, event) => reported.push({ message: (err as Error).message, owner, event }));
  const pipeline = await Pipeline.launch('audiotestsrc num-buffers=20 ! fakesink sync=false', { name: 'throws' });
  const seen: string[] = [];
  pipeline.on('state-changed', () => {
    throw new Error('listener bug');
  });
  pipeline.once('state-changed', () => seen.push('once'));
  const eos = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no EOS within 10 s')), 10_000);
    pipeline.on('eos', () => {
      clearTimeout(timer);
      seen.push('eos');
      resolve();
    });
    pipeline.on('eos', () => {
      throw new Error('second bug');
    });
  });
  await pipeline.setState('playing');
  await eos;
  await pipeline.close();
  t.same(seen, ['once', 'eos'], 'the other listeners ran (the once() listener exactly once)');
  t.ok(reported.some((r) => r.message === 'listener bug' && r.owner === 'throws' && r.event === 'state-changed'), 'state-changed listener error reported with its pipeline and event');
  t.ok(reported.some((r) => r.message === 'second bug' && r.event === 'eos'), 'eos listener error reported');
  t.equal(process.exitCode ?? 0, 0, 'the process is fine');
});
