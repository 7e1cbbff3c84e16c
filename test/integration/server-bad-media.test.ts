import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM_OFFER_FIXTURE, offerPayload, testServer } from '../helpers/server-app.js';

/**
 * A client's bad file in an offer is a 4xx with a specific code, found by content before any session graph is
 * built, and the answer names nothing internal. Verdicts are cached by content: a repeated offer probes nothing.
 */

const OFFER = readFileSync(CHROMIUM_OFFER_FIXTURE, 'utf8');
const server = await testServer();
t.teardown(() => server.cleanup());
const { app, mediaDir } = server;

const png = (width: number, height: number, body = Buffer.alloc(0)) => {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.set([8, 2, 0, 0, 0], 16);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, body]);
};
const wavHead = readFileSync(join(mediaDir, 'speech.wav')).subarray(0, 44);

writeFileSync(join(mediaDir, 'empty.wav'), '');
writeFileSync(join(mediaDir, 'empty.png'), '');
writeFileSync(join(mediaDir, 'text.png'), 'this is not a picture, it is text\n'.repeat(20));
writeFileSync(join(mediaDir, 'text.wav'), 'this is not audio either\n'.repeat(20));
writeFileSync(join(mediaDir, 'bomb.png'), png(100_000, 100_000, Buffer.alloc(64)));
writeFileSync(join(mediaDir, 'garbage.png'), png(64, 64, Buffer.alloc(4000, 0x55)));
writeFileSync(join(mediaDir, 'garbage.wav'), Buffer.concat([wavHead.subarray(0, 12), Buffer.alloc(4000, 0x55)]));
writeFileSync(join(mediaDir, 'truncated.jpg'), readFileSync(join(mediaDir, 'portrait.jpg')).subarray(0, 200));
// 60 ms of speech-rate audio: short, but real.
execFileSync('gst-launch-1.0', ['-q', 'audiotestsrc', 'num-buffers=1', 'samplesperbuffer=960', '!', 'audio/x-raw,rate=16000,channels=1', '!', 'wavenc', '!', 'filesink', `location=${join(mediaDir, 'short.wav')}`]);

const post = (extra: Record<string, unknown>) => app.inject({ method: 'POST', url: '/webrtc/offer', payload: offerPayload(OFFER, extra) });

const cases: Array<[string, Record<string, unknown>, number, string]> = [
  ['zero-byte WAV', { audio_path: 'empty.wav' }, 422, 'MEDIA_EMPTY'],
  ['zero-byte PNG', { source_path: 'empty.png' }, 422, 'MEDIA_EMPTY'],
  ['text named .png', { source_path: 'text.png' }, 415, 'UNSUPPORTED_MEDIA_FORMAT'],
  ['text named .wav', { audio_path: 'text.wav' }, 415, 'UNSUPPORTED_MEDIA_FORMAT'],
  ['a WAV given as the portrait', { source_path: 'speech.wav' }, 400, 'MEDIA_EXTENSION_NOT_ALLOWED'],
  ['a 100000x100000 PNG header', { source_path: 'bomb.png' }, 422, 'IMAGE_TOO_LARGE'],
  ['PNG header, garbage body', { source_path: 'garbage.png' }, 422, 'MEDIA_DECODE_FAILED'],
  ['WAV magic, garbage body', { audio_path: 'garbage.wav' }, 422, 'MEDIA_DECODE_FAILED'],
  ['a JPEG cut after 200 bytes', { source_path: 'truncated.jpg' }, 422, 'MEDIA_DECODE_FAILED'],
];

t.test('bad media: specific 4xx codes, nothing internal in the answer, no graph built', async (t) => {
  for (const [what, extra, status, code] of cases) {
    const r = await post(extra);
    t.equal(r.statusCode, status, `${what}: ${status}`);
    const error = r.json().error as { code: string; message: string; details?: { field?: string } };
    t.equal(error.code, code, `${what}: ${code}`);
    t.match(error.details?.field ?? '', /^(audio_path|source_path)$/, `${what}: names the field`);
    t.notMatch(r.body, /session-|pipeline|filesrc|decodebin|GstPipeline|\bat [\w.]+ \(|\/tmp\/|ditto-test-media/, `${what}: no internal names, paths or stack`);
  }
  const metrics = (await app.inject('/metrics')).body;
  t.notMatch(metrics, /ditto_sessions_failed_total\{reason="start-failed"\} [1-9]/, 'no session was even started');
  t.match(metrics, /ditto_sessions_total 0/);
});

t.test('verdicts are cached by content: repeat offers run no probe', async (t) => {
  await app.media.settled(); // an offer refused for one file leaves the check of its other file running
  const before = app.media.probesRun;
  for (const [, extra] of cases) await post(extra);
  t.equal(app.media.probesRun, before, 'no probe for content already judged');
  // Same bytes under another name: the content hash finds the verdict.
  writeFileSync(join(mediaDir, 'garbage-copy.wav'), readFileSync(join(mediaDir, 'garbage.wav')));
  const r = await post({ audio_path: 'garbage-copy.wav' });
  t.equal(r.json().error.code, 'MEDIA_DECODE_FAILED');
  t.equal(app.media.probesRun, before, 'a copy is judged by its content hash');
});

t.test('a 60 ms WAV is fine', async (t) => {
  const r = await post({ audio_path: 'short.wav' });
  t.equal(r.statusCode, 200, r.body.slice(0, 300));
  const { session_id: id } = r.json() as { session_id: string };
  t.match(r.json().sdp, /^v=0/);
  await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` });
});
