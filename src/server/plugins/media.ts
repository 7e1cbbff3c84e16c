import { availableParallelism } from 'node:os';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../../config/schema.js';
import { MediaCheck } from '../../uploads/media-check.js';
import { ProbeRunner } from '../../uploads/probe-runner.js';

/** Decode probes in flight at once (each is a child process decoding a first buffer). */
const PROBE_CONCURRENCY = Math.max(1, Math.min(4, availableParallelism()));
/** Probes waiting beyond this answer 503 AT_CAPACITY instead of queueing without bound. */
const PROBE_QUEUE = 32;

/** Decorates the app with the media check that uploads and offers share (one probe pool, one verdict cache). */
export default fp<{ config: ServerConfig }>(
  async function mediaPlugin(app: FastifyInstance, { config }) {
    const probes = new ProbeRunner({
      concurrency: PROBE_CONCURRENCY,
      maxQueued: PROBE_QUEUE,
      timeoutMs: config.upload.probeTimeoutMs,
      retryAfterS: config.sessions.retryAfterS,
      pluginPath: config.pluginPath,
      logger: app.log,
    });
    const { maxAudioBytes, maxImageBytes, maxImageSide, maxImagePixels } = config.upload;
    const media = new MediaCheck({
      limits: { maxAudioBytes, maxImageBytes, maxImageSide, maxImagePixels },
      extensions: { audio: config.media.audioExtensions, image: config.media.imageExtensions },
      probes,
      logger: app.log,
    });
    app.decorate('media', media);
    // Start the probe workers with the app (not awaited), so the first offer or upload need not wait for them.
    app.addHook('onReady', async () => void media.warm());
    app.addHook('onClose', async () => probes.close());
  },
  { name: 'media' },
);
