import t from 'tap';
import { churn } from '../churn/churn.js';

/**
 * A short churn (the long one: `npm run churn -- 500 4 50`): sessions opened and closed, some abruptly while
 * starting, some left to the connect timeout, and a few with a real Chromium viewer (watched then DELETEd, the
 * page closed without a DELETE, DELETEd while ICE starts). Afterwards nothing is open, file descriptors and
 * threads are back at the baseline taken after a warm-up, and the GStreamer objects the run created are gone
 * (counted by GStreamer's leaks tracer). RSS is printed; the allocator keeps pools, so it is not pass/fail.
 */
t.test('60 sessions, 3 with viewers, leave no sessions, fds, threads or GStreamer objects behind', async (t) => {
  const r = await churn(60, 3, 3);
  t.comment(JSON.stringify(r));
  t.ok(r.answered > 30, `most offers were answered (${r.answered}; refused ${JSON.stringify(r.refused)})`);
  t.equal(r.open_after, 0, 'no session left open');
  t.ok(r.after.fds <= r.baseline.fds + 4, `fds back near baseline (${r.baseline.fds} -> ${r.after.fds})`);
  t.ok(r.after.threads <= r.baseline.threads + 4, `threads back near baseline (${r.baseline.threads} -> ${r.after.threads})`);
  // The warm-up viewer plus one of each kind.
  t.equal(r.viewers.watched + r.viewers.vanished + r.viewers.deleted_starting, 4, `every viewer session ended: ${JSON.stringify(r.viewers)}`);
  t.equal(r.viewers.vanished, 1, 'the vanished viewer was noticed without a DELETE');
  const byWatchdog = Object.entries(r.viewers.close_reasons).filter(([reason]) => reason !== 'deleted');
  t.equal(byWatchdog.reduce((a, [, n]) => a + n, 0), 1, `the vanished viewer's session ended by the watchdog: ${JSON.stringify(r.viewers.close_reasons)}`);
  t.ok(r.gst_objects && r.gst_objects.added > 1000, 'the leaks tracer saw the sessions come and go');
  t.ok((r.gst_objects?.alive_delta ?? Infinity) <= 8, `GStreamer objects alive beyond the baseline: ${JSON.stringify(r.gst_objects)}`);
});
