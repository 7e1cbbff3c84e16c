/**
 * docker/ and pipelines/ as far as they can be checked without Docker or a GPU: the Dockerfiles follow
 * the rules hadolint would enforce (Debian has no hadolint package), the compose file parses as YAML
 * (python3-yaml) with the services it promises, the GPU image's entry point runs its doctor, and every
 * pipeline template parses with gst_parse_launch once its placeholders are filled.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadTemplate, renderTemplate, type TemplateValues } from '../../src/pipelines/pipeline-template.js';
import { gstEnv, PLUGIN_DIR, ROOT, run } from '../helpers/gst-probe.js';
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

interface Stage {
  name: string;
  /** The image or earlier stage it starts from. */
  base: string;
  ins: Instruction[];
}

/** Instructions grouped by build stage (FROM ... AS name). */
function stages(ins: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const x of ins) {
    if (x.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(x.args);
      out.push({ base: m?.[1] ?? '', name: m?.[2] ?? String(out.length), ins: [] });
    } else out.at(-1)?.ins.push(x);
  }
  return out;
}

/** A stage's instructions with those of the stages it is built FROM. */
function lineage(all: Stage[], s: Stage): Instruction[] {
  const parent = all.find((p) => p.name === s.base);
  return [...(parent ? lineage(all, parent) : []), ...s.ins];
}

/** COPY's flags, sources and destination. */
function copyParts(args: string): { from: string | null; srcs: string[]; dest: string } {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length) ?? null;
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from, srcs: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** ENV key=value pairs of one ENV instruction (values without quotes). */
function envPairs(args: string): [string, string][] {
  return [...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1] as string, (m[2] as string).replace(/^"|"$/g, '')]);
}

const dockerfile = (name: string) => instructions(readFileSync(join(DOCKER, name), 'utf8'));

for (const name of ['Dockerfile.cpu', 'Dockerfile.gpu']) {
  t.test(`${name} follows the lint rules`, async (t) => {
    const ins = dockerfile(name);
    const first = ins.find((x) => x.op !== 'ARG');
    t.equal(first?.op, 'FROM', 'starts with FROM (DL3061)');
    const seen: string[] = [];
    for (const from of ins.filter((x) => x.op === 'FROM')) {
      const m = /^(\S+)(?:\s+AS\s+(\w[\w-]*))?$/i.exec(from.args);
      t.ok(m, `FROM parses: ${from.args}`);
      const image = m?.[1] ?? '';
      if (seen.includes(image)) t.pass(`FROM ${image}: an earlier stage`);
      else t.match(image, /^[\w.\-/]+:[\w.\-]+(@sha256:[0-9a-f]{64})?$/, `base pinned by tag, not latest (DL3006/DL3007): ${image}`);
      t.notMatch(image, /:latest\b|\$/, `no latest tag and no variable base: ${image}`);
      if (m?.[2]) {
        t.notOk(seen.includes(m[2]), `stage name ${m[2]} is unique (DL3024)`);
        seen.push(m[2]);
      }
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
      t.notMatch(r.args, /curl[^|&;]*\|\s*(ba)?sh/, `line ${r.line}: nothing piped from the network into a shell`);
    }
    const all = stages(ins);
    for (const [i, s] of all.entries()) {
      for (const c of s.ins.filter((x) => x.op === 'COPY')) {
        const { from, srcs } = copyParts(c.args);
        if (from === null) {
          for (const src of srcs) t.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
          continue;
        }
        const source = all.slice(0, i).find((x) => x.name === from);
        t.ok(source, `line ${c.line}: COPY --from=${from} names an earlier stage`);
        // the copied path is made in that stage: a prefix of it (at least /a/b) appears in what the stage runs
        const text = source ? lineage(all, source).map((x) => x.args).join('\n') : '';
        for (const src of srcs) {
          const parts = src.split('/').filter(Boolean);
          const made = parts.some((_, k) => k >= 1 && text.includes('/' + parts.slice(0, k + 1).join('/')));
          t.ok(made, `line ${c.line}: ${src} is made in stage ${from}`);
        }
      }
    }
    const entry = ins.filter((x) => x.op === 'ENTRYPOINT');
    t.equal(entry.length, 1, 'one ENTRYPOINT');
    t.doesNotThrow(() => JSON.parse(entry[0]?.args ?? ''), 'ENTRYPOINT in exec form (DL3025)');
    for (const c of ins.filter((x) => x.op === 'CMD')) t.doesNotThrow(() => JSON.parse(c.args), 'CMD in exec form');
  });
}

