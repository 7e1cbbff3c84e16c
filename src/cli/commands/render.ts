import { resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { loadConfig } from '../../config/load.js';
import { AppError } from '../../errors.js';
import { render } from '../../render/render.js';
import { containerFor, type RenderSpec } from '../../render/render-pipeline.js';
import { createGstLoader } from '../../gst/loader.js';
import { parseArgs } from '../args.js';
import type { Command } from '../command.js';
import { ProgressPrinter } from '../progress.js';

const HELP = `Usage: ditto-gst render --image <portrait> --audio <speech> --out <video.mp4|video.webm> [options]

Animates the portrait to the speech with the dittotalkinghead element in offline mode (as fast as the
backend allows, not paced to real time) and writes MP4 (H.264 + AAC) or WebM (VP8 + Opus).

Options:
  --image, -i <file>            portrait: PNG, JPEG or WebP
  --audio, -a <file>            speech: any format GStreamer decodes (WAV, MP3, M4A, FLAC, Ogg, WebM...)
  --out, -o <file>              output video; written to a temporary name and renamed when complete
  --format <mp4|webm>           container (default: from the output's extension)
  --frame-scale <0.1..1>        output size relative to the portrait (default: config element.frameScale)
  --sampling-timesteps <5..100> diffusion steps (default: config element.samplingTimesteps)
  --chunk-config <p,c,f>        past,current,future frames per chunk (default: config element.chunkConfig)
  --backend <name>              animation backend (default: config element.backend)
  --plugin-path <dir>           where the dittotalkinghead plugin is (default: config pluginPath)
  --quiet                       no progress output
Defaults come from DITTO_* variables and --config as for "serve".`;

const ALIASES: Record<string, string> = { '-i': '--image', '-a': '--audio', '-o': '--out' };
const KNOWN = new Set(['image', 'audio', 'out', 'format', 'frame-scale', 'sampling-timesteps', 'chunk-config', 'backend', 'plugin-path', 'quiet', 'config']);

function num(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new AppError('VALIDATION_FAILED', `--${flag} takes a number (got "${text}")`);
  return n;
}

async function inputFile(flag: string, path: string | undefined): Promise<string> {
  if (!path) throw new AppError('VALIDATION_FAILED', `--${flag} is required (see --help)`);
  const abs = resolve(path);
  const info = await stat(abs).catch(() => null);
  if (!info?.isFile()) throw new AppError('MEDIA_NOT_FOUND', `--${flag}: no such file ${path}`);
  return abs;
}

export const renderCommand: Command = {
  name: 'render',
  help: () => HELP,
  async run(argv) {
    const args = parseArgs(argv.map((a) => ALIASES[a] ?? a), new Set(['quiet']));
    const unknown = Object.keys(args.flags).filter((f) => !KNOWN.has(f));
    if (unknown.length) throw new AppError('VALIDATION_FAILED', `unknown option --${unknown[0]} (see --help)`);
    if (args.positionals.length) throw new AppError('VALIDATION_FAILED', `unexpected argument ${args.positionals[0]} (see --help)`);
    const f = args.flags;
    const config = loadConfig({ env: process.env, ...(f['config'] ? { configFile: f['config'] } : {}) });
    const out = f['out'];
    if (!out) throw new AppError('VALIDATION_FAILED', '--out is required (see --help)');
    const chunk = f['chunk-config']?.split(',').map((p) => num('chunk-config', p, NaN)) ?? [...config.element.chunkConfig];
    const spec: RenderSpec = {
      imagePath: await inputFile('image', f['image']),
      audioPath: await inputFile('audio', f['audio']),
      outputPath: resolve(out),
      container: containerFor(out, f['format']),
      frameScale: num('frame-scale', f['frame-scale'], config.element.frameScale),
      samplingTimesteps: num('sampling-timesteps', f['sampling-timesteps'], config.element.samplingTimesteps),
      chunkConfig: chunk as unknown as [number, number, number],
      backend: f['backend'] ?? config.element.backend,
    };
    const gst = await createGstLoader(f['plugin-path'] ? resolve(f['plugin-path']) : config.pluginPath)();
    const quiet = f['quiet'] === 'true';
    const printer = new ProgressPrinter(process.stderr);
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const result = await render(gst, spec, {
        signal: abort.signal,
        onProgress: quiet
          ? undefined
          : (p) => {
              const fps = p.elapsedS > 0 ? p.frames / p.elapsedS : 0;
              const total = p.totalS ?? null;
              printer.update({
                fraction: total ? p.renderedS / total : null,
                text: `${p.renderedS.toFixed(1)}${total ? `/${total.toFixed(1)}` : ''} s  ${p.frames} frames  ${fps.toFixed(0)} fps`,
              });
            },
      });
      const line = `wrote ${result.outputPath}: ${result.frames} frames, ${result.durationS.toFixed(2)} s of video in ${result.elapsedS.toFixed(2)} s (${result.speed.toFixed(1)}x real time)`;
      if (quiet) process.stdout.write(line + '\n');
      else printer.done(line);
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
