/**
 * backend=ditto when things go wrong, through real pipelines over the StreamSDK test double: a model
 * exception mid-stream, a worker killed mid-session (only that pipeline fails; a concurrent one
 * finishes; the pool respawns), a hung worker, overlap_v2 by upstream's arithmetic (30, 55, 56 refused; a
 * pkl's 10 overridden by 70), a portrait without a face vs. another TypeError, an unreachable pool.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { dittoElement, probe, requirePlugin, tempDir, FAKE_SINKS, S16_APPSRC } from '../helpers/gst-probe.js';
import { startFakePool, testAudio } from '../helpers/ditto-pool.js';

requirePlugin();
const tmp = tempDir();
t.teardown(tmp.cleanup);

const pool = await startFakePool({ workers: 2 });
t.teardown(() => pool.stop());

const APPSRC = S16_APPSRC;
const SINKS = FAKE_SINKS;
const raw = join(tmp.dir, 'speech.s16');
writeFileSync(raw, testAudio(16000 * 4).s16); // 100 frames

function element(props: Record<string, string | number>): string {
  return dittoElement({ backend: 'ditto', 'worker-socket': pool.socket, 'frame-scale': 0.25, ...props });
}

t.test('a model exception mid-stream ends the session at once with a clear error', async (t) => {
  const before = await pool.client.status();
  const r = await probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait('failat30.jpg') })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.ok(r.error, 'the pipeline errors out');
  t.notOk(r.timed_out, 'without hanging');
  t.match(r.errors[0]?.message ?? '', /Animation backend 'ditto' failed: the Ditto model failed mid-stream: RuntimeError: CUDA error: an illegal memory access/);
  t.ok(r.video.count <= 30, `no frame past the failure (${r.video.count})`);
  // the worker recycles itself after a model failure; the pool brings a fresh one back
  const after = await pool.waitFor((s) => s.idle === 2 && s.restarts > before.restarts);
  t.ok(after.restarts > before.restarts, 'failed worker replaced');
});

t.test('a worker killed mid-session fails that pipeline only; a concurrent one completes', async (t) => {
  const before = await pool.waitFor((s) => s.idle === 2);
  // chunk-sleep slows the victim down so it is still running when killed
  const victim = probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait('victim.jpg'), 'chunk-sleep': 0.1 })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 30 });
  const busy = await pool.waitFor((s) => s.busy === 1);
  const pid = busy.list.find((w) => w.state === 'busy')?.pid;
  t.ok(pid, `victim runs on worker pid ${pid}`);
  const survivor = probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait('survivor.jpg'), 'chunk-sleep': 0.03 })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 30 });
  await pool.waitFor((s) => s.busy === 2);
  await sleep(300);
  process.kill(pid as number, 'SIGKILL');
  const [rv, rs] = await Promise.all([victim, survivor]);
  t.ok(rv.error, 'the victim pipeline errors out');
  t.match(rv.errors[0]?.message ?? '', /the Ditto worker \(worker=\d+ pid=\d+\) went away mid-session \(connection closed\)/);
  t.notOk(rv.timed_out, 'promptly');
  t.same(rs.errors, [], 'the other session has no error');
  t.ok(rs.eos, 'and completes');
  t.equal(rs.video.count, 100, 'with every frame');
  const after = await pool.waitFor((s) => s.idle === 2 && s.restarts > before.restarts);
  t.ok(after.list.every((w) => w.pid !== pid), 'the killed worker was replaced');
});

t.test('a hung worker is detected by worker-timeout and recycled', async (t) => {
  const before = await pool.waitFor((s) => s.idle === 2);
  const r = await probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait('hangat20.jpg'), 'worker-timeout': 1.5 })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.ok(r.error, 'the pipeline errors out');
  t.match(r.errors[0]?.message ?? '', /the Ditto worker \(worker=\d+ pid=\d+\) stopped answering: nothing for 1\.5 s/);
  // upstream's wedged thread cannot be joined: the worker exits after the session and is respawned
  const after = await pool.waitFor((s) => s.idle === 2 && s.restarts > before.restarts, 20_000);
  t.ok(after.restarts > before.restarts, 'recycled');
});

t.test("overlap_v2 is checked with upstream's own arithmetic and always set explicitly", async (t) => {
  const r = await probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait('face.jpg'), 'overlap-v2': 30 })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.ok(r.error);
  t.match(r.errors[0]?.message ?? '', /could not start: overlap_v2=30 is not usable in online mode: below 40 upstream silently drops the first 20 frames/);
  // in 40..79, yet upstream's seed-feature count ceil(ov*640/16000*25) is ov+1: its assert would fail in setup()
  for (const [ov, instead] of [[55, 54], [56, 57]] as const) {
    const bad = await probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait(`ov${ov}.jpg`), 'overlap-v2': ov })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
    t.match(bad.errors[0]?.message ?? '', new RegExp(`overlap_v2=${ov} crashes upstream's setup: it seeds ceil\\(${ov}\\*640/16000\\*25\\) = ${ov + 1} features .*use e\\.g\\. ${instead}`), `${ov} refused`);
  }
  t.notOk(pool.events().some((e) => e.event === 'setup' && String(e['source']).match(/ov5[56]\.jpg$/)), 'refused before setup() runs');
  // a pkl with upstream's code default (10) or none: the worker passes 70, never the pickle's value
  const legacy = await startFakePool({ workers: 1, defaults: { overlap_v2: 10, sampling_timesteps: 10 } });
  t.teardown(() => legacy.stop());
  const r2 = await probe(`${APPSRC} ! ${dittoElement({ backend: 'ditto', 'worker-socket': legacy.socket, 'frame-scale': 0.25, 'source-image': legacy.portrait('legacy.jpg') })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.equal(r2.errors.length, 0, r2.errors[0]?.message ?? '');
  const setups = legacy.events().filter((e) => e.event === 'setup' && String(e['source']).endsWith('legacy.jpg'));
  t.same(setups.map((e) => e['overlap_v2']), [70], 'setup() got overlap_v2=70');
  t.equal((await legacy.waitFor((s) => s.idle === 1)).restarts, 0, 'a refused session does not cost the worker');
});

t.test('"no face" only for a missing face: another TypeError in setup() is a model failure', async (t) => {
  const r = await probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait('badcrop.jpg') })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.ok(r.error);
  t.match(r.errors[0]?.message ?? '', /the Ditto model failed during setup: TypeError: object of type 'NoneType' has no len\(\)/);
  t.notMatch(r.errors[0]?.message ?? '', /no detectable face/);
});

t.test('a portrait without a detectable face gets a clear error', async (t) => {
  const r = await probe(`${APPSRC} ! ${element({ 'source-image': pool.portrait('noface.jpg') })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.ok(r.error);
  t.match(r.errors[0]?.message ?? '', /could not start: no detectable face in the portrait noface\.jpg \(the model's face detector found none: TypeError/);
});

t.test('no pool: a clear error naming the socket', async (t) => {
  const missing = join(tmp.dir, 'nothing.sock');
  const r = await probe(`${APPSRC} ! ${dittoElement({ backend: 'ditto', 'worker-socket': missing, 'source-image': pool.portrait('face.jpg') })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20 });
  t.match(r.errors[0]?.message ?? '', new RegExp(`cannot reach the Ditto worker pool: cannot connect to ${missing}: No such file or directory`));
  const r2 = await probe(`${APPSRC} ! ${dittoElement({ backend: 'ditto', 'source-image': pool.portrait('face.jpg') })} ${SINKS}`, { feed: raw, feedFast: true, timeoutS: 20, env: { DITTO_WORKER_SOCKET: '' } });
  t.match(r2.errors[0]?.message ?? '', /no worker: set worker-socket/);
});
