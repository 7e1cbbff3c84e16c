/**
 * `application/trickle-ice-sdpfrag` (RFC 8840 §9), the body of WHEP/WHIP PATCH requests: session-level
 * ICE attributes, then one media section per m-line that names its `a=mid` and carries its ICE
 * credentials, candidates and `a=end-of-candidates`. A fragment whose credentials differ from the current
 * ones asks for an ICE restart (RFC 8839 §4.4.1.1.1).
 */

export interface SdpFragMedia {
  mid: string | null;
  ufrag: string | null;
  pwd: string | null;
  /** Candidate values without "a=" (`candidate:…`). */
  candidates: string[];
  endOfCandidates: boolean;
}

export interface SdpFrag {
  ufrag: string | null;
  pwd: string | null;
  options: string[];
  media: SdpFragMedia[];
}

export class SdpFragError extends Error {
  override readonly name = 'SdpFragError';
}

const CANDIDATE_RE = /^candidate:\S{1,32} \d{1,3} (?:udp|tcp) \d{1,10} \S+ \d{1,5} typ (?:host|srflx|prflx|relay)(?: .*)?$/i;

export function parseSdpFrag(text: string): SdpFrag {
  const frag: SdpFrag = { ufrag: null, pwd: null, options: [], media: [] };
  let media: SdpFragMedia | null = null;
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new SdpFragError('the sdpfrag is empty');
  for (const [i, line] of lines.entries()) {
    const at = `line ${i + 1}`;
    const m = /^([a-z])=(.*)$/.exec(line);
    if (!m) throw new SdpFragError(`${at} is not an SDP line ("x=value")`);
    const [, type, value] = m as unknown as [string, string, string];
    if (type === 'm') {
      media = { mid: null, ufrag: null, pwd: null, candidates: [], endOfCandidates: false };
      frag.media.push(media);
      continue;
    }
    if (type !== 'a') continue; // c=, b=… carry nothing ICE needs
    const colon = value.indexOf(':');
    const key = colon < 0 ? value : value.slice(0, colon);
    const arg = colon < 0 ? '' : value.slice(colon + 1);
    switch (key) {
      case 'ice-ufrag':
      case 'ice-pwd': {
        if (!/^[A-Za-z0-9+/]{1,256}$/.test(arg)) throw new SdpFragError(`${at}: ${key} has characters ICE does not allow`);
        const target = media ?? frag;
        if (key === 'ice-ufrag') target.ufrag = arg;
        else target.pwd = arg;
        break;
      }
      case 'ice-options':
        if (!media) frag.options = arg.split(/\s+/).filter(Boolean);
        break;
      case 'mid':
        if (!media) throw new SdpFragError(`${at}: a=mid outside a media section`);
        media.mid = arg;
        break;
      case 'candidate':
        if (!media) throw new SdpFragError(`${at}: a=candidate outside a media section`);
        if (!CANDIDATE_RE.test(value)) throw new SdpFragError(`${at}: not an ICE candidate`);
        media.candidates.push(value);
        break;
      case 'end-of-candidates':
        if (media) media.endOfCandidates = true;
        else for (const x of frag.media) x.endOfCandidates = true;
        break;
      default:
        break;
    }
  }
  return frag;
}

/** The ufrag/pwd a media section uses: its own, else the session-level ones. */
export function fragCredentials(frag: SdpFrag, media: SdpFragMedia): { ufrag: string | null; pwd: string | null } {
  return { ufrag: media.ufrag ?? frag.ufrag, pwd: media.pwd ?? frag.pwd };
}

export interface SdpFragSection {
  mid: string;
  /** The m= line to repeat (RFC 8840 wants one; its values are not used). */
  mLine?: string;
  candidates: readonly string[];
  endOfCandidates?: boolean;
}

/** Writes an sdpfrag: session-level credentials (when given), then one section per mid. */
export function buildSdpFrag(frag: { ufrag?: string; pwd?: string; options?: string[]; sections: readonly SdpFragSection[] }): string {
  const out: string[] = [];
  if (frag.options?.length) out.push(`a=ice-options:${frag.options.join(' ')}`);
  if (frag.ufrag) out.push(`a=ice-ufrag:${frag.ufrag}`);
  if (frag.pwd) out.push(`a=ice-pwd:${frag.pwd}`);
  for (const s of frag.sections) {
    out.push(s.mLine ?? 'm=audio 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${s.mid}`);
    for (const c of s.candidates) out.push(`a=${c.replace(/^a=/, '')}`);
    if (s.endOfCandidates) out.push('a=end-of-candidates');
  }
  return out.join('\r\n') + '\r\n';
}

/** The mids of an SDP's m-lines, in order (null where a section has none). */
export function sdpMids(sdp: string): (string | null)[] {
  const mids: (string | null)[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) mids.push(null);
    else if (line.startsWith('a=mid:') && mids.length) mids[mids.length - 1] = line.slice(6).trim();
  }
  return mids;
}

/** ICE credentials of the first m-line (or session level) of an SDP: with BUNDLE, the transport's. */
export function sdpIceCredentials(sdp: string): { ufrag: string | null; pwd: string | null } {
  let ufrag: string | null = null;
  let pwd: string | null = null;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('a=ice-ufrag:') && ufrag === null) ufrag = line.slice(12).trim();
    else if (line.startsWith('a=ice-pwd:') && pwd === null) pwd = line.slice(10).trim();
  }
  return { ufrag, pwd };
}
