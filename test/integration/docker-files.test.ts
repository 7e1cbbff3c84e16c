/**
 * docker/ and pipelines/ as far as they can be checked without Docker or a GPU: the Dockerfiles follow
 * the rules hadolint would enforce (Debian has no hadolint package), the compose file parses as YAML
 * (python3-yaml) with the services it promises, the GPU image's entry point runs its doctor, and every
 * pipeline template parses with gst_parse_launch once its placeholders are filled.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadTemplate, renderTemplate, type TemplateValues } from '../../src/sessions/pipeline-template.js';
import { PLUGIN_DIR, ROOT, run } from '../helpers/gst-probe.js';
import { PYTHON } from '../helpers/ditto-pool.js';

process.env['GST_PLUGIN_PATH'] = PLUGIN_DIR;
const { Pipeline, hasElementFactory } = await import('../../src/gst/index.js');

const DOCKER = join(ROOT, 'docker');

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with line continuations joined (comments and parser directives dropped). */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i] ?? '';
    if (/^\s*(#|$)/.test(l)) continue;
    const start = i + 1;
    while (/\\\s*$/.test(l) && i + 1 < lines.length) {
      l = l.replace(/\\\s*$/, ' ') + (/^\s*#/.test(lines[i + 1] ?? '') ? '' : (lines[i + 1] ?? ''));
      i++;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (m) out.push({ op: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: start });
  }
  return out;
}

for (const name of ['Dockerfile.cpu', 'Dockerfile.gpu']) {
  t.test(`${name} follows the lint rules`, async (t) => {
    const ins = instructions(readFileSync(join(DOCKER, name), 'utf8'));
    const first = ins.find((x) => x.op !== 'ARG');
    t.equal(first?.op, 'FROM', 'starts with FROM (DL3061)');
    for (const from of ins.filter((x) => x.op === 'FROM')) {
      t.match(from.args, /^[\w.\-/]+:[\w.\-]+(@sha256:[0-9a-f]{64})?(\s+AS\s+\w+)?$/i, `base pinned by tag, not latest (DL3006/DL3007): ${from.args}`);
      t.notMatch(from.args, /:latest\b/);
    }
    const known = new Set(['FROM', 'RUN', 'COPY', 'ENV', 'ARG', 'WORKDIR', 'EXPOSE', 'ENTRYPOINT', 'CMD', 'VOLUME', 'LABEL', 'USER', 'HEALTHCHECK', 'SHELL']);
    t.same(ins.filter((x) => !known.has(x.op)).map((x) => x.op), [], 'only known instructions');
    t.same(ins.filter((x) => x.op === 'ADD').map((x) => x.line), [], 'COPY, not ADD (DL3020)');
    for (const r of ins.filter((x) => x.op === 'RUN')) {
      const syntax = await run('bash', ['-n', '-c', r.args], 10, process.env);
      t.equal(syntax.code, 0, `RUN at line ${r.line} is valid shell ${syntax.stderr}`);
      if (/apt-get (-\S+ )*install/.test(r.args)) {
        t.match(r.args, /apt-get update/, `line ${r.line}: update and install in one RUN (DL3009)`);
        t.match(r.args, /--no-install-recommends/, `line ${r.line}: --no-install-recommends (DL3015)`);
        t.match(r.args, /-y\b/, `line ${r.line}: non-interactive (DL3014)`);
        t.match(r.args, /rm -rf \/var\/lib\/apt\/lists/, `line ${r.line}: apt lists removed (DL3009)`);
      }
      if (/pip install/.test(r.args)) t.match(r.args, /--no-cache-dir/, `line ${r.line}: pip --no-cache-dir (DL3042)`);
      t.notMatch(r.args, /(^|\s)cd\s/, `line ${r.line}: WORKDIR, not cd (DL3003)`);
      t.notMatch(r.args, /\bsudo\b/, `line ${r.line}: no sudo (DL3004)`);
    }
    for (const c of ins.filter((x) => x.op === 'COPY')) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) t.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
    }
    const entry = ins.filter((x) => x.op === 'ENTRYPOINT');
    t.equal(entry.length, 1, 'one ENTRYPOINT');
    t.doesNotThrow(() => JSON.parse(entry[0]?.args ?? ''), 'ENTRYPOINT in exec form (DL3025)');
    for (const c of ins.filter((x) => x.op === 'CMD')) t.doesNotThrow(() => JSON.parse(c.args), 'CMD in exec form');
  });
}

