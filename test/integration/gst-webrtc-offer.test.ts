import t, { type Test } from 'tap';
import { GstError, Pipeline, type IncomingTargets } from '../../src/gst/index.js';
import { senderDescription } from '../helpers/gst-media.js';

/**
 * The offering side of the addon: two webrtcbins in one process negotiate over loopback. Ours offers recvonly
 * VP8 + Opus (transceivers added through "add-transceiver"), a stock sender answers through answer(), and
 * the media arrives on webrtcbin src pads that the addon links by media kind (linkIncoming), counted by pad
 * probes. (gst-launch's delayed linking links them in order of appearance: audio first lands on the video
 * branch and the stream stops with not-negotiated.)
 */

const LOOPBACK = { localAddresses: ['127.0.0.1'] };
const VP8 = 'application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96';
const OPUS = 'application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,encoding-params=(string)2,payload=111';
const RECEIVER =
  'webrtcbin name=webrtc bundle-policy=max-compat latency=50 ' +
  'rtpvp8depay name=vout ! fakesink sync=false async=false ' +
  'rtpopusdepay name=aout ! fakesink sync=false async=false';

async function receiver(t: Test, incoming: IncomingTargets = { video: 'vout', audio: 'aout' }) {
  const p = await Pipeline.launch(RECEIVER);
  t.teardown(() => p.close());
  const webrtc = p.webrtc('webrtc', LOOPBACK);
  webrtc.addRecvonlyTransceiver(VP8);
  webrtc.addRecvonlyTransceiver(OPUS);
  webrtc.linkIncoming(incoming);
  p.element('vout').watchPad();
  p.element('aout').watchPad();
  await p.setState('playing');
  return { p, webrtc };
}

