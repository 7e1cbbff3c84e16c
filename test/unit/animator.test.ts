// The built-in animator's C unit tests (plugins/ditto/animator/ditto-animator-test.c
// and ditto-animator-face-test.c) and a smoke run of its benchmark program, against
// the meson build in build/plugin. The face tests write contact sheets (PNG) under
// build/test-output/animator; their paths are printed as comments.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const buildDir = join(root, 'build', 'plugin', 'ditto', 'animator');
const benchBin = join(buildDir, 'ditto-animator-bench');
const sheetDir = join(root, 'build', 'test-output', 'animator');

for (const [name, program] of [
  ['animator unit tests pass', 'ditto-animator-test'],
  ['animator face, mouth and mesh tests pass', 'ditto-animator-face-test'],
] as const) {
  t.test(name, (t) => {
    const bin = join(buildDir, program);
    t.ok(existsSync(bin), `${bin} exists (run npm run build:plugin)`);
    if (!existsSync(bin)) return t.end();
    const run = spawnSync(bin, [], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, DITTO_TEST_OUTPUT: sheetDir },
    });
    const out = `${run.stdout}\n${run.stderr}`;
    const plan = /^1\.\.(\d+)$/m.exec(run.stdout);
    t.ok(plan, 'prints a TAP plan');
    const okCases = [...run.stdout.matchAll(/^ok \d+ (\S+)/gm)].map((m) => m[1]);
    for (const name of okCases) t.pass(name ?? '');
    for (const m of run.stdout.matchAll(/^# (contact sheet: \S+|.*(?:error|leads|Laplacian|envelope).*)$/gm)) t.comment(m[1] ?? '');
    t.equal(okCases.length, Number(plan?.[1] ?? -1), 'every case ran and passed');
    t.notMatch(out, /^not ok|Bail out!/m, 'no failing case');
    t.equal(run.status, 0, 'exit status 0');
    t.end();
  });
}

t.test('animator bench prints its figures', (t) => {
  t.ok(existsSync(benchBin), `${benchBin} exists`);
  if (!existsSync(benchBin)) return t.end();
  const run = spawnSync(benchBin, ['--seconds', '2', '--render-frames', '10'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /face detection: face found/, 'finds the portrait face');
  for (const fmt of ['I420', 'RGB ']) {
    t.match(run.stdout, new RegExp(`${fmt.trim()}\\s+512x512: session open [\\d.]+ ms; render [\\d.]+ ms/frame`), `${fmt.trim()} render cost`);
    t.match(run.stdout, new RegExp(`offline ${fmt}: 50 frames \\(2\\.0 s of audio\\) in [\\d.]+ s = [\\d.]+x real time`), `${fmt.trim()} offline speed`);
  }
  t.match(run.stdout, /live at 25 fps: [\d.]+ % of one core/, 'live share');
  t.end();
});
