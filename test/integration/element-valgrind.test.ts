/**
 * Short dittotalkinghead pipelines under valgrind memcheck: no invalid accesses and no definite leaks whose
 * stack passes through our plugin (GLib's own one-time allocations are not ours).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PORTRAIT, gstEnv, requirePlugin, run, tempDir, testPluginEnv } from '../helpers/gst-probe.js';
import { pngDeclaring } from '../helpers/media-files.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

const OURS = /gst_ditto|ditto_|libgstditto|gstdittotalkinghead|ditto-/;

/** Loss records and error contexts of a memcheck log. */
function records(log: string): { definite: string[]; errors: string[] } {
  const blocks = log.split(/\n==\d+== \n/);
  return {
    definite: blocks.filter((b) => /are definitely lost in loss record/.test(b)),
    errors: blocks.filter((b) => /Invalid (read|write|free)|uninitialised|Mismatched free|Source and destination overlap/.test(b)),
  };
}

async function memcheck(t: Test, name: string, description: string, env: Record<string, string> = {}) {
  const logFile = join(tmp.dir, `${name}.log`);
  const r = await run(
    'valgrind',
    [
      '--leak-check=full',
      '--show-leak-kinds=definite',
      '--num-callers=40',
      '--suppressions=/usr/share/glib-2.0/valgrind/glib.supp',
      `--log-file=${logFile}`,
      'gst-launch-1.0',
      '-q',
      ...description.split(/\s+/),
    ],
    55,
    // The builtin animator's 99 MB landmark model takes about a minute to deserialize under memcheck (dlib's
    // code, not ours): without it the face still goes through detection, the average shape and the mesh warp.
    gstEnv({ G_SLICE: 'always-malloc', G_DEBUG: 'gc-friendly', DITTO_LANDMARK_MODEL: '/nonexistent/shape_predictor_68_face_landmarks.dat', ...env }),
  );
  t.equal(r.signal, null, `${name}: finished under valgrind`);
  const log = readFileSync(logFile, 'utf8');
  t.match(log, /LEAK SUMMARY|All heap blocks were freed/, `${name}: memcheck ran to the end`);
  const { definite, errors } = records(log);
  const ourLeaks = definite.filter((b) => OURS.test(b));
  const ourErrors = errors.filter((b) => OURS.test(b));
  t.same(ourLeaks, [], `${name}: no definite leak from our code (${definite.length} elsewhere)`);
  t.same(ourErrors, [], `${name}: no invalid memory access in our code`);
  return r;
}

t.test('offline pipeline under valgrind', async (t) => {
  const r = await memcheck(
    t,
    'offline',
    `audiotestsrc num-buffers=10 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! ` +
      `dittotalkinghead source-image=${PORTRAIT} frame-scale=0.25 name=d d.video ! fakesink d.audio ! fakesink`,
  );
  t.equal(r.code, 0, 'pipeline succeeds');
});

t.test('live pipeline under valgrind', async (t) => {
  const r = await memcheck(
    t,
    'live',
    `audiotestsrc is-live=true samplesperbuffer=640 num-buffers=30 ! audio/x-raw,rate=16000,channels=1 ! ` +
      `dittotalkinghead source-image=${PORTRAIT} frame-scale=0.25 mode=live name=d d.video ! fakesink sync=true d.audio ! fakesink sync=true`,
  );
  t.equal(r.code, 0, 'pipeline succeeds');
});

t.test('frames at another size than asked, renegotiated and scaled, under valgrind', async (t) => {
  // backend=resized (test plugin) renders 64x48 where 128x128 is asked and downstream takes only 128x128 RGB
  const r = await memcheck(
    t,
    'resized',
    `audiotestsrc num-buffers=10 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! ` +
      `dittotalkinghead source-image=${PORTRAIT} frame-scale=0.25 backend=resized name=d ` +
      `d.video ! video/x-raw,width=128,height=128,format=RGB ! fakesink d.audio ! fakesink`,
    testPluginEnv({ DITTO_TEST_RENDER_SIZE: '64x48' }),
  );
  t.equal(r.code, 0, 'pipeline succeeds');
});

t.test('error path under valgrind', async (t) => {
  const r = await memcheck(
    t,
    'error',
    `audiotestsrc num-buffers=10 ! audio/x-raw,rate=16000,channels=1 ! ` +
      `dittotalkinghead source-image=${join(tmp.dir, 'missing.png')} name=d d.video ! fakesink d.audio ! fakesink`,
  );
  t.not(r.code, 0, 'pipeline fails as it should');
});

t.test('failed backend open under valgrind', async (t) => {
  // the backend cannot reach its worker: open() fails after the session's strings were handed to the config
  // (they leaked before: source path and model directory)
  const r = await memcheck(
    t,
    'backend-open',
    `audiotestsrc num-buffers=10 ! audio/x-raw,rate=16000,channels=1 ! ` +
      `dittotalkinghead source-image=${PORTRAIT} frame-scale=0.25 backend=ditto model-dir=${tmp.dir} ` +
      `worker-socket=${join(tmp.dir, 'no-worker.sock')} name=d d.video ! fakesink d.audio ! fakesink`,
  );
  t.not(r.code, 0, 'pipeline fails as it should');
});

t.test('dittoimagesrc under valgrind: a frame, and a file the loader refuses', async (t) => {
  const ok = await memcheck(t, 'imagesrc', `dittoimagesrc location=${PORTRAIT} ! videoconvert ! fakesink`);
  t.equal(ok.code, 0, 'pipeline succeeds');
  // A PNG header whose pixel data runs out: gdk-pixbuf starts decoding, then fails.
  const cut = join(tmp.dir, 'cut.png');
  writeFileSync(cut, pngDeclaring(64, 64, 16));
  const bad = await memcheck(t, 'imagesrc-error', `dittoimagesrc location=${cut} ! fakesink`);
  t.not(bad.code, 0, 'pipeline fails as it should');
});
