/**
 * How late each RTP payloader sends its packets after their capture time (PTS), per second, from a
 * GStreamer debug log: the sender-side half of a lip-sync measurement (Chrome's playout follows the
 * audio-vs-video difference of these figures before its own A/V sync has converged).
 *
 *   GST_DEBUG=rtpbasepayload:6 GST_DEBUG_NO_COLOR=1 FLOOR_GRAPH=ditto \
 *     node dist/test/bench/sync-probe.js 1 6 2>payloaders.log
 *   node dist/test/bench/send-skew.js payloaders.log
 *
 * Prints per payloader and second the min / median of (log time - PTS) in ms; only the difference between
 * payloaders means something (the log's time origin is not the pipeline's base time).
 */
import { readFileSync } from 'node:fs';

const ms = (hms: string) => {
  const [h, m, s] = hms.split(':').map(Number) as [number, number, number];
  return (h * 3600 + m * 60 + s) * 1000;
};
const per = new Map<string, [at: number, late: number][]>();
for (const line of readFileSync(process.argv[2]!, 'utf8').split('\n')) {
  const m = /^(\d+:\d+:\d+\.\d+) .*<(\w+)>.*Preparing to push.*pts (\d+:\d+:\d+\.\d+)/.exec(line);
  if (!m) continue;
  const at = ms(m[1]!);
  per.set(m[2]!, [...(per.get(m[2]!) ?? []), [at, at - ms(m[3]!)]]);
}
const medians = new Map<string, number>();
for (const [name, xs] of per) {
  const t0 = xs[0]![0];
  const cells: string[] = [];
  for (let s = 0; t0 + s * 1000 <= xs[xs.length - 1]![0]; s++) {
    const w = xs.filter(([t]) => t >= t0 + s * 1000 && t < t0 + (s + 1) * 1000).map(([, l]) => l).sort((a, b) => a - b);
    if (w.length) cells.push(`${w[0]!.toFixed(0)}/${w[Math.floor((w.length - 1) / 2)]!.toFixed(0)}`);
  }
  const all = xs.map(([, l]) => l).sort((a, b) => a - b);
  medians.set(name, all[Math.floor((all.length - 1) / 2)]!);
  console.log(`${name}: send - PTS per second, min/median ms: ${cells.join(' ')}`);
}
const audio = [...medians].find(([n]) => /opus/.test(n));
const video = [...medians].find(([n]) => /vp8|h264/.test(n));
if (audio && video) console.log(`audio sent later than video by ${(audio[1] - video[1]).toFixed(1)} ms (medians)`);
