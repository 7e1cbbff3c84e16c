/**
 * A decode-probe worker process (probe-runner.ts forks a few): untrusted media is demuxed and decoded here,
 * never in the server, so a decoder that crashes or hangs costs this process only (the runner replaces it).
 * IPC: receives {id, path, kind, timeoutMs}, answers {id, ok, reason?, timedOut?}; {ready: true} once GStreamer
 * is loaded. One probe at a time. argv[2]: the directory of our plugin (images are probed with its
 * dittoimagesrc).
 */
import { AppError } from '../errors.js';
import { createGstLoader } from '../gst/loader.js';
import { probeDecodes } from './probe.js';
import type { UploadKind } from './sniff.js';

interface Request {
  id: number;
  path: string;
  kind: UploadKind;
  timeoutMs: number;
}

const gst = await createGstLoader(process.argv[2] ?? '')();
gst.gstVersion(); // initialise GStreamer (and its registry) before the first file
process.on('message', (msg: Request) => {
  void (async () => {
    try {
      await probeDecodes(gst, msg.path, msg.kind, msg.timeoutMs);
      process.send?.({ id: msg.id, ok: true });
    } catch (e) {
      const timedOut = e instanceof AppError && (e.details as { timedOut?: boolean } | undefined)?.timedOut === true;
      process.send?.({ id: msg.id, ok: false, reason: (e as Error).message, timedOut });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
