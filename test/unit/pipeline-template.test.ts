import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MIC_DEPAY,
  launchFactories,
  loadPipelineCatalog,
  parseTemplate,
  quoteLaunchString,
  renderTemplate,
  type TemplateValues,
} from '../../src/pipelines/pipeline-template.js';

const PIPELINES = new URL('../../pipelines/', import.meta.url).pathname;

const values: TemplateValues = {
  audio_source: 'file',
  audio_path: '/srv/media/speech.wav',
  source_image: '/srv/media/portrait.jpg',
  frame_scale: 0.5,
  sampling_timesteps: 10,
  chunk_config: [3, 5, 2],
  chunk_sleep: 0.01,
  backend: 'builtin',
  video_pt: 96,
  audio_pt: 111,
  video_ssrc: 3735928559,
  audio_ssrc: 12345,
  webrtc_latency: 50,
  video_hold_ms: 55,
  h264_profile_level_id: '42e01f',
};

const minimal = (body: string, header = '# codec: VP8') =>
  `${header}\n${body}\nd.video ! rtpvp8pay pt={{video_pt}} ssrc={{video_ssrc}} ! webrtc.\n` +
  `d.audio ! rtpopuspay pt={{audio_pt}} ssrc={{audio_ssrc}} ! webrtc.\n` +
  `dittotalkinghead name=ditto source-image={{source_image}}\nwebrtcbin name=webrtc`;

t.test('the shipped templates load, declare their codec and render from typed values', async (t) => {
  const catalog = loadPipelineCatalog(PIPELINES, { VP8: 'vp8.pipeline', H264: 'h264.pipeline' });
  const vp8 = catalog.byCodec.get('VP8')!;
  const h264 = catalog.byCodec.get('H264')!;
  t.equal(vp8.codec, 'VP8');
  t.equal(h264.codec, 'H264');
  for (const f of ['dittotalkinghead', 'webrtcbin', 'vp8enc', 'rtpvp8pay', 'opusenc', 'rtpopuspay', 'filesrc', 'decodebin', 'queue']) {
    t.ok(vp8.factories.includes(f), `vp8 needs ${f}`);
  }
  t.ok(h264.factories.includes('x264enc') && h264.factories.includes('capssetter'));
  t.notOk(vp8.factories.some((f) => /[./=]/.test(f)), 'no caps, pad refs or properties among factories');

  const line = renderTemplate(vp8, values);
  t.notMatch(line, /\{\{|\}\}/, 'no placeholder left');
  t.match(line, 'filesrc location="/srv/media/speech.wav" ! decodebin');
  t.match(line, 'source-image="/srv/media/portrait.jpg"');
  t.match(line, 'frame-scale=0.5 sampling-timesteps=10');
  t.match(line, 'chunk-config="3,5,2" chunk-sleep=0.01');
  t.match(line, 'rtpvp8pay pt=96 ');
  t.match(line, 'rtpopuspay pt=111 ');
  t.match(line, 'webrtcbin name=webrtc bundle-policy=max-bundle latency=50');
  t.match(line, 'mode=live');

  const hline = renderTemplate(h264, { ...values, video_pt: 106 });
  t.match(hline, 'level=(string)3.1');
  t.match(hline, 'capssetter caps="application/x-rtp,profile-level-id=(string)42e01f"');
  t.match(hline, 'rtph264pay pt=106 ');
  t.throws(() => renderTemplate(h264, { ...values, h264_profile_level_id: null }), { code: 'INTERNAL' });
});

