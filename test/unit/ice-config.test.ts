import { createHmac } from 'node:crypto';
import t from 'tap';
import { announceCandidate, announceSdp } from '../../src/ice/announce.js';
import { iceConfigSchema } from '../../src/ice/config.js';
import { gstTurnUri, iceUrlString, parseIceUrl } from '../../src/ice/ice-url.js';
import { IceServers, iceServerLinks } from '../../src/ice/ice-servers.js';
import { mintTurnCredentials } from '../../src/ice/turn-rest.js';

t.test('TURN REST credentials are what coturn use-auth-secret recomputes', async (t) => {
  const c = mintTurnCredentials('s3cret', 'session-1', 600, 1_700_000_000_123);
  t.equal(c.username, '1700000600:session-1', 'username is expiry:user');
  t.equal(c.credential, createHmac('sha1', 's3cret').update('1700000600:session-1').digest('base64'), 'password is base64(HMAC-SHA1(secret, username))');
  t.equal(c.expiresAt, 1_700_000_600_000);
  t.equal(mintTurnCredentials('k', 'a:b', 60, 0).username, '60:a_b', 'a colon in the user part cannot shift the expiry field');
  t.throws(() => mintTurnCredentials('', 'x', 60), /secret/);
});

t.test('STUN/TURN URLs: RFC 7064/7065 forms, defaults, and the errors', async (t) => {
  t.same(parseIceUrl('stun:stun.example.net'), { scheme: 'stun', host: 'stun.example.net', port: 3478, transport: null });
  t.same(parseIceUrl('turn:10.0.0.1:3479?transport=tcp'), { scheme: 'turn', host: '10.0.0.1', port: 3479, transport: 'tcp' });
  t.equal(iceUrlString(parseIceUrl('turn:t.example')), 'turn:t.example:3478?transport=udp', 'turn: defaults to UDP');
  t.equal(iceUrlString(parseIceUrl('turns:t.example')), 'turns:t.example:5349?transport=tcp', 'turns: is TLS on 5349');
  t.equal(parseIceUrl('turn:[2001:db8::1]:3478').host, '[2001:db8::1]');
  t.throws(() => parseIceUrl('turn://user:pass@host:3478'), /not a STUN\/TURN URL/);
  t.throws(() => parseIceUrl('stun:h?transport=udp'), /only for TURN/);
  t.throws(() => parseIceUrl('turns:h?transport=udp'), /TLS/);
  t.throws(() => parseIceUrl('turn:h:70000'), /out of range/);
  // webrtcbin unescapes user and password: the ':' of expiry:user and base64's '/+=' must be escaped
  t.equal(gstTurnUri(parseIceUrl('turn:h:3478'), '17:u', 'a/b+c='), 'turn://17%3Au:a%2Fb%2Bc%3D@h:3478?transport=udp');
});

t.test('the ice config block: defaults are host candidates only; bad combinations are refused', async (t) => {
  const d = iceConfigSchema.parse({});
  t.same(d.servers, []);
  t.equal(d.minPort, 0);
  t.equal(d.tcp, true);
  t.equal(d.publicAddress, '');
  t.notOk(iceConfigSchema.safeParse({ servers: ['turn:h'] }).success, 'TURN without any credentials');
  t.ok(iceConfigSchema.safeParse({ servers: ['turn:h'], turnSecret: 'x' }).success);
  t.ok(iceConfigSchema.safeParse({ servers: ['turn:h'], turnUsername: 'u', turnPassword: 'p' }).success);
  t.notOk(iceConfigSchema.safeParse({ servers: ['turn://u:p@h'] }).success, 'GStreamer-style URL in servers');
  t.notOk(iceConfigSchema.safeParse({ minPort: 40000 }).success, 'half a port range');
  t.notOk(iceConfigSchema.safeParse({ minPort: 40010, maxPort: 40000 }).success, 'inverted port range');
  t.ok(iceConfigSchema.safeParse({ minPort: 40000, maxPort: 40100 }).success);
  t.notOk(iceConfigSchema.safeParse({ publicAddress: 'example.com' }).success, 'the public address is an IP');
});

