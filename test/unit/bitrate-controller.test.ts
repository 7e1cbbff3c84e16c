import t from 'tap';
import { BitrateController, type LinkReport } from '../../src/bitrate/controller.js';
import { linkReport, videoCounters } from '../../src/bitrate/link-stats.js';

/** The adaptive bitrate controller against simulated links, and the stats it reads. */

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const bounds = { minBps: 150_000, maxBps: 2_500_000, startBps: 1_500_000 };

/**
 * A bottleneck of `capBps` with a drop-tail queue of `queueMs`: what the sender puts in above the cap first
 * queues (RTT grows) then is dropped (loss), as tc tbf does.
 */
function simulate(c: BitrateController, capAt: (s: number) => number, seconds: number, baseRttMs = 20, queueMs = 200) {
  let queued = 0; // bits waiting
  const trace: { s: number; target: number; cap: number; reason: string }[] = [];
  c.update({ atMs: 0, lossFraction: 0, rttMs: baseRttMs, sentBps: null }); // the first receiver report, before any queue
  for (let s = 1; s <= seconds; s++) {
    const cap = capAt(s);
    const sent = c.targetBps; // the encoder hits its target
    const capacityBits = cap; // per second
    const room = (cap * queueMs) / 1000;
    queued = Math.max(0, queued + sent - capacityBits);
    const dropped = Math.max(0, queued - room);
    queued -= dropped;
    const r: LinkReport = { atMs: s * 1000, lossFraction: sent > 0 ? dropped / sent : 0, rttMs: baseRttMs + (queued / cap) * 1000, sentBps: sent };
    const d = c.update(r);
    trace.push({ s, target: d.targetBps, cap, reason: d.reason });
  }
  return trace;
}

t.test('a clean link grows to the upper bound and stays there', async (t) => {
  const c = new BitrateController(bounds);
  const trace = simulate(c, () => 10_000_000, 30);
  t.equal(trace.at(-1)!.target, bounds.maxBps);
  t.ok(trace.every((x) => x.target <= bounds.maxBps));
});

t.test('a cap below the start rate: the target falls under it, then recovers when it lifts', async (t) => {
  const c = new BitrateController(bounds);
  const cap = (s: number) => (s <= 40 ? 600_000 : 10_000_000);
  const trace = simulate(c, cap, 90);
  const during = trace.filter((x) => x.s > 15 && x.s <= 40).map((x) => x.target);
  const kbps = during.map((x) => Math.round(x / 1000)).join(' ');
  t.ok(mean(during) <= 600_000, `under the 600 kbit/s cap on average after 15 s: ${kbps}`);
  t.ok(Math.max(...during) <= 660_000, 'probing overshoots by 10 % at most');
  t.ok(Math.min(...during) >= 400_000, 'and does not collapse towards the floor');
  t.ok(trace.slice(0, 15).some((x) => x.reason === 'delay' || x.reason === 'loss'), 'queueing or loss triggered the cut');
  const end = trace.at(-1)!;
  t.ok(end.target >= 2_000_000, `recovered to ${end.target} after the cap lifted`);
});

t.test('a drop-tail queue that stays full (steady loss under 10 %, flat RTT) is still left', async (t) => {
  const c = new BitrateController(bounds);
  const trace = simulate(c, () => 600_000, 30, 220);
  const after = trace.slice(10).map((x) => x.target);
  t.ok(mean(after) <= 600_000 && Math.max(...after) <= 660_000, trace.map((x) => `${x.reason}:${Math.round(x.target / 1000)}`).join(' '));
});

t.test('random loss below 2 % does not stop growth; heavy loss cuts at once', async (t) => {
  const c = new BitrateController({ ...bounds, startBps: 500_000 });
  for (let s = 1; s <= 10; s++) c.update({ atMs: s * 1000, lossFraction: 0.01, rttMs: 30, sentBps: c.targetBps });
  t.ok(c.targetBps > 800_000, `grew to ${c.targetBps}`);
  const before = c.targetBps;
  const d = c.update({ atMs: 11_000, lossFraction: 0.3, rttMs: 30, sentBps: before });
  t.equal(d.reason, 'loss');
  t.ok(d.changed);
  t.equal(d.targetBps, Math.round(before * 0.85));
});

t.test('bounds, REMB cap, and no growth beyond what the encoder sends', async (t) => {
  const c = new BitrateController(bounds);
  for (let s = 1; s <= 20; s++) c.update({ atMs: s * 1000, lossFraction: 0.5, rttMs: 30, sentBps: c.targetBps });
  t.equal(c.targetBps, bounds.minBps, 'never below the floor');
  const r = new BitrateController(bounds);
  const d = r.update({ atMs: 1000, lossFraction: 0, rttMs: 30, sentBps: 1_500_000, rembBps: 700_000 });
  t.same([d.targetBps, d.reason, d.changed], [700_000, 'remb', true]);
  const idle = new BitrateController(bounds);
  for (let s = 1; s <= 30; s++) idle.update({ atMs: s * 1000, lossFraction: 0, rttMs: 30, sentBps: 200_000 });
  t.equal(idle.targetBps, bounds.startBps, 'an encoder sending 200 kbit/s (a still face) does not license more');
  t.throws(() => new BitrateController({ minBps: 0, maxBps: 1, startBps: 1 }), RangeError);
});

t.test('small changes are not re-applied to the encoder', async (t) => {
  const c = new BitrateController(bounds, { increasePerS: 0.01 });
  const d = c.update({ atMs: 1000, lossFraction: 0, rttMs: 30, sentBps: 1_500_000 });
  t.equal(d.changed, false);
  t.equal(d.targetBps, 1_500_000);
  let changed = false;
  for (let s = 2; s <= 8 && !changed; s++) changed = c.update({ atMs: s * 1000, lossFraction: 0, rttMs: 30, sentBps: 1_500_000 }).changed;
  t.ok(changed, 'accumulated growth is applied once it passes 5 %');
});

t.test('webrtcbin stats: the video stream by its codec entry\'s SSRC, loss from the cumulative counters', async (t) => {
  const snap = (bytes: number, packets: number, lost: number, rtt: number) => ({
    // as webrtcbin 1.22 has them: every outbound-rtp "audio" with one codec-id; the codec entries name the SSRCs
    'codec-v': { type: 'codec', ssrc: 9, 'mime-type': 'video/VP8' },
    'codec-a': { type: 'codec', ssrc: 7, 'mime-type': 'audio/OPUS' },
    'out-a': { type: 'outbound-rtp', ssrc: 7, kind: 'audio', 'codec-id': 'codec-a', 'bytes-sent': 1, 'packets-sent': 1 },
    'out-v': { type: 'outbound-rtp', ssrc: 9, kind: 'audio', 'codec-id': 'codec-a', 'bytes-sent': bytes, 'packets-sent': packets },
    'rin-v': { type: 'remote-inbound-rtp', ssrc: 9, 'packets-lost': lost, 'fraction-lost': 0.5, 'round-trip-time': rtt },
  });
  const a = videoCounters(snap(1000, 10, 0, 0), 1000)!;
  t.equal(a.ssrc, 9);
  t.equal(a.rttMs, null, 'RTT 0 = no report yet');
  const b = videoCounters(snap(126_000, 110, 10, 0.05), 2000)!;
  const r = linkReport(a, b);
  t.equal(r.sentBps, 1_000_000);
  t.equal(r.lossFraction, 0.1);
  t.equal(r.rttMs, 50);
  t.equal(linkReport(null, b).lossFraction, 0.5, 'first report: fraction-lost');
  t.equal(videoCounters({}, 0), null);
});