t.test('strings are quoted: hostile paths stay one property value', async (t) => {
  const vp8 = loadPipelineCatalog(PIPELINES, { VP8: 'vp8.pipeline' }).byCodec.get('VP8')!;
  const hostile = '/srv/a b/x" ! fakesink name=evil ! filesrc location="/etc/passwd\\" {{video_pt}}.wav';
  const line = renderTemplate(vp8, { ...values, audio_path: hostile });
  const sorted = (a: string[]) => [...a].sort();
  t.same(sorted(launchFactories(line)), sorted(launchFactories(renderTemplate(vp8, values))), 'no new element appears');
  t.notOk(launchFactories(line).includes('fakesink'), 'the injected element is inside a quoted string');
  t.match(line, '{{video_pt}}', 'placeholders inside values are not expanded again');
  t.equal(quoteLaunchString('a"b\\c'), '"a\\"b\\\\c"');
  t.throws(() => quoteLaunchString('a\nb'), { code: 'VALIDATION_FAILED' });
  t.throws(() => quoteLaunchString('/srv/end\\'), { code: 'VALIDATION_FAILED' }, 'GStreamer misparses a trailing backslash');
  t.throws(() => renderTemplate(vp8, { ...values, video_pt: 300 }), { code: 'INTERNAL' });
  t.throws(() => renderTemplate(vp8, { ...values, frame_scale: Number.NaN }), { code: 'INTERNAL' });
  t.throws(() => renderTemplate(vp8, { ...values, backend: 'builtin ! fakesink' }), { code: 'INTERNAL' });
  t.throws(() => renderTemplate(vp8, { ...values, audio_source: 'fakesrc' as never }), { code: 'INTERNAL' });
});

t.test('the microphone branch starts at a named depayloader, with no gst-launch delayed link', async (t) => {
  const vp8 = loadPipelineCatalog(PIPELINES, { VP8: 'vp8.pipeline' }).byCodec.get('VP8')!;
  const line = renderTemplate(vp8, { ...values, audio_source: 'webrtc' });
  t.match(line, `rtpopusdepay name=${MIC_DEPAY} ! opusdec`);
  // "webrtc. ! …" links webrtcbin's first src pad, whatever its media: the session links by kind instead.
  t.notMatch(line, /\bwebrtc\.\s*!/, 'nothing is linked from webrtcbin by gst-launch');
});