t.test('IceServers: per-user credentials for clients and the server agent, Link headers', async (t) => {
  const settings = iceConfigSchema.parse({
    servers: ['stun:stun.example.net:3478', 'turn:turn.example.net:3478?transport=udp', 'turns:turn.example.net:5349?transport=tcp'],
    turnSecret: 'k',
    turnCredentialTtlS: 120,
    localAddresses: ['127.0.0.1'],
    minPort: 40000,
    maxPort: 40100,
  });
  const ice = new IceServers(settings, () => 1_000_000);
  const a = ice.forClient('alice');
  t.same(a.iceServers[0], { urls: ['stun:stun.example.net:3478'] });
  t.same(a.iceServers[1]!.urls, ['turn:turn.example.net:3478?transport=udp', 'turns:turn.example.net:5349?transport=tcp']);
  t.equal(a.iceServers[1]!.username, '1120:alice');
  t.equal(a.expiresAt, 1_120_000);
  t.not(ice.forClient('bob').iceServers[1]!.credential, a.iceServers[1]!.credential, 'each user has its own password');

  const agent = ice.forAgent('sess');
  t.equal(agent.stunServer, 'stun://stun.example.net:3478');
  t.equal(agent.turnServers.length, 2);
  t.match(agent.turnServers[0], /^turn:\/\/1120%3Asess:[^@]+@turn\.example\.net:3478\?transport=udp$/);
  t.match(agent.turnServers[1], /^turns:\/\/1120%3Asess:[^@]+@turn\.example\.net:5349\?transport=tcp$/);
  t.same({ min: agent.minPort, max: agent.maxPort, tcp: agent.tcp, local: agent.localAddresses }, { min: 40000, max: 40100, tcp: true, local: ['127.0.0.1'] });
  t.same(new IceServers(iceConfigSchema.parse({ ...settings, serverUsesTurn: false })).forAgent('s').turnServers, [], 'serverUsesTurn off');
  t.same(new IceServers(iceConfigSchema.parse({})).forClient('x'), { iceServers: [], expiresAt: null }, 'default: nothing');

  const links = iceServerLinks(a.iceServers);
  t.equal(links.length, 3);
  t.equal(links[0], '<stun:stun.example.net:3478>; rel="ice-server"');
  t.equal(links[1], `<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="1120:alice"; credential="${a.iceServers[1]!.credential}"; credential-type="password"`);
  t.match(iceServerLinks([{ urls: ['turn:h'], username: 'a"b', credential: 'c\\d' }])[0], /username="a\\"b"; credential="c\\\\d"/, 'quoted-string escapes');
});

t.test('announced public address replaces host candidates only', async (t) => {
  const host = 'candidate:1 1 UDP 2015363327 10.0.0.5 40001 typ host';
  t.equal(announceCandidate(host, '203.0.113.7'), 'candidate:1 1 UDP 2015363327 203.0.113.7 40001 typ host');
  const relay = 'candidate:2 1 UDP 16777215 198.51.100.1 50000 typ relay raddr 10.0.0.5 rport 40001';
  t.equal(announceCandidate(relay, '203.0.113.7'), relay, 'relay untouched');
  const sdp = ['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', `a=${host}`, 'a=candidate:3 1 UDP 2015363326 10.0.0.5 40001 typ host', `a=${relay}`, 'm=audio 9 UDP/TLS/RTP/SAVPF 111', `a=${host}`, ''].join('\r\n');
  const out = announceSdp(sdp, '203.0.113.7');
  t.notMatch(out, /10\.0\.0\.5 40001 typ host/, 'no private host candidate left');
  t.equal(out.match(/203\.0\.113\.7 40001 typ host/g)?.length, 2, 'duplicates within a section dropped; each section keeps its own');
  t.match(out, /typ relay raddr 10\.0\.0\.5/);
  t.equal(announceSdp(sdp, ''), sdp, 'no public address: unchanged');
});

t.test("a client's RTCIceServer list as webrtcbin takes it", async (t) => {
  const { agentIceFromClientServers } = await import('../../src/ice/ice-servers.js');
  t.same(
    agentIceFromClientServers([
      { urls: ['stun:s.example:3478', 'stun:t.example'] },
      { urls: ['turn:r.example:3478?transport=udp', 'turns:r.example:5349?transport=tcp', 'https://nope'], username: '9:u', credential: 'p/w=' },
      { urls: ['turn:nocreds.example'] },
    ]),
    { stunServer: 'stun://s.example:3478', turnServers: ['turn://9%3Au:p%2Fw%3D@r.example:3478?transport=udp', 'turns://9%3Au:p%2Fw%3D@r.example:5349?transport=tcp'] },
  );
});
