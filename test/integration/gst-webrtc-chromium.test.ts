import t from 'tap';
import { Pipeline } from '../../src/gst/index.js';
import type { WebRtcConnectionState } from '../../src/gst/index.js';
import { ChromiumBrowser, chromiumAvailable, type ReceiverStats } from '../helpers/chromium.js';
import { offerPayloadType, processResources, senderDescription } from '../helpers/gst-media.js';

/**
 * Real headless Chromium (Debian's, through playwright-core) receives a stock VP8 + Opus graph answered by
 * the addon: it decodes video at the sent size and rate and receives audio; RTCP liveness is visible and
 * goes stale when the viewer silently vanishes; closing leaves no thread or fd behind.
 */

const WIDTH = 320;
const HEIGHT = 240;

t.test('Chromium decodes our video and receives our audio', { skip: !chromiumAvailable() && 'no /usr/bin/chromium' }, async (t) => {
  const browser = await ChromiumBrowser.launch();
  t.teardown(() => browser.close());
  const rx = await browser.newReceiver();
  const offer = await rx.createOffer();
  const vp8 = offerPayloadType(offer, 'video', 'VP8');
  const opus = offerPayloadType(offer, 'audio', 'opus');
  t.ok(vp8 && opus, `offer has VP8 (${vp8}) and Opus (${opus})`);

  const before = processResources();
  const p = await Pipeline.launch(senderDescription({ videoPt: vp8!, audioPt: opus!, width: WIDTH, height: HEIGHT, fps: 25 }));
  const webrtc = p.webrtc('webrtc', { localAddresses: ['127.0.0.1'] });
  const states: WebRtcConnectionState[] = [];
  webrtc.on('connection-state', (s) => states.push(s));
  const t0 = Date.now();
  await p.setState('playing');
  const answer = await webrtc.answer(offer);
  const answerMs = Date.now() - t0;
  await rx.acceptAnswer(answer);

  const first = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) > 0 && s.firstFrameEpochMs !== null, { timeoutMs: 15_000 });
  t.comment(`answer ${answerMs} ms (incl. setState), first frame ${(first.firstFrameEpochMs! - t0).toFixed(0)} ms after start`);

  const fps = await rx.measureFps(2000);
  const s: ReceiverStats = await rx.stats();
  t.equal(s.connectionState, 'connected');
  t.equal(s.video?.frameWidth, WIDTH, 'decoded width');
  t.equal(s.video?.frameHeight, HEIGHT, 'decoded height');
  t.equal(s.video?.codec, 'video/VP8');
  t.ok(fps > 20 && fps < 30, `about 25 fps decoded (${fps.toFixed(1)})`);
  t.ok((s.audio?.totalSamplesReceived ?? 0) > 48_000, `audio samples received (${s.audio?.totalSamplesReceived})`);
  t.ok((s.audio?.audioLevel ?? 0) > 0.01, `audible (level ${s.audio?.audioLevel})`);
  t.equal(s.audio?.codec, 'audio/opus');

  t.ok(states.includes('connected'), `webrtcbin saw: ${states.join(' -> ')}`);
  t.equal(webrtc.connectionState, 'connected');
  const rtcp = webrtc.msSinceLastRtcp();
  t.ok(rtcp !== null && rtcp < 3000, `receiver reports arrive (last ${rtcp?.toFixed(0)} ms ago)`);
  const stats = await webrtc.stats();
  const outbound = Object.values(stats).filter((x) => x['type'] === 'outbound-rtp');
  t.equal(outbound.length, 2, 'outbound-rtp stats for audio and video');
  t.ok(outbound.every((x) => Number(x['packets-sent']) > 0), 'packets sent');

  // The viewer disappears without closing: webrtcbin 1.22 still says "connected", RTCP tells the truth.
  await rx.vanish();
  await new Promise((r) => setTimeout(r, 3500));
  t.ok((webrtc.msSinceLastRtcp() ?? 0) > 2500, `RTCP went stale (${webrtc.msSinceLastRtcp()?.toFixed(0)} ms)`);

  const c0 = performance.now();
  await p.close();
  t.comment(`close of a connected session: ${(performance.now() - c0).toFixed(1)} ms`);
  t.equal(webrtc.connectionState, 'closed');
  // Chromium's own sockets are in another process; ours must be back near the baseline.
  const end = Date.now() + 5000;
  let after = processResources();
  while ((after.threads > before.threads + 3 || after.fds > before.fds + 3) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    after = processResources();
  }
  t.ok(after.threads <= before.threads + 3, `threads ${before.threads} -> ${after.threads}`);
  t.ok(after.fds <= before.fds + 3, `fds ${before.fds} -> ${after.fds}`);
});
