import t from 'tap';
import { chromiumAvailable } from '../helpers/chromium.js';
import { requirePlugin } from '../helpers/gst-probe.js';
import { formatSample, runSoak } from '../soak/soak-run.js';

/**
 * The soak's CI variant (`npm run soak` is the long one): 2 sessions with Chromium viewers for 30 s. No
 * session ends, the frame rate does not decay from the first 10 s to the last, and the element's audio and video
 * timelines stay within one frame (40 ms) of each other: no drift (soak-run.ts says what the figure is).
 */

requirePlugin();

t.test('2 sessions × 30 s: no fps decay, audio and video within a frame (no drift)', { skip: !chromiumAvailable() && 'needs Chromium', timeout: 180_000 }, async (t) => {
  const { samples, closed } = await runSoak({ sessions: 2, seconds: 30, intervalS: 10, onSample: (s) => t.comment(formatSample(s)) });
  t.same(closed, [], 'no session ended');
  t.equal(samples.length, 3, 'three 10 s intervals');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(samples[0]!.fps);
  const last = mean(samples.at(-1)!.fps);
  // loose bounds: a shared 2-core machine; what matters is a trend, not one noisy interval
  t.ok(first >= 15, `decoding at ${first.toFixed(1)} fps`);
  t.ok(last >= first * 0.8, `no fps decay (${first.toFixed(1)} → ${last.toFixed(1)} fps)`);
  const offsets = samples.flatMap((s) => s.offsetMs);
  t.ok(offsets.every((d) => d !== null), 'every session reports its audio and video PTS');
  const worst = (xs: (number | null)[]) => Math.max(...xs.map((d) => Math.abs(d ?? Infinity)));
  // a snapshot of the last PTS pushed on each pad, quantised to a frame: 0 or -40 ms is in step, more is drift
  t.ok(worst(offsets) <= 40, `no A/V drift: audio within a frame of video at the element (worst ${worst(offsets).toFixed(1)} ms)`);
});
