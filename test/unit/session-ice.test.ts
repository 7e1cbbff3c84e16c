import t from 'tap';
import { EventEmitter } from 'node:events';
import { AppError } from '../../src/errors.js';
import type { IceRestartResult } from '../../src/gst/types.js';
import { SessionIce } from '../../src/ice/session-ice.js';
import { parseSdpFrag } from '../../src/ice/sdpfrag.js';

/** A webrtcbin stand-in that records what SessionIce asks of it (the real one is in test/e2e/whep.test.ts). */
class FakeWebrtc extends EventEmitter {
  added: [number, string][] = [];
  restarts: [string, string][] = [];
  addIceCandidate(i: number, c: string) {
    this.added.push([i, c]);
  }
  restartIce(u: string, p: string): IceRestartResult {
    this.restarts.push([u, p]);
    return { ufrag: `srv${this.restarts.length}`, pwd: 'serverpwdserverpwdserverpwd', candidates: ['candidate:1 1 UDP 2015363327 10.0.0.5 40001 typ host'] };
  }
}

const log = { info() {}, warn() {}, debug() {}, error() {}, child() { return log; } } as never;
const OFFER = 'v=0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:cli1\r\na=ice-pwd:clientpwdclientpwdclient\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n';
const ANSWER = 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:srv0\r\na=ice-pwd:serverpwd0serverpwd0serverpwd0\r\na=mid:0\r\na=candidate:1 1 UDP 2015363327 10.0.0.5 40001 typ host\r\n';

t.test('trickle: candidates go to their m-line; late local candidates come back once', async (t) => {
  const w = new FakeWebrtc();
  const ice = new SessionIce(w, OFFER, '', log);
  w.emit('ice-candidate', { sdpMLineIndex: 0, candidate: 'candidate:1 1 UDP 2015363327 10.0.0.5 40001 typ host' });
  t.equal(ice.answered(ANSWER), ANSWER);
  t.equal(ice.etag, '"ice-0-srv0"');
  w.emit('ice-candidate', { sdpMLineIndex: 0, candidate: 'candidate:2 1 UDP 16777215 198.51.100.9 50000 typ relay raddr 0.0.0.0 rport 0' });
  w.emit('ice-candidate', { sdpMLineIndex: 1, candidate: 'candidate:2 1 UDP 16777215 198.51.100.9 50000 typ relay raddr 0.0.0.0 rport 0' });
  const r = ice.patch('a=ice-ufrag:cli1\r\na=ice-pwd:clientpwdclientpwdclient\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=candidate:9 1 udp 1 192.0.2.1 5000 typ host\r\n');
  t.same(w.added, [[1, 'candidate:9 1 udp 1 192.0.2.1 5000 typ host']], 'mid 1 is m-line 1');
  t.notOk(r.restarted);
  t.same(parseSdpFrag(r.fragment!).media[0]!.candidates, ['candidate:2 1 UDP 16777215 198.51.100.9 50000 typ relay raddr 0.0.0.0 rport 0'], 'the late relay candidate, once (bundle: m-line 0 only)');
  t.equal(ice.patch('m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n').fragment, null, 'nothing new: no fragment');
  t.same(w.restarts, []);
});

t.test('restart: new remote credentials restart ICE; the answer has the new local ones', async (t) => {
  const w = new FakeWebrtc();
  const ice = new SessionIce(w, OFFER, '203.0.113.7', log);
  t.match(ice.answered(ANSWER), /203\.0\.113\.7 40001 typ host/, 'the answer announces the public address');
  const r = ice.patch('a=ice-ufrag:cli2\r\na=ice-pwd:newclientpwdnewclientpwd\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:3 1 udp 5 192.0.2.1 6000 typ host\r\n');
  t.ok(r.restarted);
  t.same(w.restarts, [['cli2', 'newclientpwdnewclientpwd']]);
  t.same(w.added, [[0, 'candidate:3 1 udp 5 192.0.2.1 6000 typ host']], "the viewer's new candidates after the restart");
  const f = parseSdpFrag(r.fragment!);
  t.same({ ufrag: f.ufrag, pwd: f.pwd }, { ufrag: 'srv1', pwd: 'serverpwdserverpwdserverpwd' });
  t.same(f.media[0]!.candidates, ['candidate:1 1 UDP 2015363327 203.0.113.7 40001 typ host'], 'restart candidates announced too');
  t.ok(f.media[0]!.endOfCandidates);
  t.equal(ice.etag, '"ice-1-srv1"', 'a new ETag');
  t.notOk(ice.patch('a=ice-ufrag:cli2\r\na=ice-pwd:newclientpwdnewclientpwd\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n').restarted, 'the same credentials again: trickle');
});

t.test('bad fragments are INVALID_SDP', async (t) => {
  const ice = new SessionIce(new FakeWebrtc(), OFFER, '', log);
  ice.answered(ANSWER);
  t.throws(() => ice.patch('nonsense'), AppError);
  t.throws(() => ice.patch('a=ice-ufrag:zzzz\r\nm=audio 9 X 0\r\na=mid:0\r\n'), /without its ice-pwd/);
  t.throws(() => ice.patch('m=audio 9 X 0\r\na=mid:5\r\n'), /mid "5"/);
});
