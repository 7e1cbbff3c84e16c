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
import { pathToFileURL } from 'node:url';

const ms = (hms: string) => {
  const [h, m, s] = hms.split(':').map(Number) as [number, number, number];
  return (h * 3600 + m * 60 + s) * 1000;
};

export interface SendSkew {
  /** Per payloader: each packet's (log time - PTS) in ms, with its log time. */
  perPayloader: Map<string, [at: number, late: number][]>;
  /** Median send - PTS of the audio payloader minus the video payloader's, ms (NaN without both). */
  audioMinusVideoMs: number;
}

const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

/** Reads a GST_DEBUG=rtpbasepayload:6 log (GST_DEBUG_NO_COLOR=1). */
export function sendSkew(log: string): SendSkew {
  const perPayloader = new Map<string, [at: number, late: number][]>();
  for (const line of log.split('\n')) {
    const m = /^(\d+:\d+:\d+\.\d+) .*<(\w+)>.*Preparing to push.*pts (\d+:\d+:\d+\.\d+)/.exec(line);
    if (!m) continue;
    const at = ms(m[1]!);
    const xs = perPayloader.get(m[2]!) ?? [];
    xs.push([at, at - ms(m[3]!)]);
    perPayloader.set(m[2]!, xs);
  }
  const median = (re: RegExp) => {
    const entry = [...perPayloader].find(([n]) => re.test(n));
    return entry ? medianOf(entry[1].map(([, l]) => l)) : NaN;
  };
  return { perPayloader, audioMinusVideoMs: median(/opus/) - median(/vp8|h264/) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const skew = sendSkew(readFileSync(process.argv[2]!, 'utf8'));
  for (const [name, xs] of skew.perPayloader) {
    const t0 = xs[0]![0];
    const cells: string[] = [];
    for (let s = 0; t0 + s * 1000 <= xs[xs.length - 1]![0]; s++) {
      const w = xs.filter(([t]) => t >= t0 + s * 1000 && t < t0 + (s + 1) * 1000).map(([, l]) => l).sort((a, b) => a - b);
      if (w.length) cells.push(`${w[0]!.toFixed(0)}/${medianOf(w).toFixed(0)}`);
    }
    console.log(`${name}: send - PTS per second, min/median ms: ${cells.join(' ')}`);
  }
  console.log(`audio sent later than video by ${skew.audioMinusVideoMs.toFixed(1)} ms (medians)`);
}
