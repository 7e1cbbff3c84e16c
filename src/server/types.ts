import type { ServerConfig } from '../config/schema.js';
import type { OfferService } from '../sessions/offer-service.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { AppMetrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    appConfig: ServerConfig;
    sessions: SessionManager;
    offers: OfferService;
    metrics: AppMetrics;
  }
}
