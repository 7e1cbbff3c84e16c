import t from 'tap';
import { bitrate, dittoStatsFromMessage, summariseRtpStats } from '../../src/sessions/session-stats.js';

t.test('ditto-stats fields are normalised', async (t) => {
  // What dittotalkinghead posts today: frame counters (guint64 → bigint or number) and fps.
  const s = dittoStatsFromMessage({ 'frames-out': 251n, 'frames-late': 2, 'silence-frames': 40, fps: 25.0 });
  t.same({ ...s, raw: undefined }, { frames_out: 251, frames_late: 2, silence_frames: 40, fps: 25, pts_s: 10, av_drift_ms: null, raw: undefined });
  // GstClockTime fields, when posted, are nanoseconds.
  const timed = dittoStatsFromMessage({ 'frames-out': 1, 'video-pts': 10_000_000_000, 'audio-pts': 10_004_000_000 });
  t.equal(timed.pts_s, 10);
  t.equal(timed.av_drift_ms, 4, 'audio ahead of video by 4 ms');
  t.equal(dittoStatsFromMessage({ 'av-drift': -4_000_000 }).av_drift_ms, -4);
  t.equal(dittoStatsFromMessage({ frames_out: '7' }).frames_out, 7, 'underscore spellings and numeric strings');
  t.equal(dittoStatsFromMessage({ 'av-drift-ms': 3 }).av_drift_ms, 3);
  t.same({ ...dittoStatsFromMessage({}), raw: null }, { frames_out: null, frames_late: null, silence_frames: null, fps: null, pts_s: null, av_drift_ms: null, raw: null });
});

t.test('webrtcbin stats: outbound bytes summed, remote-inbound feedback kept', async (t) => {
  const s = summariseRtpStats({
    'rtp-outbound-stream-stats_1': { type: 'outbound-rtp', ssrc: 1, kind: 'video', 'bytes-sent': 1000, 'packets-sent': 10 },
    'rtp-outbound-stream-stats_2': { type: 'outbound-rtp', ssrc: 2, 'bytes-sent': 200n, 'packets-sent': 5 },
    'rtp-remote-inbound-stream-stats_1': { type: 'remote-inbound-rtp', 'packets-lost': 2, 'round-trip-time': 0.004, jitter: 0.001 },
    'rtp-remote-inbound-stream-stats_2': { type: 'remote-inbound-rtp', 'packets-lost': 1, 'round-trip-time': 0.002 },
    transport: { type: 'transport' },
  });
  t.equal(s.bytes_sent, 1200);
  t.equal(s.packets_sent, 15);
  t.equal(s.packets_lost, 3);
  t.equal(s.round_trip_time_ms, 4);
  t.equal(s.jitter_s, 0.001);
  t.same(s.streams.map((x) => [x.kind, x.ssrc]), [['video', 1], [null, 2]]);
  t.equal(summariseRtpStats({ a: { type: 3, 'bytes-sent': 5 } }).bytes_sent, 5, 'numeric GstWebRTCStatsType');
  t.same(summariseRtpStats({}).packets_lost, null);
});

t.test('bitrate between samples', async (t) => {
  t.equal(bitrate({ atMs: 0, bytes: 0 }, { atMs: 1000, bytes: 125_000 }), 1_000_000);
  t.equal(bitrate(null, { atMs: 1000, bytes: 1 }), null);
  t.equal(bitrate({ atMs: 0, bytes: 0 }, { atMs: 100, bytes: 10 }), null, 'too short an interval');
  t.equal(bitrate({ atMs: 0, bytes: 10 }, { atMs: 1000, bytes: 5 }), null, 'counter reset');
});
