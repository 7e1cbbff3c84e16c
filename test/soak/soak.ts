/**
 * The soak as a report: `npm run soak -- --minutes 30 --sessions 8 [--interval-s 60] [--frame-scale 0.5]`.
 * N sessions with headless Chromium viewers on one server; prints per interval (a minute by default) each
 * session's decoded fps, the element's A/V offset and Chrome's playout offset (see soak-run.ts), then a
 * summary: first vs last interval fps (decay), worst A/V offset, sessions that ended early. Exit code 1 on fps
 * decay > 10 %, an A/V offset over 40 ms (more than a frame), or a session lost.
 */
import { formatSample, runSoak } from './soak-run.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name} takes a positive number`);
    process.exit(2);
  }
  return v;
};
const minutes = flag('minutes', 30);
const sessions = Math.round(flag('sessions', 8));
const intervalS = flag('interval-s', 60);
const frameScale = flag('frame-scale', 0.5);

console.log(`soak: ${sessions} sessions × ${minutes} min, a line every ${intervalS} s (frame_scale ${frameScale})`);
const { samples, closed } = await runSoak({
  sessions,
  seconds: minutes * 60,
  intervalS,
  frameScale,
  onSample: (s) => console.log(formatSample(s)),
  log: (l) => console.error(`[soak] ${l}`),
});
const meanFps = (i: number) => samples[i]!.fps.reduce((a, b) => a + b, 0) / samples[i]!.fps.length;
const first = meanFps(0);
const lastFps = meanFps(samples.length - 1);
const abs = (xs: (number | null)[]) => xs.filter((d): d is number => d !== null).map(Math.abs);
const offsets = abs(samples.flatMap((s) => s.offsetMs));
const worst = offsets.length ? Math.max(...offsets) : null;
console.log(`first interval ${first.toFixed(1)} fps, last ${lastFps.toFixed(1)} fps (${(((lastFps - first) / first) * 100).toFixed(1)} %)`);
console.log(`worst element A/V offset: ${worst === null ? 'not reported' : `${worst.toFixed(1)} ms`} (a snapshot quantised to a frame: up to 40 ms is in step)`);
console.log(`sessions ended early: ${closed.length ? closed.map((c) => `${c.id} ${c.reason}`).join(', ') : 'none'}`);
const failed = lastFps < first * 0.9 || (worst !== null && worst > 40) || closed.length > 0;
process.exit(failed ? 1 : 0);
