import type { ServerConfig } from '../config/schema.js';
import type { OfferService } from '../offers/offer-service.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { UploadService } from '../uploads/upload-service.js';
import type { DittoWorkerPool } from '../workers/worker-pool.js';
import type { AppMetrics } from './plugins/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    appConfig: ServerConfig;
    sessions: SessionManager;
    offers: OfferService;
    /** The Ditto worker pool (backend "ditto"), null for other backends. */
    workers: DittoWorkerPool | null;
    metrics: AppMetrics;
    uploads: UploadService;
  }
}