const SUMS = readFileSync(join(DOCKER, 'gpu-sources.sha256'), 'utf8').trim().split('\n');
const pinned = new Map(SUMS.map((l) => [l.split('  ')[1] ?? '', l.split('  ')[0] ?? '']));

t.test('the GPU image is multi-stage on TensorRT 8.6, everything pinned', async (t) => {
  const text = readFileSync(join(DOCKER, 'Dockerfile.gpu'), 'utf8');
  const ins = dockerfile('Dockerfile.gpu');
  const all = stages(ins);
  t.same(all.map((s) => s.name), ['gstreamer', 'app', 'runtime'], 'stages: gstreamer -> app -> runtime');
  t.same(all.map((s) => s.base), ['nvcr.io/nvidia/tensorrt:23.06-py3', 'gstreamer', 'nvcr.io/nvidia/tensorrt:23.06-py3'], 'TensorRT 8.6 base (23.06-py3)');
  const arg = (n: string) => new RegExp(`^ARG ${n}=(\\S+)$`, 'm').exec(text)?.[1] ?? '';
  t.match(arg('GST_VERSION'), /^1\.22\.\d+$/, 'an exact GStreamer 1.22 release');
  const [, nMinor, nPatch] = arg('NICE_VERSION').split('.').map(Number);
  t.ok(arg('NICE_VERSION').startsWith('0.1.') && (nMinor ?? 0) === 1 && (nPatch ?? 0) >= 20, `libnice >= 0.1.20 for webrtcbin 1.22 (${arg('NICE_VERSION')})`);
  t.match(arg('NODE_VERSION'), /^20\.\d+\.\d+$/, 'an exact Node 20 release');
  t.match(arg('MESON_VERSION'), /^\d+\.\d+\.\d+$/, 'meson pinned (Ubuntu 22.04 has 0.61; 1.22 needs 0.62)');
  t.match(arg('DITTO_COMMIT'), /^[0-9a-f]{7,40}$/, 'upstream pinned to a commit');
  t.match(text, /checkout "\$DITTO_COMMIT"/);
  t.match(text, /rev-parse HEAD \| grep -q "\^\$\{DITTO_COMMIT\}"/, 'the checkout is the pinned commit');
  t.match(text, /VOLUME \["\/models"/, 'weights from a volume');
  t.notMatch(text, /huggingface|hf_hub|git lfs|\.engine\b.*curl/i, 'no weights downloaded');
  t.notMatch(text, /np\\?\.atan2\/|sed -i[^\n]*ditto-talkinghead/, 'upstream runs unpatched (numpy 2 has np.atan2)');

  // every tarball is checked against a pinned sha256, except the one no hash could be found for
  const gst = arg('GST_VERSION');
  const wanted = [
    `gstreamer-${gst}.tar.xz`, `gst-plugins-base-${gst}.tar.xz`, `gst-plugins-good-${gst}.tar.xz`,
    `gst-plugins-bad-${gst}.tar.xz`, `gst-plugins-ugly-${gst}.tar.xz`, `libnice-${arg('NICE_VERSION')}.tar.gz`,
    `node-v${arg('NODE_VERSION')}-linux-x64.tar.xz`,
  ];
  for (const line of SUMS) t.match(line, /^[0-9a-f]{64}  [\w.+-]+$/, `sha256sum format: ${line}`);
  t.same(wanted.filter((w) => !pinned.has(w)), [`gst-plugins-ugly-${gst}.tar.xz`], 'only ugly is checked against its published .sha256sum instead of a pinned hash');
  t.same([...pinned.keys()].filter((k) => !wanted.includes(k)), [], 'no stale entries in gpu-sources.sha256');
  t.match(text, /sha256sum -c/, 'the Node tarball is verified');
});

t.test('the GPU image builds GStreamer with the plugins ditto-gst needs and uses only that GStreamer', async (t) => {
  const script = readFileSync(join(DOCKER, 'build-gstreamer.sh'), 'utf8');
  t.equal((await run('bash', ['-n', join(DOCKER, 'build-gstreamer.sh')], 10, process.env)).code, 0, 'build-gstreamer.sh is valid shell');
  for (const opt of ['webrtc', 'dtls', 'srtp', 'sctp', 'nvcodec', 'vpx', 'rtp', 'rtpmanager', 'isomp4', 'matroska', 'x264', 'opus', 'gpl', 'gstreamer']) {
    t.match(script, new RegExp(`-D${opt}=enabled\\b`), `-D${opt}=enabled`);
  }
  t.match(script, /-Dwebrtcdsp=disabled/, 'webrtcdsp off');
  t.match(script, /--wrap-mode=nodownload/, 'meson never fetches subprojects behind our back');
  t.match(script, /--libdir=lib\b/, 'libraries in PREFIX/lib');
  t.match(script, /sha256sum -c/, 'tarballs verified');
  t.ok(script.indexOf('libnice-') < script.indexOf('gst-plugins-bad-'), 'libnice before -bad (webrtcbin links it)');

  const ins = dockerfile('Dockerfile.gpu');
  const all = stages(ins);
  const runtime = all.find((s) => s.name === 'runtime') as Stage;
  const prefix = /build-gstreamer\.sh (\/\S+) /.exec(ins.map((x) => x.args).join('\n'))?.[1];
  t.equal(prefix, '/opt/gstreamer', 'GStreamer is installed in /opt/gstreamer');
  const env = new Map(runtime.ins.filter((x) => x.op === 'ENV').flatMap((x) => envPairs(x.args)));
  t.equal(env.get('GST_PLUGIN_SYSTEM_PATH_1_0'), `${prefix}/lib/gstreamer-1.0`, 'only our GStreamer plugins');
  t.equal(env.get('GST_PLUGIN_SCANNER_1_0'), `${prefix}/libexec/gstreamer-1.0/gst-plugin-scanner`);
  t.match(env.get('LD_LIBRARY_PATH') ?? '', new RegExp(`^${prefix}/lib(:|$)`), 'our libraries first');
  t.equal(env.get('PKG_CONFIG_PATH'), `${prefix}/lib/pkgconfig`);
  t.match(env.get('PATH') ?? '', new RegExp(`^${prefix}/bin:/opt/node/bin:`), 'gst-inspect-1.0 and node on PATH');
  t.equal(env.get('GST_PLUGIN_PATH'), `${env.get('DITTO_GST_APP')}/build/plugin/ditto`, 'our plugin where the app stage built it');
  t.equal(env.get('DITTO_WORKER_SOCKET'), env.get('DITTO_POOL_SOCKET'), 'the server uses the pool of its container');
  t.equal(env.get('DITTO_ELEMENT_BACKEND'), 'ditto');
  t.match(env.get('NVIDIA_DRIVER_CAPABILITIES') ?? '', /\bvideo\b/, 'NVENC needs the video capability');
  // every /opt path the runtime's ENV names is put there by this stage (a COPY, or a RUN that creates it)
  const dests = runtime.ins.filter((x) => x.op === 'COPY').map((x) => copyParts(x.args).dest);
  const runs = runtime.ins.filter((x) => x.op === 'RUN').map((x) => x.args).join('\n');
  for (const [k, v] of env) {
    for (const p of v.split(':').filter((x) => x.startsWith('/opt/'))) {
      t.ok(dests.some((d) => d.startsWith(p) || p.startsWith(d)) || runs.includes(p), `${k}: ${p} exists in the runtime stage`);
    }
  }
  // the app stage builds against the same prefix (it inherits the gstreamer stage's ENV)
  const gstEnvs = new Map((all[0] as Stage).ins.filter((x) => x.op === 'ENV').flatMap((x) => envPairs(x.args)));
  t.equal(gstEnvs.get('PKG_CONFIG_PATH'), `${prefix}/lib/pkgconfig`, 'the plugin and the addon find GStreamer 1.22 by pkg-config');
});

t.test('runtime-packages.sh names the packages behind what the plugin and the addon link', async (t) => {
  const r = await run('bash', [join(DOCKER, 'runtime-packages.sh'), PLUGIN_DIR], 60, process.env);
  t.equal(r.code, 0, r.stderr);
  const pkgs = r.stdout.trim().split('\n');
  for (const p of pkgs) t.match(p, /^[a-z0-9][a-z0-9+.-]+$/, `a package name: ${p}`);
  t.ok(pkgs.includes('libgstreamer1.0-0'), 'libgstreamer (Debian here; /opt/gstreamer, unowned, in the image)');
  t.ok(pkgs.some((p) => p.startsWith('libopencv-objdetect')), 'OpenCV objdetect');
  t.ok(pkgs.includes('libgdk-pixbuf-2.0-0'), 'gdk-pixbuf');
  t.same(pkgs, [...pkgs].sort(), 'sorted, once each');
  t.equal(new Set(pkgs).size, pkgs.length);
  const usage = await run('bash', [join(DOCKER, 'runtime-packages.sh')], 10, process.env);
  t.equal(usage.code, 2, 'no path: usage');
});

const ENTRY = join(DOCKER, 'gpu-entrypoint.sh');
const entryEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...gstEnv(),
  DITTO_GST_APP: ROOT,
  DITTO_MODEL_DIR: '/nonexistent/models',
  DITTO_UPSTREAM_DIR: '/nonexistent/upstream',
  DITTO_POOL_SOCKET: join(tmpdir(), `ditto-entry-${process.pid}`, 'pool.sock'),
  PATH: `/nonexistent-bin:${process.env['PATH'] ?? ''}`,
  ...extra,
});

