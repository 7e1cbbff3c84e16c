import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `ditto-gst render` speed as a user sees it: one process per render (Node, GStreamer and plugin loading,
 * face detection, the animator, encoders and muxer all included), for the bundled 12 s sample and for a
 * 62 s clip (the sample five times) where start-up weighs less. Wall clock and CPU (user + system of the
 * process tree): on a shared machine the wall figure is what the load allowed; CPU / 2 is the floor two
 * idle cores would give if the graph's threads overlap fully.
 */

export interface RenderSpeedOptions {
  cli: string;
  pluginDir: string;
  imagePath: string;
  speechPath: string;
  cwd: string;
}

export interface RenderSpeedRow {
  clip: string;
  container: string;
  audioS: number;
  wallS: number;
  cpuS: number;
  bytes: number;
}

/** speech.wav is a canonical 44-byte-header WAV; a longer clip repeats its PCM. */
function repeatedWav(src: string, times: number, out: string): void {
  const wav = readFileSync(src);
  const pcm = wav.subarray(44);
  const header = Buffer.from(wav.subarray(0, 44));
  header.writeUInt32LE(36 + pcm.length * times, 4);
  header.writeUInt32LE(pcm.length * times, 40);
  writeFileSync(out, Buffer.concat([header, ...Array.from({ length: times }, () => pcm)]));
}

export function renderSpeed(o: RenderSpeedOptions): RenderSpeedRow[] {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-bench-render-'));
  const long = join(dir, 'speech-x5.wav');
  repeatedWav(o.speechPath, 5, long);
  const rows: RenderSpeedRow[] = [];
  try {
    for (const [clip, audio] of [['speech.wav', o.speechPath], ['speech x5', long]] as const) {
      const audioS = (statSync(audio).size - 44) / 2 / 16_000;
      for (const ext of ['mp4', 'webm']) {
        const out = join(dir, `out.${ext}`);
        const t0 = performance.now();
        // bash's `time` reports the child's user and system CPU.
        const r = spawnSync('bash', ['-c', `TIMEFORMAT='%U %S'; time node ${o.cli} render --quiet --image ${o.imagePath} --audio ${audio} --out ${out} --plugin-path ${o.pluginDir}`], { cwd: o.cwd, encoding: 'utf8' });
        const wallS = (performance.now() - t0) / 1000;
        if (r.status !== 0) throw new Error(`render ${clip} -> ${ext} failed: ${r.stderr.slice(-300)}`);
        const [u, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [number, number];
        rows.push({ clip, container: ext, audioS, wallS, cpuS: u + sys, bytes: statSync(out).size });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
