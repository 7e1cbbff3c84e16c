import t from 'tap';
import { maxRtcpIntervalMs, rtcpSilenceLimitMs } from '../../src/ice/liveness.js';

const OFFER = 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n';

t.test("RFC 3550's longest receiver interval: 5 s x 1.5 / (e - 3/2)", async (t) => {
  t.equal(Math.round(maxRtcpIntervalMs(OFFER)!), 6156);
  // the GStreamer receiver went 5766 ms without a report: a 5 s watchdog was bound to trip
  t.ok(maxRtcpIntervalMs(OFFER)! > 5766);
});

t.test('the configured limit holds for ordinary offers', async (t) => {
  t.equal(rtcpSilenceLimitMs(OFFER, 20000), 20000);
  t.equal(rtcpSilenceLimitMs(OFFER, 2000), 2000, 'an operator may choose less (tests of vanished viewers do)');
});

t.test('b=RR stretches the interval and the limit grows with it', async (t) => {
  const low = OFFER.replace('a=mid:0', 'b=RR:40\r\na=mid:0');
  t.equal(Math.round(maxRtcpIntervalMs(low)!), Math.round(20 * 1.5 / (Math.E - 1.5) * 1000), '800 bits at 40 bit/s: 20 s');
  t.equal(rtcpSilenceLimitMs(low, 20000), Math.ceil(3 * maxRtcpIntervalMs(low)!));
  const high = OFFER.replace('a=mid:0', 'b=RR:8000\r\na=mid:0');
  t.equal(rtcpSilenceLimitMs(high, 20000), 20000, 'never below the configured limit');
});

t.test('b=RR:0 and b=RS:0 turn RTCP off: silence means nothing', async (t) => {
  const off = OFFER.replace('a=mid:0', 'b=RR:0\r\nb=RS:0\r\na=mid:0');
  t.equal(rtcpSilenceLimitMs(off, 20000), null);
  t.not(rtcpSilenceLimitMs(OFFER.replace('a=mid:0', 'b=RR:0\r\nb=RS:800\r\na=mid:0'), 20000), null, 'senders still report');
});
