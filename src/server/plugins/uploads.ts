import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../../config/schema.js';
import type { GstLoader } from '../../gst/loader.js';
import { UploadService } from '../../uploads/upload-service.js';

/** How often the retention policy runs besides after each upload (age limits need a clock, not a request). */
const PRUNE_INTERVAL_MS = 10 * 60 * 1000;

/** Decorates the app with the upload service and keeps the upload directory within its retention policy. */
export default fp<{ config: ServerConfig; loadGst: GstLoader }>(
  async function uploadsPlugin(app: FastifyInstance, { config, loadGst }) {
    const uploads = new UploadService(config, loadGst);
    app.decorate('uploads', uploads);
    const prune = async () => {
      try {
        const { removed, totalBytes } = await uploads.store.prune();
        if (removed.length) app.log.info({ removed: removed.length, total_bytes: totalBytes }, 'upload retention: files removed');
      } catch (e) {
        app.log.warn({ err: e }, 'upload retention failed');
      }
    };
    let timer: NodeJS.Timeout | null = null;
    app.addHook('onReady', async () => {
      await prune();
      timer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
      timer.unref();
    });
    app.addHook('onClose', async () => {
      if (timer) clearInterval(timer);
    });
  },
  { name: 'uploads' },
);