t.test('the GPU entry point runs both doctors and refuses to start without GPU and weights', async (t) => {
  t.ok(existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')), 'the CLI is built (npm run build:ts)');
  t.equal((await run('bash', ['-n', ENTRY], 10, process.env)).code, 0, 'valid shell');
  const r = await run('bash', [ENTRY, 'doctor'], 60, entryEnv());
  t.equal(r.code, 1, 'doctor fails here: no GPU, no upstream, no weights');
  const out = r.stdout + r.stderr;
  t.match(out, /\[doctor\] (no GPU visible|GPU: )/);
  t.match(out, /\[doctor\] upstream checkout missing at \/nonexistent\/upstream/);
  t.match(out, /\[doctor\] config \/nonexistent\/models\/ditto_cfg\/v0\.4_hubert_cfg_trt_online\.pkl missing/);
  t.match(out, /\[doctor\] engine directory \/nonexistent\/models\/ditto_trt_Ampere_Plus missing/);
  // the GStreamer half is the real `ditto-gst doctor` against this machine's GStreamer and our plugin
  t.match(out, /\[doctor\] GStreamer elements \(ditto-gst doctor\):/);
  t.match(out, /ok +dittotalkinghead \(our plugin\)/);
  t.match(out, /ok +webrtcbin/);
  t.match(out, /\[doctor\] GStreamer: ok/);

  const broken = await run('bash', [ENTRY, 'doctor'], 60, entryEnv({ DITTO_PIPELINES_DIR: '/nonexistent/pipelines' }));
  t.equal(broken.code, 1);
  t.match(broken.stdout, /\[doctor\] GStreamer: required elements missing/, 'a failing ditto-gst doctor fails the doctor');

  const pool = await run('bash', [ENTRY, 'pool'], 60, entryEnv());
  t.equal(pool.code, 1, 'pool: refuses without the model');
  t.match(pool.stdout, /\[doctor\] not starting the pool/);
  t.notMatch(pool.stdout, /GStreamer elements/, 'pool: only the model doctor');

  const all = await run('bash', [ENTRY, '--port', '0'], 60, entryEnv());
  t.equal(all.code, 1, 'default (all): refuses without the model');
  t.match(all.stdout, /\[doctor\] not starting the pool and the server/);
});

t.test('the GPU entry point rejects unknown commands and prints its usage', async (t) => {
  const bad = await run('bash', [ENTRY, 'bogus'], 10, entryEnv());
  t.equal(bad.code, 2);
  t.match(bad.stderr, /unknown command "bogus"/);
  t.match(bad.stderr, /ditto-gpu-entrypoint serve/);
  const help = await run('bash', [ENTRY, '--help'], 10, entryEnv());
  t.equal(help.code, 0);
  for (const mode of ['all', 'serve', 'pool', 'doctor', 'ready']) t.match(help.stderr, new RegExp(`ditto-gpu-entrypoint \\[?${mode}\\b`), `usage names ${mode}`);
});

t.test('the GPU entry point `serve` runs the doctor, then the server with backend ditto on the pool socket', async (t) => {
  const env = entryEnv({ DITTO_LOG_LEVEL: 'warn' });
  const child = spawn('bash', [ENTRY, 'serve', '--host', '127.0.0.1', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const deadline = Date.now() + 60_000;
  while (!/serving on (http:\/\/\S+)/.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const url = /serving on (http:\/\/\S+)/.exec(out)?.[1];
  t.ok(url, `the server started after the doctor: ${out.slice(-500)}`);
  t.match(out, /\[doctor\] GStreamer: ok/);
  t.notMatch(out, /no GPU visible/, 'serve: only the GStreamer doctor (the pool may be elsewhere)');
  if (url) {
    const cfg = await fetch(`${url}/healthz`).catch(() => null);
    t.ok(cfg, 'it answers HTTP');
  }
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM reaches the server (exec): it closes and exits 0');
});

t.test("the GPU image installs upstream's environment, compiles the blend at build time and ends with the import check", async (t) => {
  const text = readFileSync(join(DOCKER, 'Dockerfile.gpu'), 'utf8');
  const runtime = stages(dockerfile('Dockerfile.gpu')).find((x) => x.name === 'runtime') as Stage;
  const runs = runtime.ins.filter((x) => x.op === 'RUN');
  // the pins of upstream's environment.yaml (e9191cf) that decide whether its code and its pickles load
  const upstreamEnv: Record<string, string> = {
    numpy: '2.0.1', 'opencv-python-headless': '4.10.0.84', 'cuda-python': '12.6.2.post1', 'librosa': '0.10.2.post1',
    numba: '0.60.0', scipy: '1.15.0', 'scikit-image': '0.25.0', imageio: '2.36.1', filetype: '1.2.0', tqdm: '4.67.1', cython: '3.0.11',
  };
  for (const [pkg, version] of Object.entries(upstreamEnv)) t.match(text, new RegExp(`"${pkg.replace(/[.+]/g, '\\$&')}==${version.replace(/\./g, '\\.')}"`), `${pkg} ${version} as upstream`);
  t.match(text, /--index-url https:\/\/download\.pytorch\.org\/whl\/cpu "torch==2\.5\.1\+cpu"/, "upstream's torch, the CPU build (module-level imports; TensorRT does the GPU work)");
  const installs = runs.flatMap((r) => [...r.args.matchAll(/pip install --no-cache-dir ((?:--index-url \S+ )?[^&]*)/g)].map((m) => m[1] as string));
  const pins = installs.flatMap((args) => [...args.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string));
  t.ok(pins.length > 15, `${pins.length} packages installed`);
  t.same(pins.filter((p) => !/^[A-Za-z][\w.-]*==[\w.+-]+$/.test(p)), [], 'every pip package pinned exactly');
  const at = (re: RegExp) => runs.findIndex((r) => re.test(r.args));
  t.ok(at(/gpu-build-blend\.py/) >= 0 && at(/gpu-build-blend\.py/) < at(/gpu-import-check\.py/), 'the blend is compiled before the import check');
  t.equal(at(/gpu-import-check\.py/), runs.length - 1, 'the import check is the last build step');
  t.match(runs.at(-1)?.args ?? '', /HOME=\/nonexistent CC=\/bin\/false/, 'pyximport could not compile during the check');
  t.match(text, /ARG DITTO_COMMIT=[0-9a-f]{40}\n/, 'upstream pinned to a full commit');
  t.match(text, /ARG GRID_SAMPLE_COMMIT=[0-9a-f]{40}\n/, 'the GridSample3D plugin source pinned to a full commit');
  t.match(text, /HEALTHCHECK [^\n]*\\\n\s+CMD \["\/usr\/local\/bin\/ditto-gpu-entrypoint", "ready"\]/, 'the image healthcheck asks for readiness');
  const blend = readFileSync(join(DOCKER, 'gpu-build-blend.py'), 'utf8');
  t.notMatch(blend.replace(/#.*$/gm, '').replace(/"""[\s\S]*?"""/g, ''), /march=native/, 'portable flags');
  for (const f of ['gpu-build-blend.py', 'gpu-import-check.py']) {
    const r = await run(PYTHON, ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', join(DOCKER, f)], 10, process.env);
    t.equal(r.code, 0, `${f} parses ${r.stderr}`);
  }
  const engines = join(DOCKER, 'gpu-build-engines.sh');
  t.equal((await run('bash', ['-n', engines], 10, process.env)).code, 0, 'gpu-build-engines.sh is valid shell');
  const help = await run('bash', [engines, '--help'], 10, process.env);
  t.equal(help.code, 0);
  t.match(help.stdout, /native engines for this GPU/);
  t.match(text, /COPY docker\/gpu-build-engines\.sh \/usr\/local\/bin\/ditto-build-engines/, 'installed as ditto-build-engines');
});

t.test('the entry point `ready` asks GET /readyz and fails without a ready server', async (t) => {
  const r = await run('bash', [ENTRY, 'ready'], 20, entryEnv({ DITTO_READY_URL: 'http://127.0.0.1:9/readyz' }));
  t.equal(r.code, 1, 'nothing listening: not ready');
  t.match(r.stderr, /fetch failed|ECONNREFUSED/);
});

t.test('compose.yaml parses: one GPU service from the GPU image, a CPU profile for the builtin backend', async (t) => {
  const r = await run(PYTHON, ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(DOCKER, 'compose.yaml')], 30, process.env);
  t.equal(r.code, 0, `YAML parses ${r.stderr}`);
  const c = JSON.parse(r.stdout) as { services: Record<string, Record<string, any>> };
  const gpu = c.services['ditto-gst-gpu'] as Record<string, any>;
  const cpu = c.services['ditto-gst-cpu'] as Record<string, any>;
  t.ok(gpu && cpu, 'both services');
  t.same(Object.keys(c.services).sort(), ['ditto-gst-cpu', 'ditto-gst-gpu'], 'no separate worker service any more');
  t.match(gpu['build'], { context: '..', dockerfile: 'docker/Dockerfile.gpu' });
  t.equal(gpu['network_mode'], 'host', 'GPU service on host networking');
  t.same(gpu['deploy']['resources']['reservations']['devices'][0], { driver: 'nvidia', count: 1, capabilities: ['gpu', 'video'] }, 'GPU reservation (video for NVENC)');
  t.equal(gpu['profiles'], undefined, 'the GPU service starts by default');
  const genv = gpu['environment'] as Record<string, string>;
  t.equal(genv['DITTO_WORKER_SOCKET'], genv['DITTO_POOL_SOCKET'], 'the server uses the pool socket');
  t.equal(genv['DITTO_ELEMENT_BACKEND'], 'ditto');
  t.same(gpu['healthcheck']['test'], ['CMD', '/usr/local/bin/ditto-gpu-entrypoint', 'ready'], 'healthy = ready (GET /readyz), not "the pool socket exists"');
  t.equal(genv['DITTO_PORT'], '${DITTO_PORT:-8080}', 'the healthcheck (entry point `ready`) is told the server port');
  t.match(gpu['command'].join(' '), /--port \$\{DITTO_PORT:-8080\}/, 'the server listens on DITTO_PORT');
  t.ok((gpu['volumes'] as any[]).some((v) => typeof v === 'object' && v.target === '/engines' && v.type === 'volume'), 'a writable volume for engines built for this GPU');
  const modes = /^\s*all\|serve\|pool\|doctor\|ready\)/m.test(readFileSync(ENTRY, 'utf8'));
  t.ok(modes && ['all', 'serve', 'pool', 'doctor'].includes(gpu['command'][0]), `command is an entry-point mode: ${gpu['command'][0]}`);
  const dockerEnv = new Map(dockerfile('Dockerfile.gpu').filter((x) => x.op === 'ENV').flatMap((x) => envPairs(x.args)));
  const models = (gpu['volumes'] as any[]).find((v) => typeof v === 'object' && v.target === dockerEnv.get('DITTO_MODEL_DIR'));
  t.ok(models && models.read_only === true && models.type === 'bind', 'weights bound read-only at DITTO_MODEL_DIR');
  t.match(models?.source ?? '', /DITTO_MODELS/);
  const media = (v: any[]) => v.find((x) => typeof x === 'object' && x.target === '/srv/ditto/media');
  t.ok(media(gpu['volumes']) && media(cpu['volumes']), 'media volume in both');
  t.equal(genv['DITTO_MEDIA_DIRS'], '/srv/ditto/media', 'the server serves the media volume');
  const mediaDefault = /^\$\{DITTO_MEDIA:-([^}]+)\}$/.exec(media(gpu['volumes']).source)?.[1] ?? '';
  t.ok(existsSync(join(DOCKER, mediaDefault)), `default media directory ${mediaDefault} exists (relative to docker/)`);

  t.same(cpu['profiles'], ['cpu'], 'CPU service behind the cpu profile');
  t.match(cpu['build'], { dockerfile: 'docker/Dockerfile.cpu' });
  t.equal(cpu['network_mode'], 'host');
  t.equal((cpu['environment'] as Record<string, string>)['DITTO_ELEMENT_BACKEND'], 'builtin');
  t.equal(cpu['deploy'], undefined, 'no GPU for the CPU service');
});

t.test('every pipeline template parses with gst_parse_launch once filled', async (t) => {
  const values: TemplateValues = {
    audio_source: 'file',
    audio_path: join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav'),
    source_image: join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg'),
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
    video_hold_ms: 55,
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
      const p = await Pipeline.launch(desc, { name: `${f}-${audio_source}` });
      t.ok(p, `${f} (${audio_source} audio) parses`);
      await p.close();
    }
  }
});
