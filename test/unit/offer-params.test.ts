import t from 'tap';
import { offerPayloadSchema, offerSendsAudio, resolveAudioSource, resolveOfferParams, type OfferPayload } from '../../src/offers/offer-params.js';

const defaults = { frameScale: 0.5, samplingTimesteps: 12, chunkConfig: [3, 5, 2], chunkSleepS: 0.02, backend: 'builtin' };
const base = { sdp: 'v=0\r\n', type: 'offer', audio_path: 'speech.wav', source_path: 'portrait.jpg' };
const resolve = (extra: Record<string, unknown>) => resolveOfferParams(offerPayloadSchema.parse({ ...base, ...extra }) as OfferPayload, defaults);
const codes = (r: ReturnType<typeof resolve>) => r.warnings.map((w) => `${w.field}:${w.code}`);

t.test('payload schema: the predecessor payload parses, required fields are required', async (t) => {
  const full = {
    ...base,
    setup_kwargs: { sampling_timesteps: 12, online_mode: true },
    run_kwargs: { frame_scale: 0.5, chunk_config: [3, 5, 2], chunk_sleep_s: 0.01 },
  };
  t.ok(offerPayloadSchema.safeParse(full).success);
  for (const key of ['sdp', 'type', 'audio_path', 'source_path']) {
    const copy: Record<string, unknown> = { ...full };
    delete copy[key];
    const r = offerPayloadSchema.safeParse(copy);
    t.notOk(r.success, `missing ${key} is refused`);
    t.same(r.error?.issues[0]?.path, [key]);
  }
  t.notOk(offerPayloadSchema.safeParse({ ...full, type: 'answer' }).success, 'type must be "offer"');
  t.notOk(offerPayloadSchema.safeParse({ ...full, sdp: '' }).success, 'empty sdp');
  t.notOk(offerPayloadSchema.safeParse({ ...full, run_kwargs: [1, 2] }).success, 'run_kwargs must be an object');
  t.ok(offerPayloadSchema.safeParse({ ...base, setup_kwargs: null, run_kwargs: null }).success, 'null kwargs are allowed');
});

t.test('server defaults apply where the offer is silent, and each default is named', async (t) => {
  const r = resolve({});
  t.same(r.params, { frame_scale: 0.5, sampling_timesteps: 12, chunk_config: [3, 5, 2], chunk_sleep_s: 0.02, online_mode: true });
  t.same(codes(r).sort(), [
    'run_kwargs.chunk_config:default',
    'run_kwargs.chunk_sleep_s:default',
    'run_kwargs.frame_scale:default',
    'setup_kwargs.sampling_timesteps:default',
  ]);
});

t.test('values in range are used as given without warnings', async (t) => {
  const r = resolve({
    setup_kwargs: { sampling_timesteps: 50, online_mode: true },
    run_kwargs: { frame_scale: 0.3, chunk_config: [2, 6, 3], chunk_sleep_ms: 250 },
  });
  t.same(r.params, { frame_scale: 0.3, sampling_timesteps: 50, chunk_config: [2, 6, 3], chunk_sleep_s: 0.25, online_mode: true });
  t.same(r.warnings, []);
});

t.test('clamps: frame_scale 0.1-1.0, sampling_timesteps 5-100, chunk_sleep 0-1 s', async (t) => {
  let r = resolve({ setup_kwargs: { sampling_timesteps: 1000 }, run_kwargs: { frame_scale: 5, chunk_config: '3,5,2', chunk_sleep_s: -1 } });
  t.equal(r.params.frame_scale, 1);
  t.equal(r.params.sampling_timesteps, 100);
  t.equal(r.params.chunk_sleep_s, 0);
  t.same(codes(r).sort(), ['run_kwargs.chunk_sleep_s:clamped', 'run_kwargs.frame_scale:clamped', 'setup_kwargs.sampling_timesteps:clamped']);
  r = resolve({ setup_kwargs: { sampling_timesteps: 2 }, run_kwargs: { frame_scale: 0.01, chunk_config: [3, 5, 2], chunk_sleep_ms: 5000 } });
  t.equal(r.params.frame_scale, 0.1);
  t.equal(r.params.sampling_timesteps, 5);
  t.equal(r.params.chunk_sleep_s, 1);
  t.match(r.warnings.find((w) => w.field === 'run_kwargs.chunk_sleep_ms')?.message, /clamped to 1 s/);
});

