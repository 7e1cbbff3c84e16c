import type { ServerConfig } from '../config/schema.js';
import { renderFactories } from '../render/render-pipeline.js';
import type { GstLoader } from '../gst/loader.js';
import { loadPipelineCatalog } from '../pipelines/pipeline-template.js';
import { debianPackageFor } from './packages.js';

/**
 * `ditto-gst doctor`: can this machine run ditto-gst as configured? Checks the GStreamer version, our
 * addon and plugin, every element each configured session pipeline needs, and the elements of uploads,
 * rendering, the client and live audio. Each missing element names the Debian package that ships it.
 */

export const MIN_GST = [1, 22] as const;

export interface Check {
  group: string;
  name: string;
  ok: boolean;
  /** Required checks fail the run; the others are warnings (features that will not work). */
  required: boolean;
  detail?: string;
  fix?: string;
}

export interface DoctorReport {
  gstreamer: string | null;
  checks: Check[];
  ok: boolean;
}

/** Decoders behind the upload probe and file sessions, per accepted audio format (portraits: our dittoimagesrc). */
const UPLOAD_ELEMENTS = [
  'decodebin', 'typefind', 'wavparse', 'mpegaudioparse', 'mpg123audiodec', 'id3demux', 'qtdemux', 'aacparse', 'avdec_aac',
  'flacparse', 'flacdec', 'oggdemux', 'vorbisdec', 'opusdec', 'matroskademux',
];
/** Our plugin's elements: the model, and the portrait loader that checks every upload and offer's portrait. */
const OUR_ELEMENTS = ['dittotalkinghead', 'dittoimagesrc'];
/** The command-line client (receive and record) and live audio (push WebSocket, browser microphone). */
const CLIENT_ELEMENTS = ['webrtcbin', 'rtpvp8depay', 'vp8dec', 'rtph264depay', 'avdec_h264', 'rtpopusdepay', 'opusdec', 'matroskamux', 'fakesink'];
const LIVE_AUDIO_ELEMENTS = ['appsrc', 'wavparse', 'oggdemux', 'opusdec', 'rtpopusdepay', 'audiomixer'];

function parseVersion(v: string): [number, number, number] | null {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export async function runDoctor(config: ServerConfig, loadGst: GstLoader): Promise<DoctorReport> {
  const checks: Check[] = [];
  let gst: Awaited<ReturnType<GstLoader>>;
  let version: string;
  try {
    gst = await loadGst();
    version = gst.gstVersion();
  } catch (e) {
    checks.push({
      group: 'runtime',
      name: 'GStreamer via the native addon',
      ok: false,
      required: true,
      detail: (e as Error).message,
      fix: 'apt-get install libgstreamer1.0-dev libgstreamer-plugins-bad1.0-dev && npm run build:addon',
    });
    return { gstreamer: null, checks, ok: false };
  }
  const parsed = parseVersion(version);
  const recent = parsed !== null && (parsed[0] > MIN_GST[0] || (parsed[0] === MIN_GST[0] && parsed[1] >= MIN_GST[1]));
  checks.push({
    group: 'runtime',
    name: 'GStreamer version',
    ok: recent,
    required: true,
    detail: `${version} (need ${MIN_GST.join('.')} or newer)`,
    ...(recent ? {} : { fix: 'Debian 12 (bookworm) ships 1.22: apt-get install gstreamer1.0-plugins-base' }),
  });
  for (const name of OUR_ELEMENTS) {
    const ok = gst.hasElementFactory(name);
    checks.push({
      group: 'runtime',
      name: `${name} (our plugin)`,
      ok,
      required: true,
      detail: `plugin path ${config.pluginPath}`,
      ...(ok ? {} : { fix: 'npm run build:plugin (meson + ninja; needs libgstreamer-plugins-base1.0-dev, libgdk-pixbuf-2.0-dev)' }),
    });
  }

  const seen = new Set<string>();
  const element = (group: string, name: string, required: boolean) => {
    const key = `${group}/${name}`;
    if (seen.has(key) || OUR_ELEMENTS.includes(name)) return;
    seen.add(key);
    const ok = gst.hasElementFactory(name);
    const pkg = debianPackageFor(name);
    checks.push({
      group,
      name,
      ok,
      required,
      ...(ok ? {} : { fix: pkg ? `apt-get install ${pkg}` : 'not in the usual Debian GStreamer packages: check gst-inspect-1.0' }),
    });
  };

  try {
    const catalog = loadPipelineCatalog(config.pipelines.dir, { VP8: config.pipelines.vp8, H264: config.pipelines.h264 });
    for (const codec of config.pipelines.codecPreference) {
      const t = catalog.byCodec.get(codec);
      if (!t) continue;
      // One usable codec is enough to serve; the preferred one is required.
      const required = codec === config.pipelines.codecPreference[0];
      for (const f of t.factories) element(`pipeline ${t.name} (${codec})`, f, required);
    }
  } catch (e) {
    checks.push({ group: 'pipelines', name: 'pipeline templates', ok: false, required: true, detail: (e as Error).message });
  }
  for (const f of ['nicesrc', 'nicesink', 'dtlssrtpenc', 'dtlssrtpdec', 'srtpenc', 'rtpbin']) element('webrtc transport', f, true);
  for (const f of UPLOAD_ELEMENTS) element('uploads (decode probe)', f, false);
  for (const c of ['mp4', 'webm'] as const) for (const f of renderFactories(c)) element(`render ${c}`, f, false);
  for (const f of CLIENT_ELEMENTS) element('client', f, false);
  for (const f of LIVE_AUDIO_ELEMENTS) element('live audio', f, false);
  return { gstreamer: version, checks, ok: checks.every((c) => c.ok || !c.required) };
}

export function formatReport(r: DoctorReport): string {
  const lines: string[] = [];
  let group = '';
  for (const c of r.checks) {
    if (c.group !== group) {
      group = c.group;
      lines.push(`${group}:`);
    }
    const mark = c.ok ? 'ok     ' : c.required ? 'MISSING' : 'warning';
    lines.push(`  ${mark} ${c.name}${c.detail ? `  ${c.detail}` : ''}${c.fix ? `\n          fix: ${c.fix}` : ''}`);
  }
  const missing = r.checks.filter((c) => !c.ok);
  const pkgs = [...new Set(missing.map((c) => /^apt-get install (.+)$/.exec(c.fix ?? '')?.[1]).filter(Boolean))];
  lines.push('');
  if (pkgs.length) lines.push(`install what is missing: apt-get install ${pkgs.join(' ')}`);
  lines.push(r.ok ? (missing.length ? `usable, with ${missing.length} warning(s)` : 'all checks passed') : 'NOT usable: required checks failed');
  return lines.join('\n');
}