t.test('offer() -> answer() -> acceptAnswer(): media flows between two webrtcbins', async (t) => {
  const sender = await Pipeline.launch(senderDescription({ width: 160, height: 120 }));
  t.teardown(() => sender.close());
  const sw = sender.webrtc('webrtc', LOOPBACK);
  await sender.setState('playing');
  const { p, webrtc } = await receiver(t);

  const offer = await webrtc.offer();
  const m = offer.split(/\r?\n/).filter((l) => /^m=|^a=(recvonly|rtpmap|candidate)/.test(l));
  t.ok(m.some((l) => /^m=video \d+ UDP\/TLS\/RTP\/SAVPF 96$/.test(l)), 'video m-line at pt 96');
  t.ok(m.some((l) => /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111$/.test(l)), 'audio m-line at pt 111');
  t.equal(m.filter((l) => l === 'a=recvonly').length, 2, 'both recvonly');
  t.ok(m.includes('a=rtpmap:96 VP8/90000') && m.includes('a=rtpmap:111 OPUS/48000/2'));
  const candidates = m.filter((l) => l.startsWith('a=candidate:'));
  t.ok(candidates.length > 0 && candidates.every((c) => c.split(' ')[4] === '127.0.0.1'), 'loopback candidates inside the offer');

  const answer = await sw.answer(offer);
  await webrtc.acceptAnswer(answer);
  // Events alone do not keep Node alive (the addon unrefs its queue when no promise is pending): poll.
  const deadline = Date.now() + 10000;
  while (webrtc.connectionState !== 'connected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(webrtc.connectionState, 'connected');
  while (p.element('vout').padCounters().buffers < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const v = p.element('vout').padCounters();
  const a = p.element('aout').padCounters();
  t.ok(v.buffers >= 25, `video frames received: ${v.buffers}`);
  t.ok(a.buffers > 0 && a.bytes > 0, `opus packets received: ${a.buffers}`);
  t.match(v.caps, /video\/x-vp8.*height=\(int\)120.*width=\(int\)160/, 'the depayloader reports the frame size');
  t.ok(v.runningTimeMs !== null && a.runningTimeMs !== null);
  const stats = await webrtc.stats();
  t.ok(Object.values(stats).some((s) => s['type'] === 'inbound-rtp' && Number(s['bytes-received']) > 0), 'inbound-rtp stats');
});

t.test('linkIncoming: a stream with no target of its kind is drained with a warning, the other still flows', async (t) => {
  const sender = await Pipeline.launch(senderDescription({ width: 160, height: 120 }));
  t.teardown(() => sender.close());
  const sw = sender.webrtc('webrtc', LOOPBACK);
  await sender.setState('playing');
  const { p, webrtc } = await receiver(t, { video: 'vout' });
  const warnings: string[] = [];
  p.on('warning', (w) => warnings.push(`${w.source}: ${w.debug ?? w.message}`));
  await webrtc.acceptAnswer(await sw.answer(await webrtc.offer()));
  const deadline = Date.now() + 10000;
  while ((p.element('vout').padCounters().buffers < 25 || warnings.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(p.element('vout').padCounters().buffers >= 25, 'video flows');
  t.equal(p.element('aout').padCounters().buffers, 0, 'audio never reached the unlinked branch');
  t.match(warnings.join('\n'), /^webrtc: [^]*incoming audio stream on src_\d+ not linked \(no element for this kind\): discarded/);
  t.equal(webrtc.connectionState, 'connected', 'the session keeps running');
});

t.test('misuse and refusals', async (t) => {
  const p = await Pipeline.launch(RECEIVER);
  t.teardown(() => p.close());
  const webrtc = p.webrtc('webrtc', LOOPBACK);
  await t.rejects(webrtc.offer(), { code: 'GST_WEBRTC', message: /not running/ }, 'offer() before playing');
  t.throws(() => webrtc.addTransceiver('recvonly', 'not caps at all ((('), { code: 'GST_WEBRTC' });
  t.throws(() => webrtc.addTransceiver('sideways' as never, VP8), { code: 'GST_WEBRTC', message: /direction/ });
  t.throws(() => p.element('vout').watchPad('nope'), { code: 'GST_NO_ELEMENT' });
  t.same(p.element('vout').padCounters(), { buffers: 0, bytes: 0, runningTimeMs: null, caps: null, eos: false }, 'unwatched, unnegotiated');
  t.throws(() => webrtc.linkIncoming({ video: 'nope' }), { code: 'GST_NO_ELEMENT' }, 'linkIncoming: unknown element');
  t.throws(() => webrtc.linkIncoming({ audio: 'webrtc' }), { code: 'GST_NO_ELEMENT', message: /sink/ }, 'linkIncoming: no sink pad');
  t.throws(() => webrtc.linkIncoming({}), { code: 'GST_WEBRTC' }, 'linkIncoming: nothing to link');
  webrtc.linkIncoming({ video: 'vout' });
  t.throws(() => webrtc.linkIncoming({ audio: 'aout' }), { code: 'GST_WEBRTC', message: /already/ }, 'linkIncoming: once');
  webrtc.addRecvonlyTransceiver(VP8);
  await p.setState('playing');
  await t.rejects(webrtc.acceptAnswer('not sdp'), { code: 'GST_WEBRTC' });
  await t.rejects(webrtc.acceptAnswer('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n'), { code: 'GST_WEBRTC' }, 'no media');
  // An answer without an offer of ours: webrtcbin refuses it in the promise.
  await t.rejects(
    webrtc.acceptAnswer('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\na=mid:video0\r\n'),
    { code: 'GST_WEBRTC', message: /set-remote-description failed/ },
  );
});

t.test('close() during offer() rejects it with GST_CLOSED or lets it finish', async (t) => {
  for (const delayMs of [0, 1, 3, 8, 20]) {
    const p = await Pipeline.launch(RECEIVER);
    const webrtc = p.webrtc('webrtc', LOOPBACK);
    webrtc.addRecvonlyTransceiver(VP8);
    webrtc.addRecvonlyTransceiver(OPUS);
    await p.setState('playing');
    const offer = webrtc.offer().then(
      () => 'offered',
      (e: GstError) => e.code,
    );
    await new Promise((r) => setTimeout(r, delayMs));
    await p.close();
    t.match(await offer, /^(offered|GST_CLOSED)$/, `closed after ${delayMs} ms`);
  }
});
