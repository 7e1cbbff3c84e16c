import { AppError } from '../errors.js';
import type { GstApi } from '../gst/loader.js';
import { quoteLaunchString } from '../pipelines/pipeline-template.js';
import type { UploadKind } from './sniff.js';

/**
 * A real decode probe, the way gst-discoverer does it: `filesrc ! decodebin ! <raw caps> ! fakesink` taken to
 * PAUSED. Prerolling means a demuxer and a decoder accepted the stream and produced a first raw buffer of
 * the expected kind (audio for audio, a picture for images), so a file that only starts with the right
 * magic bytes, or holds only a video track where audio is expected, is refused. Bounded in time; the
 * pipeline is always closed.
 */

const RAW_CAPS: Record<UploadKind, string> = { audio: 'audio/x-raw', image: 'video/x-raw' };

export async function probeDecodes(gst: Pick<GstApi, 'Pipeline'>, path: string, kind: UploadKind, timeoutMs: number): Promise<void> {
  const description = `filesrc location=${quoteLaunchString(path)} ! decodebin ! ${RAW_CAPS[kind]} ! fakesink sync=false`;
  const pipeline = gst.Pipeline.launch(description, { name: 'upload-probe' });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => reject(new AppError('MEDIA_DECODE_FAILED', `the ${kind} file cannot be decoded: ${why}`));
      pipeline.on('error', (e) => fail(e.message));
      pipeline.on('state-changed', (s) => {
        if (s.current === 'paused' || s.current === 'playing') resolve();
      });
      timer = setTimeout(() => fail(`no decoded ${kind} within ${timeoutMs} ms`), timeoutMs);
      pipeline.setState('paused').then((r) => {
        if (r === 'success' || r === 'no-preroll') resolve();
      }, (e: Error) => fail(e.message));
    });
  } finally {
    clearTimeout(timer);
    await pipeline.close();
  }
}
