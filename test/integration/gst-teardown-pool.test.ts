import t from 'tap';
import { Pipeline } from '../../src/gst/index.js';

/**
 * Teardown runs on its own bounded workers: a burst of slow closes (each waits for a streaming thread stuck
 * 3 s in `identity sleep-time`) must not delay a pipeline that starts meanwhile. Checked by order, not by time:
 * the new pipeline's state change completes before any of the closes does.
 */

const SLOW = 10; // more than the start pool's 8 threads

t.test('a burst of slow closes does not hold up a starting pipeline', async (t) => {
  const slow = await Promise.all(
    Array.from({ length: SLOW }, (_, i) =>
      Pipeline.launch('fakesrc sizetype=fixed sizemax=64 num-buffers=5 ! identity sleep-time=3000000 ! fakesink sync=false', { name: `slow-close-${i}` }),
    ),
  );
  await Promise.all(slow.map((p) => p.setState('playing')));
  await new Promise((r) => setTimeout(r, 300)); // each streaming thread is now inside its 3 s sleep
  const order: string[] = [];
  const closes = slow.map((p) => p.close().then(() => order.push('closed')));
  const fresh = await Pipeline.launch('fakesrc num-buffers=1 ! fakesink', { name: 'fresh-start' });
  t.teardown(() => fresh.close());
  await fresh.setState('paused').then(() => order.push('started'));
  await Promise.all(closes);
  t.equal(order[0], 'started', `the start did not wait for the closes: ${order.join(' ')}`);
  t.equal(order.length, SLOW + 1);
});
