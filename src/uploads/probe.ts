import { AppError } from '../errors.js';
import type { GstApi } from '../gst/loader.js';
import { quoteLaunchString } from '../pipelines/pipeline-template.js';
import type { UploadKind } from './sniff.js';

/**
 * A real decode probe, the way gst-discoverer does it: a source and decoder into a fakesink, taken to PAUSED.
 * Prerolling means the file decoded to a first raw buffer of the expected kind, so a file that only starts
 * with the right magic bytes, or holds only a video track where audio is expected, is refused. Audio goes
 * through decodebin, as the session graphs read it. Images go through dittoimagesrc, which loads them with
 * dittotalkinghead's own loader before it prerolls: what passes here is what a session can load (a cut-off
 * PNG is refused; a JPEG cut off in its scan is shown with the rest grey, here and in the session alike).
 * Bounded in time; the pipeline is always closed. Run it out of process (probe-child.ts) for untrusted files.
 */

const PROBE: Record<UploadKind, (location: string) => string> = {
  audio: (location) => `filesrc location=${location} ! decodebin ! audio/x-raw ! fakesink sync=false`,
  image: (location) => `dittoimagesrc location=${location} ! fakesink sync=false`,
};

export async function probeDecodes(gst: Pick<GstApi, 'Pipeline'>, path: string, kind: UploadKind, timeoutMs: number): Promise<void> {
  const description = PROBE[kind](quoteLaunchString(path));
  const pipeline = await gst.Pipeline.launch(description, { name: 'upload-probe' });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string, timedOut = false) =>
        reject(new AppError('MEDIA_DECODE_FAILED', `the ${kind} file cannot be decoded: ${why}`, { details: { timedOut } }));
      pipeline.on('error', (e) => fail(e.message));
      pipeline.on('state-changed', (s) => {
        if (s.current === 'paused' || s.current === 'playing') resolve();
      });
      timer = setTimeout(() => fail(`no decoded ${kind} within ${timeoutMs} ms`, true), timeoutMs);
      pipeline.setState('paused').then((r) => {
        if (r === 'success' || r === 'no-preroll') resolve();
      }, (e: Error) => fail(e.message));
    });
  } finally {
    clearTimeout(timer);
    await pipeline.close();
  }
}