t.test('numeric strings are accepted, garbage falls back to the server default with a warning', async (t) => {
  let r = resolve({ setup_kwargs: { sampling_timesteps: '20' }, run_kwargs: { frame_scale: ' 0.25 ', chunk_config: [3, 5, 2], chunk_sleep_s: '0.1' } });
  t.same([r.params.frame_scale, r.params.sampling_timesteps, r.params.chunk_sleep_s], [0.25, 20, 0.1]);
  t.same(r.warnings, []);
  r = resolve({ setup_kwargs: { sampling_timesteps: 'many' }, run_kwargs: { frame_scale: true, chunk_config: [3, 5, 2], chunk_sleep_s: 'x' } });
  t.same([r.params.frame_scale, r.params.sampling_timesteps, r.params.chunk_sleep_s], [0.5, 12, 0.02]);
  t.same(codes(r).sort(), ['run_kwargs.chunk_sleep_s:invalid', 'run_kwargs.frame_scale:invalid', 'setup_kwargs.sampling_timesteps:invalid']);
  r = resolve({ run_kwargs: { frame_scale: Number.NaN } });
  t.equal(r.params.frame_scale, 0.5, 'NaN is not a number');
});

t.test('sampling_timesteps is an integer', async (t) => {
  const r = resolve({ setup_kwargs: { sampling_timesteps: 12.9 } });
  t.equal(r.params.sampling_timesteps, 12);
  t.ok(codes(r).includes('setup_kwargs.sampling_timesteps:rounded'));
});

t.test('chunk_config: list or "a,b,c", three aliases, each >= 1, sum 5..20', async (t) => {
  for (const key of ['chunk_config', 'chunksize', 'chunk_cfg']) {
    t.same(resolve({ run_kwargs: { [key]: [4, 4, 4] } }).params.chunk_config, [4, 4, 4], `${key} list`);
    t.same(resolve({ run_kwargs: { [key]: '4, 4,4' } }).params.chunk_config, [4, 4, 4], `${key} string`);
  }
  let r = resolve({ run_kwargs: { chunk_config: [0, 5, 2] } });
  t.same(r.params.chunk_config, [1, 5, 2], 'a part below 1 is raised to 1');
  t.ok(codes(r).includes('run_kwargs.chunk_config[0]:clamped'));
  r = resolve({ run_kwargs: { chunk_config: [10, 10, 10] } });
  t.same(r.params.chunk_config, [3, 5, 2], 'sum above 20 falls back to the default');
  t.ok(codes(r).includes('run_kwargs.chunk_config:invalid'));
  r = resolve({ run_kwargs: { chunk_config: [1, 1, 1] } });
  t.same(r.params.chunk_config, [3, 5, 2], 'sum below 5 falls back to the default');
  r = resolve({ run_kwargs: { chunk_config: [3, 5] } });
  t.same(r.params.chunk_config, [3, 5, 2], 'two parts');
  t.match(r.warnings.find((w) => w.field === 'run_kwargs.chunk_config')?.message, /not three numbers/);
  r = resolve({ run_kwargs: { chunk_config: 'a,b,c' } });
  t.same(r.params.chunk_config, [3, 5, 2]);
  r = resolve({ run_kwargs: { chunk_config: [3.7, 5, 2] } });
  t.same(r.params.chunk_config, [3, 5, 2]);
  t.ok(codes(r).includes('run_kwargs.chunk_config[0]:rounded'));
  r = resolve({ run_kwargs: { chunk_config: [2, 2, 2], chunksize: [4, 4, 4], chunk_cfg: '5,5,5' } });
  t.same(r.params.chunk_config, [2, 2, 2], 'chunk_config wins over its aliases');
  t.same(codes(r).filter((c) => c.endsWith(':ignored')).sort(), ['run_kwargs.chunk_cfg:ignored', 'run_kwargs.chunksize:ignored']);
});