t.test('the GPU image pins upstream, fixes np.atan2 and mounts the weights', async (t) => {
  const text = readFileSync(join(DOCKER, 'Dockerfile.gpu'), 'utf8');
  t.match(text, /FROM nvcr\.io\/nvidia\/tensorrt:23\.06-py3/, 'TensorRT 8.6 base');
  t.match(text, /ARG DITTO_COMMIT=e9191cf/, 'upstream pinned');
  t.match(text, /checkout "\$DITTO_COMMIT"/);
  t.match(text, /s\/np\\\.atan2\/np\.arctan2\/g/, 'np.atan2 -> np.arctan2');
  t.match(text, /VOLUME \["\/models"/, 'weights from a volume');
  t.notMatch(text, /huggingface|hf_hub|git lfs|wget|\.engine\b.*curl/i, 'no weights downloaded');
});

t.test('the GPU entry point runs its doctor and refuses to start without GPU and weights', async (t) => {
  const r = await run('bash', [join(DOCKER, 'gpu-entrypoint.sh'), 'doctor'], 30, {
    ...process.env,
    DITTO_MODEL_DIR: '/nonexistent/models',
    DITTO_UPSTREAM_DIR: '/nonexistent/upstream',
    PATH: `/nonexistent-bin:${process.env['PATH'] ?? ''}`,
  });
  t.not(r.code, 0, 'doctor fails here');
  const out = r.stdout + r.stderr;
  t.match(out, /\[doctor\] (no GPU visible|GPU: )/);
  t.match(out, /\[doctor\] upstream checkout missing at \/nonexistent\/upstream/);
  t.match(out, /\[doctor\] config \/nonexistent\/models\/ditto_cfg\/v0\.4_hubert_cfg_trt_online\.pkl missing/);
  const syntax = await run('bash', ['-n', join(DOCKER, 'gpu-entrypoint.sh')], 10, process.env);
  t.equal(syntax.code, 0, 'valid shell');
});

t.test('compose.yaml parses and wires the pool socket, the GPU and host networking', async (t) => {
  const r = await run(PYTHON, ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(DOCKER, 'compose.yaml')], 30, process.env);
  t.equal(r.code, 0, `YAML parses ${r.stderr}`);
  const c = JSON.parse(r.stdout) as { services: Record<string, Record<string, unknown>>; volumes: Record<string, unknown> };
  const worker = c.services['ditto-worker'] as Record<string, any>;
  const server = c.services['ditto-gst'] as Record<string, any>;
  t.ok(worker && server, 'both services');
  t.equal(server['network_mode'], 'host', 'server on host networking');
  t.same(worker['deploy']['resources']['reservations']['devices'][0], { driver: 'nvidia', count: 1, capabilities: ['gpu'] }, 'GPU reservation');
  t.match(worker['build'], { dockerfile: 'docker/Dockerfile.gpu' });
  t.match(server['build'], { dockerfile: 'docker/Dockerfile.cpu' });
  const sock = (worker['environment'] as Record<string, string>)['DITTO_POOL_SOCKET'];
  t.equal((server['environment'] as Record<string, string>)['DITTO_WORKER_SOCKET'], sock, 'the server uses the pool socket');
  t.ok((worker['volumes'] as string[]).includes('ditto-run:/run/ditto') && (server['volumes'] as string[]).includes('ditto-run:/run/ditto'), 'socket volume shared');
  t.ok('ditto-run' in c.volumes);
  const media = (v: any[]) => v.find((x) => typeof x === 'object' && x.target === '/srv/ditto/media');
  t.ok(media(worker['volumes']) && media(server['volumes']), 'media at the same path in both');
});

t.test('every pipeline template parses with gst_parse_launch once filled', async (t) => {
  const values: TemplateValues = {
    audio_source: 'file',
    audio_path: join(ROOT, 'media', 'speech.wav'),
    source_image: join(ROOT, 'media', 'portrait.jpg'),
    frame_scale: 0.5,
    sampling_timesteps: 10,
    chunk_config: [3, 5, 2],
    chunk_sleep: 0,
    backend: 'ditto',
    video_pt: 96,
    audio_pt: 111,
    video_ssrc: 1234,
    audio_ssrc: 5678,
    webrtc_latency: 50,
    h264_profile_level_id: '42e01f',
  };
  const files = readdirSync(join(ROOT, 'pipelines')).filter((f) => f.endsWith('.pipeline'));
  t.ok(files.includes('h264-nvenc.pipeline'), 'the NVENC variant is there');
  const nvenc = hasElementFactory('nvh264enc');
  for (const f of files) {
    const tpl = loadTemplate(join(ROOT, 'pipelines', f));
    for (const audio_source of ['file', 'live', 'webrtc'] as const) {
      let desc = renderTemplate(tpl, { ...values, audio_source });
      const missing = tpl.factories.filter((x) => !hasElementFactory(x));
      if (missing.length && !nvenc) {
        // this host has no NVENC: everything else must be present, and the graph must still parse with a
        // software encoder in the encoder's place (its NVENC properties dropped)
        t.same(missing, ['nvh264enc'], `${f}: only nvh264enc is missing here`);
        desc = desc.replace(/nvh264enc[^!]*!/, 'x264enc tune=zerolatency bframes=0 !');
      } else {
        t.same(missing, [], `${f}: every element exists`);
      }
      const p = Pipeline.launch(desc, { name: `${f}-${audio_source}` });
      t.ok(p, `${f} (${audio_source} audio) parses`);
      await p.close();
    }
  }
});
