import t from 'tap';
import { GstError, Pipeline } from '../../src/gst/index.js';
import { CHROMIUM_OFFER, offerPayloadType, senderDescription } from '../helpers/gst-media.js';

/**
 * The ICE agent options the addon sets on webrtcbin (src/native/ice.c): a local port range, ICE-TCP off,
 * and the answering-side ICE restart (new local credentials, local candidates kept). No browser here: the
 * restart against a real viewer is in test/e2e/whep.test.ts.
 */

const GRAPH = senderDescription({ videoCodec: 'VP8', videoPt: offerPayloadType(CHROMIUM_OFFER, 'video', 'VP8') ?? 96, audioPt: 111 });

function candidatesOf(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')).map((l) => l.slice(2));
}

async function answer(ice: Record<string, unknown>) {
  const p = await Pipeline.launch(GRAPH);
  const webrtc = p.webrtc('webrtc', { localAddresses: ['127.0.0.1'], ...ice });
  await p.setState('playing');
  return { p, webrtc, sdp: await webrtc.answer(CHROMIUM_OFFER) };
}

t.test('port range and ICE-TCP off: every candidate is UDP inside the range', async (t) => {
  const min = 42000 + Math.floor(Math.random() * 200) * 10;
  const { p, sdp } = await answer({ minPort: min, maxPort: min + 9, tcp: false });
  t.teardown(() => p.close());
  const cands = candidatesOf(sdp);
  t.ok(cands.length > 0, 'the answer has candidates');
  for (const c of cands) {
    const f = c.split(' ');
    t.equal(f[2]!.toUpperCase(), 'UDP', `UDP only: ${c}`);
    const port = Number(f[5]);
    t.ok(port >= min && port <= min + 9, `port ${port} in ${min}-${min + 9}`);
  }
});

t.test('ICE-TCP on (the default): TCP passive host candidates as well', async (t) => {
  const { p, sdp } = await answer({ tcp: true });
  t.teardown(() => p.close());
  t.ok(candidatesOf(sdp).some((c) => / tcp /i.test(c) && /tcptype passive/.test(c)), 'a passive TCP candidate');
});

t.test('an inverted port range is refused with a clear error', async (t) => {
  const p = await Pipeline.launch(GRAPH);
  t.teardown(() => p.close());
  t.throws(() => p.webrtc('webrtc', { minPort: 5000, maxPort: 4000 }), /port range/);
});

t.test('restartIce: new local credentials, local candidates kept', async (t) => {
  const { p, webrtc, sdp } = await answer({ tcp: false });
  t.teardown(() => p.close());
  const oldUfrag = /a=ice-ufrag:(\S+)/.exec(sdp)![1];
  const r = webrtc.restartIce('abcd', 'abcdefghijklmnopqrstuv');
  t.ok(r.ufrag && r.ufrag !== oldUfrag, `new ufrag (${oldUfrag} -> ${r.ufrag})`);
  t.ok(r.pwd.length >= 22, 'a pwd of at least 22 characters');
  const oldPorts = candidatesOf(sdp).map((c) => c.split(' ')[5]).sort();
  t.same(r.candidates.map((c) => c.split(' ')[5]).sort(), oldPorts, 'the same local candidates');
  t.match(r.candidates[0], /^candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host/);
  const again = webrtc.restartIce('efgh', 'abcdefghijklmnopqrstuv');
  t.not(again.ufrag, r.ufrag, 'every restart has new credentials');
});

t.test('restartIce before ICE started is a GST_WEBRTC error', async (t) => {
  const p = await Pipeline.launch(GRAPH);
  t.teardown(() => p.close());
  const webrtc = p.webrtc('webrtc', {});
  await p.setState('playing');
  const e = t.throws(() => webrtc.restartIce('abcd', 'abcdefghijklmnopqrstuv')) as unknown as GstError;
  t.match(e, { code: 'GST_WEBRTC', message: /not started/ });
});
