import t from 'tap';
import { churn } from '../churn/churn.js';

/**
 * A short churn (the long one: `npm run churn`): sessions opened and closed, some abruptly while starting, some
 * left to the connect timeout. Afterwards nothing is open, and file descriptors and threads are back at the
 * baseline taken after a warm-up (RSS is printed; the allocator keeps pools, so it is not a pass/fail figure).
 */
t.test('60 sessions opened and closed leave no sessions, fds or threads behind', async (t) => {
  const r = await churn(60, 3);
  t.comment(JSON.stringify(r));
  t.ok(r.answered > 30, `most offers were answered (${r.answered}; refused ${JSON.stringify(r.refused)})`);
  t.equal(r.open_after, 0, 'no session left open');
  t.ok(r.after.fds <= r.baseline.fds + 4, `fds back near baseline (${r.baseline.fds} -> ${r.after.fds})`);
  t.ok(r.after.threads <= r.baseline.threads + 4, `threads back near baseline (${r.baseline.threads} -> ${r.after.threads})`);
});