t.test('quoted paths reach GStreamer intact (real gst-launch-1.0 copy)', async (t) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'ditto-quote-')));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const names = ['a b.wav', 'q"uote.wav', 'back\\slash.wav', "s'ingle.wav", 'bang ! fakesink.wav', 'x\\".wav', 'mid\\"\\\\x.wav', '{{audio_pt}}$x.wav'];
  for (const [i, name] of names.entries()) {
    const src = join(dir, name);
    const dst = join(dir, `out-${i}-${name}`);
    writeFileSync(src, `content ${i} ${name}`);
    const description = `filesrc location=${quoteLaunchString(src)} ! filesink location=${quoteLaunchString(dst)}`;
    // gst-launch-1.0 re-joins argv like gst_parse_launch() reads one string when split outside quotes.
    const argv = description.match(/(?:[^\s"]+|"(?:\\.|[^"\\])*")+/g)!;
    execFileSync('gst-launch-1.0', ['-q', ...argv], { timeout: 20000 });
    t.equal(readFileSync(dst, 'utf8'), `content ${i} ${name}`, JSON.stringify(name));
  }
});

t.test('template checks at load time', async (t) => {
  const ok = minimal('{{audio_source}} ! d.');
  t.equal(parseTemplate(ok, 'x.pipeline').codec, 'VP8');
  t.equal(parseTemplate(ok.replace('VP8', 'h264'), 'x.pipeline').codec, 'H264', 'codec header is case-insensitive');
  const bad: Array<[string, string, RegExp]> = [
    ['no codec header', ok.replace('# codec: VP8', '# just a comment'), /codec/],
    ['unknown codec', ok.replace('VP8', 'VP9'), /VP9/],
    ['unknown placeholder', ok.replace('{{audio_source}}', '{{audio_source}} {{bitrate}}'), /unknown placeholder\(s\) \{\{bitrate\}\}/],
    ['malformed placeholder', ok.replace('{{audio_source}}', '{{audio source}}'), /malformed placeholder/],
    ['missing video_pt', ok.replace('{{video_pt}}', '96'), /missing required placeholder\(s\) \{\{video_pt\}\}/],
    ['missing audio', ok.replace('{{audio_source}} ! d.', 'audiotestsrc ! d.'), /audio_source\|audio_path/],
    ['no ditto element', ok.replace('name=ditto', 'name=d'), /dittotalkinghead name=ditto/],
    ['no webrtcbin', ok.replace('webrtcbin name=webrtc', 'fakesink name=webrtc'), /webrtcbin name=webrtc/],
    ['empty', '# codec: VP8\n# nothing\n', /no launch description/],
  ];
  for (const [what, text, message] of bad) {
    t.throws(() => parseTemplate(text, 'x.pipeline'), { code: 'PIPELINE_TEMPLATE_INVALID', message }, what);
  }
});

t.test('a user adds a template file without code changes; config picks it per codec', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ditto-pipelines-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'vp8.pipeline'), readFileSync(join(PIPELINES, 'vp8.pipeline')));
  writeFileSync(join(dir, 'vp8-hq.pipeline'), readFileSync(join(PIPELINES, 'vp8.pipeline'), 'utf8').replace('target-bitrate=500000', 'target-bitrate=4000000'));
  const catalog = loadPipelineCatalog(dir, { VP8: 'vp8-hq.pipeline' });
  t.same([...catalog.all.keys()], ['vp8-hq.pipeline', 'vp8.pipeline']);
  t.match(renderTemplate(catalog.byCodec.get('VP8')!, values), 'target-bitrate=4000000');
  t.throws(() => loadPipelineCatalog(dir, { H264: 'vp8.pipeline' }), { code: 'PIPELINE_TEMPLATE_INVALID', message: /declares codec VP8/ });
  t.throws(() => loadPipelineCatalog(dir, { VP8: 'nope.pipeline' }), { code: 'PIPELINE_TEMPLATE_INVALID', message: /not found/ });
  writeFileSync(join(dir, 'broken.pipeline'), '# codec: VP8\nfakesrc ! {{oops}}\n');
  t.throws(() => loadPipelineCatalog(dir, { VP8: 'vp8.pipeline' }), { code: 'PIPELINE_TEMPLATE_INVALID', message: /broken\.pipeline/ }, 'a broken file stops loading');
});

t.test('{{backend_options}}: empty for builtin, the reserved worker for backend "ditto", never free text', async (t) => {
  const catalog = loadPipelineCatalog(PIPELINES, { VP8: 'vp8.pipeline' });
  const vp8 = catalog.byCodec.get('VP8')!;
  t.ok(vp8.placeholders.has('backend_options'));
  const builtin = renderTemplate(vp8, values);
  t.match(builtin, /backend=builtin\s+source-image=/, 'nothing added for builtin');
  t.notMatch(builtin, /worker-/);
  const worker = { socket: '/run/ditto/pool "x".sock', ticket: '0123456789abcdef01234567', timeoutS: 12.5 };
  const ditto = renderTemplate(vp8, { ...values, backend: 'ditto', worker });
  t.match(ditto, 'backend=ditto worker-socket="/run/ditto/pool \\"x\\".sock" worker-ticket=0123456789abcdef01234567 worker-timeout=12.5 source-image=');
  const sorted = (a: string[]) => [...a].sort();
  t.same(sorted(launchFactories(ditto)), sorted(launchFactories(builtin)), 'no new element appears');
  t.throws(() => renderTemplate(vp8, { ...values, backend: 'ditto', worker: { ...worker, ticket: 'ab12 ! fakesink' } }), { code: 'INTERNAL' });
  t.throws(() => renderTemplate(vp8, { ...values, backend: 'builtin', worker }), { code: 'INTERNAL' }, 'a reservation only goes to backend "ditto"');
  t.throws(() => renderTemplate(vp8, { ...values, backend: 'ditto', worker: { ...worker, socket: 'a\nb' } }), { code: 'VALIDATION_FAILED' });
});
