/**
 * How long a viewer may stay silent on RTCP before it counts as gone, from what its offer negotiated.
 *
 * RFC 3550 §6.3: a receiver reports at a randomised interval of at least 5 s (0.5–1.5 × the computed interval,
 * divided by e − 3/2), so a compliant receiver such as GStreamer's may stay silent up to ~6.2 s, and a lost
 * report doubles that. The configured timeout is the operator's choice for ordinary offers (its default
 * covers three such intervals); an offer that lowers the receivers' RTCP bandwidth (b=RR, RFC 3556)
 * stretches its interval, and the limit grows with it. An offer with b=RR:0 and b=RS:0 sends no RTCP at all:
 * then silence says nothing and only ICE and the connection state can end the session (null).
 */

const RFC3550_MIN_INTERVAL_S = 5;
/** RFC 3550 §6.3.1: the randomisation's upper bound over the e − 3/2 compensation. */
const MAX_JITTER = 1.5 / (Math.E - 1.5);
/** A compound RR + SDES of a WebRTC receiver is about 100 bytes. */
const AVG_RTCP_BITS = 100 * 8;
/** Intervals of silence tolerated: a lost report and then some. */
const INTERVALS = 3;

/** The longest RTCP report interval of the viewer (ms) under RFC 3550 for this offer. */
export function maxRtcpIntervalMs(offerSdp: string): number | null {
  const rr = bandwidths(offerSdp, 'RR');
  const rs = bandwidths(offerSdp, 'RS');
  if (rr.length && rr.every((b) => b === 0) && (rs.length === 0 || rs.every((b) => b === 0))) return null;
  const lowest = rr.filter((b) => b > 0);
  const computedS = lowest.length ? AVG_RTCP_BITS / Math.min(...lowest) : 0;
  return Math.max(RFC3550_MIN_INTERVAL_S, computedS) * MAX_JITTER * 1000;
}

/** The RTCP silence limit of one session: at least `configuredMs`; null when the offer turned RTCP off. */
export function rtcpSilenceLimitMs(offerSdp: string, configuredMs: number): number | null {
  const interval = maxRtcpIntervalMs(offerSdp);
  if (interval === null) return null;
  const hasRr = bandwidths(offerSdp, 'RR').length > 0;
  return hasRr ? Math.max(configuredMs, Math.ceil(INTERVALS * interval)) : configuredMs;
}

function bandwidths(sdp: string, type: 'RR' | 'RS'): number[] {
  const re = new RegExp(`^b=${type}:(\\d+)\\s*$`, 'gm');
  return [...sdp.matchAll(re)].map((m) => Number(m[1]));
}
