/**
 * The Ditto worker's own unit tests (plugins/ditto/worker/tests: upstream's online windows, the
 * latency arithmetic, resizing), run with the system python3 (needs python3-numpy).
 */
import { join } from 'node:path';
import t from 'tap';
import { ROOT, run } from '../helpers/gst-probe.js';
import { PYTHON } from '../helpers/ditto-pool.js';

t.test('python unittest of ditto_worker', async (t) => {
  const cwd = join(ROOT, 'plugins', 'ditto', 'worker');
  const r = await run(PYTHON, ['-c', `import os, sys, unittest; os.chdir(sys.argv[1]); sys.path.insert(0, sys.argv[1]); r = unittest.main(module=None, argv=["x", "discover", "-s", "tests"], exit=False).result; sys.exit(0 if r.wasSuccessful() and r.testsRun >= 5 else 1)`, cwd], 60, { ...process.env, PYTHONDONTWRITEBYTECODE: '1' });
  t.equal(r.code, 0, r.stderr.slice(-3000));
  t.match(r.stderr, /Ran \d+ tests/);
});
