import t, { type Test } from 'tap';
import { GstError, Pipeline } from '../../src/gst/index.js';
import type { WebRtcIceGatheringState } from '../../src/gst/index.js';
import { CHROMIUM_OFFER, offerPayloadType, senderDescription, type SenderGraph } from '../helpers/gst-media.js';

/**
 * webrtcbin answers a recorded Chromium offer (test/fixtures/chromium-offer.sdp) through the addon's C chain:
 * sendonly m-lines at the offer's payload types, ICE candidates inside the SDP (loopback only), and the
 * a=ssrc msid lines that let Chrome lip-sync audio with video. No browser here.
 */

const LOOPBACK = { localAddresses: ['127.0.0.1'] };

interface MediaSection {
  kind: string;
  formats: string[];
  lines: string[];
}

function sections(sdp: string): MediaSection[] {
  return sdp
    .split(/\r?\n(?=m=)/)
    .slice(1)
    .map((block) => {
      const lines = block.split(/\r?\n/).filter(Boolean);
      const [kind = '', , , ...formats] = lines[0]!.slice(2).split(' ');
      return { kind, formats, lines };
    });
}

async function answerWith(t: Test, graph: SenderGraph, offer = CHROMIUM_OFFER) {
  const p = await Pipeline.launch(senderDescription(graph));
  t.teardown(() => p.close());
  const webrtc = p.webrtc('webrtc', LOOPBACK);
  const gathering: WebRtcIceGatheringState[] = [];
  const candidates: string[] = [];
  webrtc.on('ice-gathering-state', (s) => gathering.push(s));
  webrtc.on('ice-candidate', (c) => candidates.push(c.candidate));
  await p.setState('playing');
  const started = performance.now();
  const sdp = await webrtc.answer(offer);
  return { p, webrtc, sdp, ms: performance.now() - started, gathering, candidates };
}

function checkAnswer(t: Test, sdp: string, videoCodec: string, videoPt: number) {
  const [audio, video] = sections(sdp);
  t.equal(audio?.kind, 'audio');
  t.equal(video?.kind, 'video');
  t.same(audio?.formats, ['111'], 'audio answered at the offer’s Opus payload type');
  t.same(video?.formats, [String(videoPt)], `video answered at the offer’s ${videoCodec} payload type`);
  t.ok(audio?.lines.includes('a=rtpmap:111 OPUS/48000/2'));
  t.ok(video?.lines.includes(`a=rtpmap:${videoPt} ${videoCodec}/90000`));
  for (const m of [audio, video]) t.ok(m?.lines.includes('a=sendonly'), `${m?.kind} is sendonly`);

  const candidates = sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
  t.ok(candidates.length > 0, 'candidates are inside the answer (no trickle needed)');
  t.ok(
    candidates.every((c) => c.split(' ')[4] === '127.0.0.1'),
    `only loopback candidates: ${candidates.map((c) => c.split(' ')[4]).join(', ')}`,
  );
  t.ok(candidates.some((c) => / UDP .* typ host/.test(c)), 'a UDP host candidate');

  const msid = (m: MediaSection | undefined) =>
    m?.lines.map((l) => /^a=ssrc:\d+ msid:(\S+) (\S+)/.exec(l)).find(Boolean) ?? null;
  const am = msid(audio);
  const vm = msid(video);
  t.ok(am, 'audio carries a=ssrc … msid');
  t.ok(vm, 'video carries a=ssrc … msid');
  t.equal(am?.[1], vm?.[1], 'audio and video in one media stream (lip sync)');
  t.not(am?.[2], vm?.[2], 'distinct track ids');
}

t.test('VP8 + Opus answer to the recorded Chromium offer', async (t) => {
  const vp8 = offerPayloadType(CHROMIUM_OFFER, 'video', 'VP8')!;
  const r = await answerWith(t, { videoCodec: 'VP8', videoPt: vp8 });
  checkAnswer(t, r.sdp, 'VP8', vp8);
  t.match(r.sdp, /a=setup:active/, 'DTLS client towards an actpass offer');
  t.match(r.sdp, /a=fingerprint:sha-256 /);
  t.same(r.gathering, ['gathering', 'complete'], 'gathering events');
  t.ok(r.candidates.length > 0, 'ice-candidate events as well');
  t.equal(r.webrtc.iceGatheringState, 'complete');
  t.equal(r.webrtc.connectionState, 'new', 'nobody connects in this test');
  t.equal(r.webrtc.msSinceLastRtcp(), null, 'no RTCP from a peer yet');
  const stats = await r.webrtc.stats();
  const types = new Set(Object.values(stats).map((s) => s['type']));
  t.ok(types.has('peer-connection'), `stats types: ${[...types].join(', ')}`);
  t.comment(`answer in ${r.ms.toFixed(1)} ms`);
});

