import { AppError } from '../errors.js';
import type { VideoCodec } from '../config/schema.js';

/**
 * Reads what we need from a browser's SDP offer before any GStreamer graph exists: the media sections, their
 * codecs with payload types, mids and directions. Payload types must come from the offer: webrtcbin answers
 * a mismatched Opus PT as "inactive" and aborts the process on a video PT the offer gave to another codec.
 */

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface OfferCodec {
  pt: number;
  name: string;
  clockRate: number;
  channels: number | null;
  fmtp: Record<string, string>;
}

export interface OfferMedia {
  index: number;
  kind: string;
  port: number;
  /** RFC 8843: port 0 with a=bundle-only is a section sent over the bundle's transport, not a rejected one. */
  bundleOnly: boolean;
  mid: string | null;
  direction: Direction;
  codecs: OfferCodec[];
}

export interface VideoChoice {
  codec: VideoCodec;
  pt: number;
  mid: string | null;
  /** H.264 only: the profile-level-id of the chosen payload type (e.g. "42e01f"). */
  profileLevelId: string | null;
}

export interface AudioChoice {
  codec: 'OPUS';
  pt: number;
  mid: string | null;
}

export interface CodecSelection {
  video: VideoChoice;
  audio: AudioChoice;
}

const DIRECTIONS = new Set<Direction>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

function invalid(message: string): never {
  throw new AppError('INVALID_SDP', `invalid SDP offer: ${message}`);
}

export function parseOffer(sdp: string): OfferMedia[] {
  const lines = sdp.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l !== '');
  if (lines[0] !== 'v=0') invalid('it must start with "v=0"');
  // SDP is text handed to C as a C string: a NUL would silently cut it there (webrtcbin then fails: a 500).
  if (sdp.includes('\u0000')) invalid('it contains a NUL byte');
  let sessionDirection: Direction = 'sendrecv';
  const media: OfferMedia[] = [];
  const rtpmaps = new Map<OfferMedia, Map<number, OfferCodec>>();
  let current: OfferMedia | null = null;

  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) invalid(`malformed line "${line.slice(0, 40)}"`);
    const value = line.slice(2);
    if (line.startsWith('m=')) {
      const m = /^(\S+) (\d+)(?:\/\d+)? (\S+)((?: \S+)*)$/.exec(value);
      if (!m) invalid(`malformed m-line "${line.slice(0, 60)}"`);
      const pts = m[4]!.trim().split(' ').filter(Boolean);
      current = { index: media.length, kind: m[1]!, port: Number(m[2]), bundleOnly: false, mid: null, direction: sessionDirection, codecs: [] };
      media.push(current);
      const byPt = new Map<number, OfferCodec>();
      for (const p of pts) {
        // Non-RTP sections (application/DTLS/SCTP) list "webrtc-datachannel" instead of payload types.
        if (!/^\d+$/.test(p)) continue;
        const pt = Number(p);
        if (pt > 127) invalid(`payload type ${pt} out of range`);
        byPt.set(pt, { pt, name: '', clockRate: 0, channels: null, fmtp: {} });
      }
      rtpmaps.set(current, byPt);
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const [attr, ...rest] = value.split(':');
    const arg = rest.join(':');
    if (DIRECTIONS.has(attr as Direction) && arg === '') {
      if (current) current.direction = attr as Direction;
      else sessionDirection = attr as Direction;
      continue;
    }
    if (!current) continue;
    const byPt = rtpmaps.get(current)!;
    if (attr === 'mid') current.mid = arg;
    else if (attr === 'bundle-only' && arg === '') current.bundleOnly = true;
    else if (attr === 'rtpmap') {
      const r = /^(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?$/.exec(arg);
      if (!r) invalid(`malformed rtpmap "${arg.slice(0, 60)}"`);
      const codec = byPt.get(Number(r[1]));
      if (codec) {
        codec.name = r[2]!.toUpperCase();
        codec.clockRate = Number(r[3]);
        codec.channels = r[4] === undefined ? null : Number(r[4]);
      }
    } else if (attr === 'fmtp') {
      const f = /^(\d+) (.*)$/.exec(arg);
      if (!f) invalid(`malformed fmtp "${arg.slice(0, 60)}"`);
      const codec = byPt.get(Number(f[1]));
      if (codec) {
        for (const kv of f[2]!.split(';')) {
          const [k, ...v] = kv.trim().split('=');
          if (k) codec.fmtp[k.toLowerCase()] = v.join('=');
        }
      }
    }
  }
  if (media.length === 0) invalid('it has no m-line');
  for (const m of media) m.codecs = [...rtpmaps.get(m)!.values()].filter((c) => c.name !== '');
  return media;
}