t.test('chunk_sleep_s wins over chunk_sleep_ms; ms are converted', async (t) => {
  let r = resolve({ run_kwargs: { chunk_sleep_s: 0.05, chunk_sleep_ms: 500 } });
  t.equal(r.params.chunk_sleep_s, 0.05);
  t.ok(codes(r).includes('run_kwargs.chunk_sleep_ms:ignored'));
  r = resolve({ run_kwargs: { chunk_sleep_ms: 10 } });
  t.equal(r.params.chunk_sleep_s, 0.01);
  r = resolve({ run_kwargs: { chunk_sleep_s: 0 } });
  t.equal(r.params.chunk_sleep_s, 0, 'zero is a value, not "absent"');
  t.notOk(codes(r).some((c) => c.startsWith('run_kwargs.chunk_sleep')));
});

t.test('online_mode: sessions are always live; false and garbage are reported', async (t) => {
  t.same(resolve({ setup_kwargs: { online_mode: true } }).warnings.filter((w) => w.field.includes('online')), []);
  t.same(codes(resolve({ setup_kwargs: { online_mode: false } })).filter((c) => c.includes('online')), ['setup_kwargs.online_mode:ignored']);
  t.same(codes(resolve({ setup_kwargs: { online_mode: 'maybe' } })).filter((c) => c.includes('online')), ['setup_kwargs.online_mode:invalid']);
  t.equal(resolve({ setup_kwargs: { online_mode: false } }).params.online_mode, true);
});

t.test('unknown kwargs and top-level keys are named as ignored', async (t) => {
  const r = resolve({ extra: 1, setup_kwargs: { max_size: 1920 }, run_kwargs: { fade_in: 5 } });
  for (const f of ['extra', 'setup_kwargs.max_size', 'run_kwargs.fade_in']) t.ok(codes(r).includes(`${f}:ignored`), f);
});

t.test('audio source: asked, or the microphone inferred from a sendrecv audio m-line without audio_path', async (t) => {
  const sdp = (dir: string) =>
    ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', `a=${dir}`, 'a=rtpmap:111 opus/48000/2',
      'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:1', 'a=recvonly', 'a=rtpmap:96 VP8/90000', ''].join('\r\n');
  const parse = (p: Record<string, unknown>) => offerPayloadSchema.safeParse({ type: 'offer', source_path: 'p.jpg', ...p });
  t.equal(offerSendsAudio(sdp('sendrecv')), true);
  t.equal(offerSendsAudio(sdp('recvonly')), false);
  t.equal(offerSendsAudio('not sdp'), false);
  const mic = parse({ sdp: sdp('sendrecv') });
  t.ok(mic.success, 'no audio_path needed when the browser sends its microphone');
  t.equal(resolveAudioSource(mic.data!), 'mic');
  t.notOk(parse({ sdp: sdp('recvonly') }).success, 'a recvonly offer still needs audio_path');
  t.equal(resolveAudioSource(parse({ sdp: sdp('sendrecv'), audio_path: 'a.wav' }).data!), 'file', "the predecessor's payload stays a file session");
  t.equal(resolveAudioSource(parse({ sdp: sdp('sendrecv'), audio_source: 'push' }).data!), 'push');
  t.ok(parse({ sdp: sdp('recvonly'), audio_source: 'mic' }).success, 'the offer service refuses it with OFFER_MEDIA_MISSING');
});
