import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../../config/schema.js';
import type { GstLoader } from '../../sessions/gst-api.js';
import { OfferService } from '../../sessions/offer-service.js';
import type { PipelineCatalog } from '../../sessions/pipeline-template.js';
import { SessionManager } from '../../sessions/session-manager.js';
import { createMetrics } from '../metrics.js';

export interface SessionsPluginOptions {
  config: ServerConfig;
  catalog: PipelineCatalog;
  loadGst: GstLoader;
}

/** Decorates the app with the session manager, the offer service and metrics; closes all sessions on close. */
export default fp<SessionsPluginOptions>(
  async function sessionsPlugin(app: FastifyInstance, { config, catalog, loadGst }) {
    const sessions = new SessionManager({
      maxSessions: config.sessions.max,
      retryAfterS: config.sessions.retryAfterS,
      timeouts: {
        answerCapsWaitMs: config.sessions.answerCapsWaitMs,
        iceGatherTimeoutMs: config.sessions.iceGatherTimeoutMs,
        connectTimeoutMs: config.sessions.connectTimeoutMs,
        disconnectedGraceMs: config.sessions.disconnectedGraceMs,
        rtcpSilenceTimeoutMs: config.sessions.rtcpSilenceTimeoutMs,
      },
      ice: {
        ...(config.ice.stunServer ? { stunServer: config.ice.stunServer } : {}),
        turnServers: config.ice.turnServers,
        localAddresses: config.ice.localAddresses,
      },
      loadGst,
      logger: app.log,
    });
    const offers = new OfferService({ config, catalog, sessions, loadGst });
    offers.onDisabled = (t, missing) =>
      app.log.warn({ pipeline: t.name, codec: t.codec, missing }, `pipeline ${t.name} disabled: missing GStreamer elements ${missing.join(', ')}`);
    sessions.on('opened', (s) => app.log.info({ session_id: s.id, sessions: sessions.size }, 'session opened'));
    sessions.on('closed', (s, { reason, detail }) =>
      app.log.info({ session_id: s.id, reason, detail, sessions: sessions.size }, 'session closed'),
    );
    app.decorate('appConfig', config);
    app.decorate('sessions', sessions);
    app.decorate('offers', offers);
    app.decorate('metrics', createMetrics(sessions));
    // Graceful shutdown: app.close() (SIGTERM in the CLI) ends every session and waits for the pipelines.
    app.addHook('onClose', async () => {
      await sessions.closeAll('shutdown');
    });
  },
  { name: 'sessions' },
);
