import { AppError } from '../errors.js';
import type { GstApi } from '../gst/loader.js';
import { quoteLaunchString } from '../pipelines/pipeline-template.js';
import type { UploadKind } from './sniff.js';

/**
 * A real decode probe, the way gst-discoverer does it: `filesrc ! <decoder> ! <raw caps> ! fakesink` taken to
 * PAUSED. Prerolling means a demuxer and a decoder accepted the stream and produced a first raw buffer of
 * the expected kind, so a file that only starts with the right magic bytes, or holds only a video track where
 * audio is expected, is refused. Audio goes through decodebin, as the session graphs read it; images through
 * gdkpixbufdec, the loader the element itself uses (gdk-pixbuf), which decodes the whole picture before it
 * prerolls: a cut-off JPEG that jpegdec would half-show is refused here as the element would refuse it.
 * Bounded in time; the pipeline is always closed. Run it out of process (probe-child.ts) for untrusted files.
 */

const DECODE: Record<UploadKind, string> = { audio: 'decodebin ! audio/x-raw', image: 'gdkpixbufdec ! video/x-raw' };

export async function probeDecodes(gst: Pick<GstApi, 'Pipeline'>, path: string, kind: UploadKind, timeoutMs: number): Promise<void> {
  const description = `filesrc location=${quoteLaunchString(path)} ! ${DECODE[kind]} ! fakesink sync=false`;
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