/** A section we can send on: not rejected (port 0 without bundle-only) and the peer wants to receive. */
const sendable = (m: OfferMedia) =>
  (m.port !== 0 || m.bundleOnly) && (m.direction === 'recvonly' || m.direction === 'sendrecv');

interface H264Profile {
  constrainedBaseline: boolean;
  baseline: boolean;
  level: number;
}

/** RFC 6184 profile-level-id → whether our constrained-baseline stream is decodable under it. */
export function h264Profile(profileLevelId: string | undefined): H264Profile | null {
  // RFC 6184: absent means Baseline, level 1.0.
  const id = (profileLevelId ?? '42000a').toLowerCase();
  if (!/^[0-9a-f]{6}$/.test(id)) return null;
  const idc = parseInt(id.slice(0, 2), 16);
  const iop = parseInt(id.slice(2, 4), 16);
  const level = parseInt(id.slice(4, 6), 16);
  const constrainedBaseline =
    (idc === 0x42 && (iop & 0x40) !== 0) || (idc === 0x4d && (iop & 0x80) !== 0) || (idc === 0x58 && (iop & 0xc0) === 0xc0);
  const baseline = idc === 0x42;
  return { constrainedBaseline, baseline, level };
}

function pickVideo(m: OfferMedia, codec: VideoCodec): VideoChoice | null {
  if (codec === 'VP8') {
    const c = m.codecs.find((x) => x.name === 'VP8' && x.clockRate === 90000);
    return c ? { codec, pt: c.pt, mid: m.mid, profileLevelId: null } : null;
  }
  // H.264: we send packetization-mode 1, constrained baseline. Prefer an exact constrained-baseline match,
  // then plain baseline (a constrained-baseline stream is a valid baseline stream), higher levels first.
  const candidates = m.codecs
    .filter((x) => x.name === 'H264' && x.clockRate === 90000 && x.fmtp['packetization-mode'] === '1')
    .map((x) => ({ x, p: h264Profile(x.fmtp['profile-level-id']) }))
    .filter((c): c is { x: OfferCodec; p: H264Profile } => c.p !== null && (c.p.constrainedBaseline || c.p.baseline))
    .sort((a, b) => Number(b.p.constrainedBaseline) - Number(a.p.constrainedBaseline) || b.p.level - a.p.level);
  const best = candidates[0];
  return best ? { codec, pt: best.x.pt, mid: m.mid, profileLevelId: (best.x.fmtp['profile-level-id'] ?? '42000a').toLowerCase() } : null;
}

/**
 * Chooses the video codec (in the server's order of preference, among those we have pipelines for) and
 * Opus for audio. Throws AppError OFFER_MEDIA_MISSING / NO_COMMON_CODEC with the offered codecs as details.
 */
export function selectCodecs(media: OfferMedia[], available: readonly VideoCodec[]): CodecSelection {
  const video = media.find((m) => m.kind === 'video' && sendable(m));
  const audio = media.find((m) => m.kind === 'audio' && sendable(m));
  const missing = [!video && 'video', !audio && 'audio'].filter(Boolean);
  if (missing.length > 0) {
    throw new AppError('OFFER_MEDIA_MISSING', `the offer has no ${missing.join(' or ')} section we can send on (recvonly or sendrecv)`, {
      details: { sections: media.map((m) => ({ kind: m.kind, mid: m.mid, direction: m.direction, port: m.port })) },
    });
  }
  const offered = (m: OfferMedia) => [...new Set(m.codecs.map((c) => `${c.name}/${c.clockRate}${c.channels ? '/' + c.channels : ''}`))];
  let videoChoice: VideoChoice | null = null;
  for (const codec of available) {
    videoChoice = pickVideo(video!, codec);
    if (videoChoice) break;
  }
  if (!videoChoice) {
    throw new AppError('NO_COMMON_CODEC', `no common video codec: the offer has ${offered(video!).join(', ') || 'none'}; this server sends ${available.join(', ')}`, {
      details: { kind: 'video', offered: offered(video!), supported: available },
    });
  }
  const opus = audio!.codecs.find((c) => c.name === 'OPUS' && c.clockRate === 48000 && c.channels === 2);
  if (!opus) {
    throw new AppError('NO_COMMON_CODEC', `no common audio codec: the offer has ${offered(audio!).join(', ') || 'none'}; this server sends OPUS/48000/2`, {
      details: { kind: 'audio', offered: offered(audio!), supported: ['OPUS/48000/2'] },
    });
  }
  return { video: videoChoice, audio: { codec: 'OPUS', pt: opus.pt, mid: audio!.mid } };
}
