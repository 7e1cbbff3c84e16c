/**
 * 1:1 NAT (a cloud VM whose public address is not on any of its interfaces): the host candidates carry the
 * private address, which no viewer outside can reach. The NAT forwards the public address port for port, so
 * announcing the public address with the same port in place of the private one is enough; the viewer's checks
 * arrive on the private socket and the answers go back through the NAT. Relay and reflexive candidates
 * already carry public addresses and are left alone.
 */

/** `candidate:…` (an a=candidate value, or an RTCIceCandidate.candidate) with a host address replaced. */
export function announceCandidate(candidate: string, publicAddress: string): string {
  const f = candidate.trim().split(/\s+/);
  // foundation component transport priority address port "typ" type ...
  if (f.length < 8 || f[6] !== 'typ' || f[7] !== 'host') return candidate;
  f[4] = publicAddress;
  return f.join(' ');
}

/** Rewrites every host candidate of an SDP; a candidate line that becomes a duplicate is dropped. */
export function announceSdp(sdp: string, publicAddress: string): string {
  if (!publicAddress) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const out: string[] = [];
  let seen = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) seen = new Set();
    if (line.startsWith('a=candidate:')) {
      const rewritten = `a=${announceCandidate(line.slice(2), publicAddress)}`;
      // the same public address and port from two private interfaces is one candidate
      const f = rewritten.split(' ');
      const key = [f[1], f[2], f[4], f[5]].join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(rewritten);
    } else out.push(line);
  }
  return out.join(eol);
}
