import t from 'tap';
import { h264Profile, parseOffer, selectCodecs } from '../../src/offers/sdp-offer.js';
import { CHROMIUM_RECVONLY_OFFER as OFFER, withoutCodec } from '../helpers/chromium-like-offer.js';

t.test('parses a Chromium offer: sections, mids, directions, codecs with payload types', async (t) => {
  const media = parseOffer(OFFER);
  t.equal(media.length, 2);
  t.match(media[0], { kind: 'video', mid: '0', direction: 'recvonly', port: 9 });
  t.match(media[1], { kind: 'audio', mid: '1', direction: 'recvonly' });
  t.match(media[0]!.codecs.find((c) => c.pt === 96), { name: 'VP8', clockRate: 90000 });
  t.match(media[0]!.codecs.find((c) => c.pt === 106), { name: 'H264', fmtp: { 'packetization-mode': '1', 'profile-level-id': '42e01f' } });
  t.match(media[1]!.codecs.find((c) => c.pt === 111), { name: 'OPUS', clockRate: 48000, channels: 2, fmtp: { useinbandfec: '1' } });
  t.equal(media[0]!.codecs.length, 25, 'every payload type of the m-line');
  t.same(parseOffer(OFFER.replace(/\r\n/g, '\n')), media, 'LF line endings parse the same');
});

t.test('codec choice follows the server preference and takes PTs from the offer', async (t) => {
  const media = parseOffer(OFFER);
  t.same(selectCodecs(media, ['VP8', 'H264']), {
    video: { codec: 'VP8', pt: 96, mid: '0', profileLevelId: null },
    audio: { codec: 'OPUS', pt: 111, mid: '1' },
  });
  t.same(selectCodecs(media, ['H264', 'VP8']).video, { codec: 'H264', pt: 106, mid: '0', profileLevelId: '42e01f' }, 'constrained baseline, packetization-mode 1');
  const h264Only = parseOffer(withoutCodec(OFFER, 'VP8'));
  t.equal(selectCodecs(h264Only, ['VP8', 'H264']).video.codec, 'H264', 'falls back to the next codec the offer has');
});

t.test('H.264: only packetization-mode 1 with a (constrained) baseline profile is taken', async (t) => {
  // Leave only the 42001f mode-1 entry (baseline): still decodable, chosen after constrained baseline.
  let sdp = OFFER.replace('profile-level-id=42e01f', 'profile-level-id=640c1f');
  t.match(selectCodecs(parseOffer(sdp), ['H264']).video, { pt: 102, profileLevelId: '42001f' });
  // Only High / Main / mode 0 left: no common codec.
  sdp = OFFER.replace(/packetization-mode=1;profile-level-id=42[0e]01f/g, 'packetization-mode=0;profile-level-id=42e01f');
  t.throws(() => selectCodecs(parseOffer(sdp), ['H264']), { code: 'NO_COMMON_CODEC', status: 400, details: { kind: 'video' } });
  t.match(h264Profile('42e01f'), { constrainedBaseline: true, level: 31 });
  t.match(h264Profile('42001f'), { constrainedBaseline: false, baseline: true });
  t.match(h264Profile('4de01f'), { constrainedBaseline: true }, 'main with constraint_set1 is constrained baseline');
  t.match(h264Profile('640c1f'), { constrainedBaseline: false, baseline: false });
  t.equal(h264Profile('zz'), null);
  t.match(h264Profile(undefined), { baseline: true, level: 10 }, 'RFC 6184 default');
});

t.test('no common codec is a 400 that names what was offered', async (t) => {
  const vp9only = withoutCodec(withoutCodec(withoutCodec(OFFER, 'VP8'), 'H264'), 'AV1');
  const err = t.throws(() => selectCodecs(parseOffer(vp9only), ['VP8', 'H264'])) as unknown as { code: string; message: string; details: { offered: string[] } };
  t.equal(err.code, 'NO_COMMON_CODEC');
  t.match(err.message, /VP9\/90000/);
  t.ok(err.details.offered.includes('VP9/90000'));
  t.throws(() => selectCodecs(parseOffer(withoutCodec(OFFER, 'opus')), ['VP8']), { code: 'NO_COMMON_CODEC', details: { kind: 'audio' } });
});

t.test('sections we cannot send on', async (t) => {
  const sendonly = OFFER.replace('a=mid:1\r\n', 'a=mid:1\r\n').replace(/(m=audio[\s\S]*?)a=recvonly/, '$1a=sendonly');
  t.throws(() => selectCodecs(parseOffer(sendonly), ['VP8']), { code: 'OFFER_MEDIA_MISSING', message: /audio/ });
  const rejected = OFFER.replace('m=video 9 ', 'm=video 0 ');
  t.throws(() => selectCodecs(parseOffer(rejected), ['VP8']), { code: 'OFFER_MEDIA_MISSING', message: /video/ });
  const audioOnly = OFFER.slice(0, OFFER.indexOf('m=video')) + OFFER.slice(OFFER.indexOf('m=audio'));
  t.throws(() => selectCodecs(parseOffer(audioOnly), ['VP8']), { code: 'OFFER_MEDIA_MISSING' });
  const sendrecv = OFFER.replace(/a=recvonly/g, 'a=sendrecv');
  t.equal(selectCodecs(parseOffer(sendrecv), ['VP8']).video.pt, 96, 'sendrecv is fine: we send, and ignore what it sends');
  const sessionLevel = OFFER.replace(/a=recvonly\r\n/g, '').replace('t=0 0\r\n', 't=0 0\r\na=recvonly\r\n');
  t.equal(parseOffer(sessionLevel)[1]!.direction, 'recvonly', 'session-level direction is inherited');
});

t.test('malformed SDP is INVALID_SDP, never a crash', async (t) => {
  for (const bad of ['', 'hello', 'v=0\r\n', 'v=0\r\nm=video\r\n', 'v=0\r\nm=video 9 RTP/AVP 300\r\n', 'v=0\r\nthis is not sdp\r\n', 'v=0\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96 \r\n']) {
    t.throws(() => parseOffer(bad), { code: 'INVALID_SDP', status: 400 }, JSON.stringify(bad));
  }
  const datachannel = OFFER + 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n';
  t.equal(parseOffer(datachannel)[2]!.kind, 'application', 'a data channel section is parsed and ignored');
});

t.test('a bundle-only section (port 0, RFC 8843) is sent on; a rejected one (port 0 alone) is not', async (t) => {
  const [video, audio] = OFFER.split(/(?=m=audio)/);
  const bundleOnly = `${video}${audio!.replace(/^m=audio \d+/, 'm=audio 0').replace('a=mid:1', 'a=mid:1\r\na=bundle-only')}`;
  t.match(parseOffer(bundleOnly)[1], { kind: 'audio', port: 0, bundleOnly: true });
  t.match(selectCodecs(parseOffer(bundleOnly), ['VP8']).audio, { codec: 'OPUS', pt: 111 });
  const rejected = `${video}${audio!.replace(/^m=audio \d+/, 'm=audio 0')}`;
  t.throws(() => selectCodecs(parseOffer(rejected), ['VP8']), { code: 'OFFER_MEDIA_MISSING', status: 400 });
});
