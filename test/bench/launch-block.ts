/**
 * How long the JS thread goes without an event-loop turn while session graphs (vp8.pipeline, webrtcbin, the
 * element) are launched: the first launch in a process (plugins load), one at a time warm, and 8 at once.
 * A turn is a setImmediate callback; the longest gap between two turns is the longest the event loop (every
 * other session's signalling) waited. Run as its own process (`node dist/test/bench/launch-block.js`, with
 * GST_PLUGIN_PATH naming the element), so the first launch really is the process's first; prints JSON.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pipeline, gstVersion } from '../../src/gst/index.js';
import { loadTemplate, renderTemplate, type TemplateValues } from '../../src/pipelines/pipeline-template.js';

export interface LaunchBlockFigures {
  /** Per case: median ms for the launches to resolve, median and max of the longest JS-thread block. */
  [label: string]: { rounds: number; launches: number; resolvedMs: number; blockMs: number; blockMaxMs: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

async function round(description: string, n: number): Promise<{ resolvedMs: number; blockMs: number }> {
  let last = 0;
  let block = 0;
  let spinning = true;
  const spin = () => {
    const now = performance.now();
    block = Math.max(block, now - last);
    last = now;
    if (spinning) setImmediate(spin);
  };
  await new Promise((r) => setImmediate(r));
  last = performance.now();
  setImmediate(spin);
  const t0 = performance.now();
  const pipelines = await Promise.all(Array.from({ length: n }, () => Pipeline.launch(description)));
  const resolvedMs = performance.now() - t0;
  await new Promise((r) => setImmediate(r)); // the turn right after the last launch resolved
  spinning = false;
  await Promise.all(pipelines.map((p) => p.close()));
  return { resolvedMs, blockMs: block };
}

export async function launchBlock(root: string): Promise<LaunchBlockFigures> {
  const media = join(root, 'src', 'server', 'demo', 'media');
  const values: TemplateValues = {
    audio_source: 'file',
    audio_path: join(media, 'speech.wav'),
    source_image: join(media, 'portrait.jpg'),
    frame_scale: 0.5,
    sampling_timesteps: 10,
    chunk_config: [3, 5, 2],
    chunk_sleep: 0,
    backend: 'builtin',
    video_pt: 96,
    audio_pt: 111,
    video_ssrc: 1234,
    audio_ssrc: 5678,
    webrtc_latency: 50,
    video_hold_ms: 55,
    h264_profile_level_id: '42e01f',
  };
  const description = renderTemplate(loadTemplate(join(root, 'pipelines', 'vp8.pipeline')), values);
  gstVersion(); // gst_init (the registry) is not a launch's cost
  const figures: LaunchBlockFigures = {};
  for (const [label, n, rounds] of [['first', 1, 1], ['warm x1', 1, 15], ['warm x8', 8, 15]] as const) {
    const r = [];
    for (let i = 0; i < rounds; i++) r.push(await round(description, n));
    figures[label] = {
      rounds,
      launches: n,
      resolvedMs: median(r.map((x) => x.resolvedMs)),
      blockMs: median(r.map((x) => x.blockMs)),
      blockMaxMs: Math.max(...r.map((x) => x.blockMs)),
    };
  }
  return figures;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
  console.log(JSON.stringify(await launchBlock(root)));
}
