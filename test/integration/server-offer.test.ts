import t from 'tap';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer, type TestServer } from '../helpers/server-app.js';

/**
 * POST /webrtc/offer against real GStreamer (the built addon and dittotalkinghead plugin): a recorded
 * Chromium offer is answered, sessions are listed, deleted, time out, end at EOS, fail alone, and leave no
 * file descriptor or thread behind. No browser connects here (that is the e2e suite), so every session stays
 * "answered" until something ends it.
 */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');

const fds = () => readdirSync('/proc/self/fd').length;
const threads = () => readdirSync('/proc/self/task').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function offer(s: TestServer, extra: Record<string, unknown> = {}, sdp = OFFER) {
  return s.app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(sdp, extra) });
}

/** The offer's payload type for a codec name, read from the fixture itself. */
function offeredPt(codec: string, fmtp?: RegExp): number {
  for (const m of OFFER.matchAll(/^a=rtpmap:(\d+) ([^/]+)\//gm)) {
    if (m[2]!.toUpperCase() !== codec) continue;
    const line = OFFER.split('\r\n').find((l) => l.startsWith(`a=fmtp:${m[1]} `)) ?? '';
    if (!fmtp || fmtp.test(line)) return Number(m[1]);
  }
  throw new Error(`fixture offers no ${codec}`);
}

t.test('a recorded Chromium offer is answered at once with the offer\'s payload types', async (t) => {
  const s = await testServer();
  t.teardown(() => s.cleanup());
  await s.app.ready();
  await s.app.media.warm(); // the decode-probe workers start with the app; under tsx that takes seconds
  const started = Date.now();
  const r = await offer(s, { setup_kwargs: { sampling_timesteps: 12, online_mode: true }, run_kwargs: { frame_scale: 0.5, chunksize: '3,5,2' } });
  t.equal(r.statusCode, 200, r.body.slice(0, 300));
  const body = r.json();
  t.equal(body.type, 'answer');
  t.match(body.session_id, /^[0-9a-f-]{36}$/);
  t.match(body.params, {
    frame_scale: 0.5,
    sampling_timesteps: 12,
    chunk_config: [3, 5, 2],
    chunk_sleep_s: 0,
    online_mode: true,
    video_codec: 'VP8',
    audio_codec: 'OPUS',
    video_pt: offeredPt('VP8'),
    audio_pt: offeredPt('OPUS'),
    pipeline: 'vp8.pipeline',
  });
  t.same(body.warnings.map((w: { field: string }) => w.field), ['run_kwargs.chunk_sleep_s'], 'only the silent chunk_sleep got a default');
  const sdp: string = body.sdp;
  t.match(sdp, new RegExp(`m=video 9 UDP/TLS/RTP/SAVPF ${offeredPt('VP8')}\\r\\n`));
  t.match(sdp, new RegExp(`a=rtpmap:${offeredPt('OPUS')} OPUS/48000/2`));
  t.equal(sdp.match(/a=sendonly/g)?.length, 2, 'both sections sendonly');
  t.match(sdp, /a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host/, 'non-trickle: candidates in the answer, loopback only');
  t.notMatch(sdp, /a=candidate:\S+ 1 UDP \d+ (?!127\.0\.0\.1)[\d.]+ /, 'no other interface');
  t.equal(sdp.match(/a=ssrc:\d+ msid:/g)?.length, 2, 'stream ids for lip sync on both tracks');
  t.ok(Date.now() - started < 5000, 'answered without waiting for a connection');

  const list = (await s.app.inject('/webrtc/sessions')).json();
  t.equal(list.active, 1);
  t.match(list.sessions[0], { session_id: body.session_id, state: 'answered', pipeline: 'vp8.pipeline', video_codec: 'VP8' });

  // Nobody has connected, so the media timeline has not started: it starts when the viewer's ICE connects
  // (test/e2e/session-start.test.ts checks what a connected viewer receives from the first sample on).
  await sleep(1000);
  const detail = (await s.app.inject(`/webrtc/sessions/${body.session_id}`)).json();
  t.match(detail, { session_id: body.session_id, state: 'answered', ice_gathering_state: 'complete' });
  t.notOk(detail.frames_out > 0, 'no frames before a viewer can receive them');
  t.type(detail.age_s, 'number');
  t.ok(detail.rtp === null || typeof detail.rtp.bytes_sent === 'number', 'rtp stats summarised');

  let metrics = (await s.app.inject('/metrics')).body;
  t.match(metrics, /ditto_sessions_active 1/);
  t.match(metrics, /ditto_sessions_total 1/);
  t.match(metrics, /ditto_offer_answer_seconds_count 1/);

  const del = await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${body.session_id}` });
  t.equal(del.statusCode, 200);
  t.same(del.json(), { session_id: body.session_id, state: 'closed', close_reason: 'deleted' });
  t.equal((await s.app.inject(`/webrtc/sessions/${body.session_id}`)).statusCode, 404);
  metrics = (await s.app.inject('/metrics')).body;
  t.match(metrics, /ditto_sessions_active 0/);
  t.match(metrics, /ditto_sessions_closed_total\{reason="deleted"\} 1/);
});

t.test('H.264 when preferred: packetization-mode 1, the offer\'s constrained-baseline profile', async (t) => {
  const s = await testServer({ DITTO_PIPELINES_CODEC_PREFERENCE: 'H264,VP8' });
  t.teardown(() => s.cleanup());
  const r = await offer(s);
  t.equal(r.statusCode, 200, r.body.slice(0, 300));
  const pt = offeredPt('H264', /packetization-mode=1;profile-level-id=42e01f/);
  t.match(r.json().params, { video_codec: 'H264', video_pt: pt, pipeline: 'h264.pipeline' });
  t.match(r.json().sdp, new RegExp(`a=rtpmap:${pt} H264/90000`));
  t.match(r.json().sdp, new RegExp(`a=fmtp:${pt} .*packetization-mode=1`));
  t.match(r.json().sdp, new RegExp(`a=fmtp:${pt} .*profile-level-id=42e01f`));
});

t.test('capacity: 503 with Retry-After, the slot frees on close', async (t) => {
  const s = await testServer({ DITTO_SESSIONS_MAX: '1', DITTO_SESSIONS_RETRY_AFTER_S: '7' });
  t.teardown(() => s.cleanup());
  const [a, b] = await Promise.all([offer(s), offer(s)]);
  const codes = [a.statusCode, b.statusCode].sort();
  t.same(codes, [200, 503], 'concurrent offers cannot overshoot the limit');
  const refused = a.statusCode === 503 ? a : b;
  t.equal(refused.headers['retry-after'], '7');
  t.match(refused.json(), { error: { code: 'AT_CAPACITY', details: { max_sessions: 1 } } });
  const id = (a.statusCode === 200 ? a : b).json().session_id;
  await s.app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
  const again = await offer(s);
  t.equal(again.statusCode, 200, 'a slot is free again');
});

t.test('connect timeout ends only its own session; a broken file is refused before any graph', async (t) => {
  const s = await testServer({ DITTO_SESSIONS_CONNECT_TIMEOUT_MS: '1500' });
  t.teardown(() => s.cleanup());
  const closed = new Map<string, string>();
  s.app.sessions.on('closed', (session, { reason }) => closed.set(session.id, reason));
  writeFileSync(join(s.mediaDir, 'broken.wav'), Buffer.alloc(64 * 1024, 0x5a));

  const idle = await offer(s);
  t.equal(idle.statusCode, 200, idle.body.slice(0, 300));
  const broken = await offer(s, { audio_path: 'broken.wav' });
  t.equal(broken.statusCode, 415, 'checked by content: not a WAV');
  t.equal(broken.json().error.code, 'UNSUPPORTED_MEDIA_FORMAT');
  t.equal((await s.app.inject(`/webrtc/sessions/${idle.json().session_id}`)).statusCode, 200, 'the other session goes on');
  await until('idle session timed out', () => closed.get(idle.json().session_id), 10000);
  t.equal(closed.get(idle.json().session_id), 'connect-timeout');
  t.equal(closed.size, 1, 'no session was built for the broken file');
  const metrics = (await s.app.inject('/metrics')).body;
  t.match(metrics, /ditto_sessions_failed_total\{reason="connect-timeout"\} 1/);
  t.notMatch(metrics, /ditto_sessions_failed_total\{reason="(pipeline-error|start-failed)"\}/);
  t.same((await s.app.inject('/webrtc/sessions')).json().sessions, []);
});

// The end of the file audio ending the session needs a viewer (the timeline starts at its connection):
// test/e2e/session-start.test.ts.

t.test('graceful shutdown closes every session; nothing is left behind', async (t) => {
  // Warm up once: plugin loading, the DTLS certificate and GStreamer's thread pools are one-time costs.
  const warm = await testServer();
  t.equal((await offer(warm)).statusCode, 200);
  await warm.cleanup();
  await sleep(200);
  const baseFds = fds();
  const baseThreads = threads();

  const s = await testServer();
  const closed: string[] = [];
  s.app.sessions.on('closed', (_session, { reason }) => closed.push(reason));
  const answers = await Promise.all([offer(s), offer(s), offer(s)]);
  t.same(answers.map((a) => a.statusCode), [200, 200, 200]);
  t.ok(fds() > baseFds, 'sessions hold sockets while open');
  await s.cleanup(); // app.close(): what SIGTERM does in the CLI
  t.same(closed, ['shutdown', 'shutdown', 'shutdown']);
  await until('file descriptors back to baseline', () => fds() <= baseFds, 5000).catch(() => null);
  t.equal(fds(), baseFds, 'no file descriptor left');
  await until('threads back to baseline', () => threads() <= baseThreads, 5000).catch(() => null);
  t.ok(threads() <= baseThreads, `no thread left (${threads()} now, ${baseThreads} before)`);
});
