import t from 'tap';
import { buildSdpFrag, fragCredentials, parseSdpFrag, sdpIceCredentials, sdpMids, SdpFragError } from '../../src/ice/sdpfrag.js';

// RFC 8840 §9's example shape, as a WHEP client sends it.
const TRICKLE = [
  'a=ice-options:trickle ice2',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'a=mid:0',
  'a=ice-ufrag:EsAw',
  'a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1',
  'a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1',
  'a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2',
  'a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1',
  'a=end-of-candidates',
  '',
].join('\r\n');

t.test('parses a trickle fragment: mid, credentials, candidates, end-of-candidates', async (t) => {
  const f = parseSdpFrag(TRICKLE);
  t.same(f.options, ['trickle', 'ice2']);
  t.equal(f.media.length, 1);
  const m = f.media[0]!;
  t.equal(m.mid, '0');
  t.same(fragCredentials(f, m), { ufrag: 'EsAw', pwd: 'P2uYro0UCOQ4zxjKXaWCBui1' });
  t.equal(m.candidates.length, 3);
  t.match(m.candidates[2], /^candidate:473322822 1 tcp .* tcptype active/);
  t.ok(m.endOfCandidates);
  t.same(parseSdpFrag(TRICKLE.replace(/\r\n/g, '\n')), f, 'LF line endings parse the same');
});

t.test('session-level credentials apply to every section (an ICE restart fragment)', async (t) => {
  const f = parseSdpFrag('a=ice-ufrag:ZZZZ\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n');
  t.same(fragCredentials(f, f.media[0]!), { ufrag: 'ZZZZ', pwd: 'abcdefghijklmnopqrstuv' });
  t.same(f.media[0]!.candidates, []);
});

t.test('refuses what is not an sdpfrag', async (t) => {
  t.throws(() => parseSdpFrag(''), SdpFragError);
  t.throws(() => parseSdpFrag('hello'), /not an SDP line/);
  t.throws(() => parseSdpFrag('a=candidate:1 1 udp 1 1.2.3.4 5 typ host'), /outside a media section/);
  t.throws(() => parseSdpFrag('m=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:garbage'), /not an ICE candidate/);
  t.throws(() => parseSdpFrag('a=ice-ufrag:bad ufrag'), /characters/);
});

t.test('builds fragments that parse back', async (t) => {
  const text = buildSdpFrag({
    ufrag: 'abcd',
    pwd: 'abcdefghijklmnopqrstuv',
    sections: [{ mid: 'video0', candidates: ['candidate:1 1 UDP 2015363327 127.0.0.1 40001 typ host'], endOfCandidates: true }],
  });
  t.match(text, /^a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\nm=audio 9 UDP\/TLS\/RTP\/SAVPF 0\r\na=mid:video0\r\n/);
  const f = parseSdpFrag(text);
  t.same(f.media[0], { mid: 'video0', ufrag: null, pwd: null, candidates: ['candidate:1 1 UDP 2015363327 127.0.0.1 40001 typ host'], endOfCandidates: true });
});

t.test('mids and transport credentials of a full SDP', async (t) => {
  const sdp = 'v=0\r\nm=video 9 X 96\r\na=mid:0\r\na=ice-ufrag:aaaa\r\na=ice-pwd:bbbbbbbbbbbbbbbbbbbbbb\r\nm=audio 9 X 111\r\na=mid:1\r\na=ice-ufrag:cccc\r\nm=application 0 X\r\n';
  t.same(sdpMids(sdp), ['0', '1', null]);
  t.same(sdpIceCredentials(sdp), { ufrag: 'aaaa', pwd: 'bbbbbbbbbbbbbbbbbbbbbb' });
});
