import { rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { AppError } from '../errors.js';
import type { GstApi } from '../gst/loader.js';
import { renderDescription, RENDER_ELEMENT, RENDER_PROGRESS, type RenderSpec } from './render-pipeline.js';

/**
 * Runs one offline render to completion. The encoder writes a temporary file next to the output, renamed
 * into place only after EOS: an interrupted or failed render leaves no half-written video behind.
 */

export interface RenderProgress {
  frames: number;
  /** Seconds of video rendered (frames / 25). */
  renderedS: number;
  /** The audio's duration once progressreport has reported it, else null. */
  totalS: number | null;
  elapsedS: number;
}

export interface RenderResult {
  outputPath: string;
  frames: number;
  durationS: number;
  elapsedS: number;
  /** Rendered seconds per wall-clock second (> 1: faster than real time). */
  speed: number;
}

export interface RenderOptions {
  onProgress?: (p: RenderProgress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

const FPS = 25;

export async function render(gst: Pick<GstApi, 'Pipeline'>, spec: Omit<RenderSpec, 'outputPath'> & { outputPath: string }, options: RenderOptions = {}): Promise<RenderResult> {
  const finalPath = spec.outputPath;
  const tempPath = join(dirname(finalPath), `.${basename(finalPath)}.part`);
  const pipeline = await gst.Pipeline.launch(renderDescription({ ...spec, outputPath: tempPath }), { name: 'render' });
  const started = Date.now();
  let totalS: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  let ok = false;
  let finalFrames = 0;
  const frames = (): number => {
    try {
      return Number(pipeline.element(RENDER_ELEMENT).get('frames-out') ?? 0);
    } catch {
      return 0;
    }
  };
  const report = () => {
    const n = frames();
    options.onProgress?.({ frames: n, renderedS: n / FPS, totalS, elapsedS: (Date.now() - started) / 1000 });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      pipeline.on('error', (e) => reject(new AppError('PIPELINE_START_FAILED', `render failed in ${e.source}: ${e.message}`, { details: { debug: e.debug } })));
      pipeline.on('eos', () => resolve());
      pipeline.on('element', (m) => {
        if (m.source === RENDER_PROGRESS && m.name === 'progress' && typeof m.fields['total'] === 'number' && m.fields['total'] > 0) {
          totalS = m.fields['total'];
        }
      });
      const interrupted = () => reject(new AppError('VALIDATION_FAILED', 'render interrupted'));
      // Aborted while the graph was being parsed: the pipeline is closed below all the same.
      if (options.signal?.aborted) interrupted();
      else options.signal?.addEventListener('abort', interrupted, { once: true });
      timer = setInterval(report, options.progressIntervalMs ?? 250);
      pipeline.setState('playing').catch(reject);
    });
    ok = true;
  } finally {
    clearInterval(timer);
    finalFrames = frames();
    await pipeline.close();
    if (ok) await rename(tempPath, finalPath);
    else await unlink(tempPath).catch(() => undefined);
    if (ok) options.onProgress?.({ frames: finalFrames, renderedS: finalFrames / FPS, totalS: finalFrames / FPS, elapsedS: (Date.now() - started) / 1000 });
  }
  const elapsedS = (Date.now() - started) / 1000;
  const durationS = finalFrames / FPS;
  return { outputPath: finalPath, frames: finalFrames, durationS, elapsedS, speed: durationS / Math.max(elapsedS, 1e-3) };
}
