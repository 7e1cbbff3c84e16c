import t from 'tap';
import { Pipeline, nativeEventsDropped } from '../../src/gst/index.js';
import { testServer } from '../helpers/server-app.js';

/**
 * The addon's queue of events to JS is bounded for telemetry: element messages posted while the JS thread is
 * busy are dropped once DG_DROPPABLE_QUEUE_MAX wait (and counted, in /metrics too), while must-deliver events
 * (state changes, EOS, promise settlements) still arrive. A real flood: `level` posts one element message per
 * 1 ms buffer and, not live, runs as fast as the CPU.
 */

const BUFFERS = 20000;

t.test('a flood of element messages while JS is busy is dropped and counted; EOS still arrives', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  const p = await Pipeline.launch(
    `audiotestsrc num-buffers=${BUFFERS} samplesperbuffer=16 ! audio/x-raw,rate=16000,channels=1 ! level interval=1000000 post-messages=true ! fakesink sync=false`,
  );
  t.teardown(() => p.close());
  let levels = 0;
  p.on('element', (m) => {
    if (m.name === 'level') levels++;
  });
  // A playing pipeline alone does not keep Node alive (the addon's queue is unref'd when no promise is out).
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  const eos = new Promise<void>((resolve) => p.once('eos', () => resolve()));
  const before = nativeEventsDropped();
  const playing = p.setState('playing');
  // Busy JS thread (a long synchronous handler): GStreamer keeps posting, nothing may block it.
  const until = Date.now() + 20_000;
  while (nativeEventsDropped() === before && Date.now() < until) {
    // spin
  }
  const dropped = () => nativeEventsDropped() - before;
  t.ok(dropped() > 0, `messages dropped while JS was busy: ${dropped()}`);
  await playing;
  await eos;
  t.ok(levels > 0, `the ones that fitted were delivered: ${levels}`);
  t.ok(levels + dropped() <= BUFFERS + 1, `delivered + dropped (${levels} + ${dropped()}) never exceeds what was posted`);
  const metrics = await s.app.inject({ method: 'GET', url: '/metrics' });
  const m = /^ditto_native_events_dropped_total (\d+)/m.exec(metrics.body);
  t.ok(m && Number(m[1]) >= dropped(), `ditto_native_events_dropped_total: ${m?.[1]}`);
});