t.test('H.264 + Opus answer at the offer’s packetization-mode=1 payload type', async (t) => {
  const pt = Number(/a=fmtp:(\d+) level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f/.exec(CHROMIUM_OFFER)?.[1]);
  t.ok(pt > 0, `H.264 constrained baseline at ${pt}`);
  const r = await answerWith(t, { videoCodec: 'H264', videoPt: pt });
  checkAnswer(t, r.sdp, 'H264', pt);
});

t.test('warm answers stay fast and keep their msid lines', async (t) => {
  const vp8 = offerPayloadType(CHROMIUM_OFFER, 'video', 'VP8')!;
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await answerWith(t, { videoCodec: 'VP8', videoPt: vp8, width: 160, height: 120 });
    t.equal((r.sdp.match(/^a=ssrc:\d+ msid:/gm) ?? []).length, 2, `answer ${i}: msid for audio and video`);
    times.push(r.ms);
    await r.p.close();
  }
  times.sort((a, b) => a - b);
  t.comment(`warm answer ms: ${times.map((x) => x.toFixed(1)).join(' ')}`);
});

t.test('an offer whose payload type belongs to another codec is refused, not an abort', async (t) => {
  const vp9 = offerPayloadType(CHROMIUM_OFFER, 'video', 'VP9')!;
  const p = await Pipeline.launch(senderDescription({ videoCodec: 'VP8', videoPt: vp9 }));
  t.teardown(() => p.close());
  const webrtc = p.webrtc('webrtc', LOOPBACK);
  await p.setState('playing');
  await t.rejects(webrtc.answer(CHROMIUM_OFFER), { name: 'GstError', code: 'GST_WEBRTC', message: /VP9.*VP8/ });
  const opusAt97 = await Pipeline.launch(senderDescription({ audioPt: 97, noAudio: false }));
  t.teardown(() => opusAt97.close());
  const w2 = opusAt97.webrtc('webrtc', LOOPBACK);
  await opusAt97.setState('playing');
  await t.rejects(w2.answer(CHROMIUM_OFFER), { code: 'GST_WEBRTC' }, 'opus at a payload type the offer does not have');
});

t.test('invalid offers and misuse', async (t) => {
  const p = await Pipeline.launch(senderDescription());
  t.teardown(() => p.close());
  const other = await Pipeline.launch('fakesrc name=notwebrtc ! fakesink');
  t.teardown(() => other.close());
  t.throws(() => other.webrtc('notwebrtc'), { code: 'GST_WEBRTC' }, 'not a webrtcbin');
  t.throws(() => p.webrtc('nope'), { code: 'GST_NO_ELEMENT' });
  t.throws(() => p.webrtc('webrtc', { localAddresses: ['not-an-ip'] }), { code: 'GST_WEBRTC' });
  const webrtc = p.webrtc('webrtc', LOOPBACK);
  t.equal(p.webrtc('webrtc'), webrtc, 'same object on later calls');
  t.throws(() => p.webrtc('webrtc', LOOPBACK), { code: 'GST_WEBRTC' }, 'ICE is configured once');
  await t.rejects(webrtc.answer('this is not sdp'), { code: 'GST_WEBRTC' });
  await t.rejects(webrtc.answer('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n'), { code: 'GST_WEBRTC' }, 'no media');
});

t.test('close() during an answer rejects it with GST_CLOSED', async (t) => {
  for (const delayMs of [0, 1, 3, 8]) {
    const p = await Pipeline.launch(senderDescription({ width: 160, height: 120 }));
    const webrtc = p.webrtc('webrtc', LOOPBACK);
    await p.setState('playing');
    const answer = webrtc.answer(CHROMIUM_OFFER).then(
      () => 'answered',
      (e: GstError) => e.code,
    );
    await new Promise((r) => setTimeout(r, delayMs));
    await p.close();
    t.match(await answer, /^(answered|GST_CLOSED)$/, `closed after ${delayMs} ms`);
    t.equal(webrtc.connectionState, 'closed');
  }
});
