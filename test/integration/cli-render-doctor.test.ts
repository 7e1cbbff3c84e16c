import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeAudio } from '../helpers/media-files.js';
import { ROOT } from '../helpers/server-app.js';

/** `ditto-gst render` and `ditto-gst doctor` run as a user runs them; the video is checked by decoding it. */

const MAIN = 'src/cli/main.ts';
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 50000 });
const work = mkdtempSync(join(tmpdir(), 'ditto-cli-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const PORTRAIT = join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg'); // 512x512

/** Decodes a video file with GStreamer: raw I420 frames and 16 kHz mono S16 audio, sizes in bytes. */
function decode(file: string): { videoBytes: number; audioBytes: number } {
  const yuv = join(work, 'v.yuv');
  const pcm = join(work, 'a.pcm');
  const r = spawnSync(
    'gst-launch-1.0',
    [
      '-q', 'filesrc', `location=${file}`, '!', 'decodebin', 'name=d',
      'd.', '!', 'queue', '!', 'videoconvert', '!', 'video/x-raw,format=I420', '!', 'filesink', `location=${yuv}`,
      'd.', '!', 'queue', '!', 'audioconvert', '!', 'audioresample', '!', 'audio/x-raw,format=S16LE,rate=16000,channels=1', '!', 'filesink', `location=${pcm}`,
    ],
    { encoding: 'utf8', timeout: 30000 },
  );
  if (r.status !== 0) throw new Error(`decoding ${file} failed: ${r.stderr}`);
  return { videoBytes: statSync(yuv).size, audioBytes: statSync(pcm).size };
}

t.test('render writes an MP4 and a WebM with every frame and the whole audio', async (t) => {
  const audio = makeAudio(work, 'ogg-opus'); // 1 s
  for (const [out, scale, side] of [['clip.mp4', '0.5', 256], ['clip.webm', '0.25', 128]] as const) {
    const r = run(['render', '-i', PORTRAIT, '-a', audio, '-o', join(work, out), '--frame-scale', scale]);
    t.equal(r.status, 0, r.stderr);
    t.match(r.stderr, /^progress /m, 'plain progress lines when stderr is not a terminal');
    const m = /wrote .*: (\d+) frames, ([\d.]+) s of video in ([\d.]+) s \(([\d.]+)x real time\)/.exec(r.stderr);
    t.ok(m, r.stderr);
    t.equal(Number(m![1]), 25, '1 s of audio = 25 frames');
    const { videoBytes, audioBytes } = decode(join(work, out));
    const frames = videoBytes / (side * side * 1.5);
    t.equal(frames, 25, `${out}: 25 decoded ${side}x${side} frames`);
    // Encoder padding may add a few ms of audio; none may be missing.
    t.ok(audioBytes / 2 >= 16000 - 160 && audioBytes / 2 <= 16000 + 1920, `${out}: ~1 s of audio (${audioBytes / 2} samples)`);
  }
  t.same(readdirSync(work).filter((n) => n.endsWith('.part')), [], 'no temporary left');
});

t.test('render refuses bad input without writing anything', async (t) => {
  let r = run(['render', '-i', PORTRAIT, '-a', join(work, 'nope.wav'), '-o', join(work, 'x.mp4')]);
  t.equal(r.status, 1);
  t.match(r.stderr, /MEDIA_NOT_FOUND: --audio: no such file/);
  r = run(['render', '-i', PORTRAIT, '-a', PORTRAIT, '-o', join(work, 'bad.mp4'), '--quiet']);
  t.equal(r.status, 1, 'an image is not audio');
  t.match(r.stderr, /render failed/);
  r = run(['render', '-i', PORTRAIT, '-a', PORTRAIT, '-o', join(work, 'x.avi')]);
  t.match(r.stderr, /use an \.mp4 or \.webm name/);
  r = run(['render', '-i', PORTRAIT, '-a', PORTRAIT, '-o', join(work, 'x.mp4'), '--chunk-config', '1,1,1']);
  t.match(r.stderr, /chunk config must be/);
  t.notOk(readdirSync(work).some((n) => n.startsWith('bad.mp4') || n.startsWith('.bad.mp4') || n.startsWith('x.')), 'nothing written');
  r = run(['render', '--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /--sampling-timesteps/);
});

t.test('doctor passes here and names Debian packages when elements are missing', async (t) => {
  let r = run(['doctor']);
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, /ok\s+GStreamer version\s+GStreamer 1\.\d+/);
  t.match(r.stdout, /ok\s+dittotalkinghead \(our plugin\)/);
  t.match(r.stdout, /ok\s+dittoimagesrc \(our plugin\)/);
  t.match(r.stdout, /ok\s+webrtcbin/);
  t.match(r.stdout, /ok\s+x264enc/);
  // An empty plugin registry: every system element is missing, ours is not found either.
  const empty = mkdtempSync(join(work, 'no-plugins-'));
  r = run(['doctor', '--json', '--plugin-path', empty], {
    GST_PLUGIN_SYSTEM_PATH_1_0: empty,
    GST_PLUGIN_PATH: empty,
    GST_PLUGIN_PATH_1_0: empty,
    GST_REGISTRY_1_0: join(empty, 'registry.bin'),
  });
  t.equal(r.status, 1, 'exit 1');
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
  const check = (name: string) => report.checks.find((c) => c.name === name)!;
  t.equal(report.ok, false);
  t.match(check('webrtcbin'), { ok: false, fix: 'apt-get install gstreamer1.0-plugins-bad' });
  t.match(check('x264enc'), { ok: false, fix: 'apt-get install gstreamer1.0-plugins-ugly' });
  t.match(check('vp8enc'), { ok: false, fix: 'apt-get install gstreamer1.0-plugins-good' });
  t.match(check('nicesrc'), { ok: false, fix: 'apt-get install gstreamer1.0-nice' });
  t.match(check('dittotalkinghead (our plugin)'), { ok: false, fix: /npm run build:plugin/ });
  t.match(check('dittoimagesrc (our plugin)'), { ok: false, fix: /npm run build:plugin/ });
  r = run(['doctor', '--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /Exit code/);
});

t.test('doctor --model: the worker doctor, a one-worker pool and a render through the element (over the StreamSDK double)', async (t) => {
  const cfg = join(work, 'cfg.pkl');
  const engines = join(work, 'engines');
  const mk = spawnSync('python3', ['-c', 'import pickle, sys, os; os.makedirs(sys.argv[2], exist_ok=True); pickle.dump({"default_kwargs": {"overlap_v2": 70, "sampling_timesteps": 10}}, open(sys.argv[1], "wb"))', cfg, engines], { encoding: 'utf8' });
  t.equal(mk.status, 0, mk.stderr);
  const args = ['doctor', '--model', '--upstream', join(ROOT, 'test', 'fixtures', 'fake_ditto'), '--cfg-pkl', cfg, '--data-root', engines];
  const env = { GST_PLUGIN_PATH: join(ROOT, 'build', 'plugin', 'ditto'), FAKE_DITTO_LOAD_S: '0.1' };
  let r = run(args, env);
  t.equal(r.status, 0, r.stdout + r.stderr);
  for (const check of ['upstream imports', 'config pickle', 'engines and plugin', 'models load', 'self-test', 'worker pool', 'render through dittotalkinghead']) {
    t.match(r.stdout, new RegExp(`ok {4}${check}: `), `${check} passed`);
  }
  t.match(r.stdout, /first-frame delay +\d+ ms/);
  t.match(r.stdout, /real-time factor +\d+\.\d+ \(\d+\.\dx real time\)/);
  t.match(r.stdout, /fps +\d+\.\d/);
  for (const row of ['GPU', 'driver', 'CUDA runtime', 'TensorRT', 'engines']) t.match(r.stdout, new RegExp(`^  ${row} +\\S`, 'm'), `${row} reported`);
  t.match(r.stdout, /^model: ok$/m);

  // upstream cannot import (no torch): a clear reason, nothing rendered, exit 1
  r = run(args, { ...env, FAKE_DITTO_REQUIRE: 'torch' });
  t.equal(r.status, 1);
  t.match(r.stdout, /FAIL  upstream imports: cannot import stream_pipeline_online from .*ModuleNotFoundError: No module named 'torch'/);
  t.notMatch(r.stdout, /render through/);
  t.match(r.stdout, /^model: FAILED$/m);

  // a self-test whose portrait has no face (the double's marker) fails with that reason
  copyFileSync(PORTRAIT, join(work, 'noface.jpg'));
  const noFace = run([...args.slice(0, 2), '--portrait', join(work, 'noface.jpg'), ...args.slice(2)], env);
  t.equal(noFace.status, 1);
  t.match(noFace.stdout, /FAIL  self-test: the model finds no face in the self-test portrait .*noface\.jpg/);

  r = run([...args, '--json'], env);
  t.equal(r.status, 0, 'JSON output');
  t.match(JSON.parse(r.stdout), { ok: true, render: { frames: Number }, device: { gpu: null } });
});
