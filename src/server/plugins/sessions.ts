import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../../config/schema.js';
import type { GstLoader } from '../../gst/loader.js';
import { IceServers } from '../../ice/ice-servers.js';
import { OfferService } from '../../offers/offer-service.js';
import { prewarmElements } from '../../pipelines/prewarm.js';
import type { PipelineCatalog } from '../../pipelines/pipeline-template.js';
import { SessionManager } from '../../sessions/session-manager.js';
import { DittoWorkerPool } from '../../workers/worker-pool.js';

export interface SessionsPluginOptions {
  config: ServerConfig;
  catalog: PipelineCatalog;
  loadGst: GstLoader;
}

/** Decorates the app with the session manager, the offer service and the worker pool; closes all sessions on close. */
export default fp<SessionsPluginOptions>(
  async function sessionsPlugin(app: FastifyInstance, { config, catalog, loadGst }) {
    const iceServers = new IceServers(config.ice);
    const sessions = new SessionManager({
      maxSessions: config.sessions.max,
      retryAfterS: config.sessions.retryAfterS,
      timeouts: {
        iceGatherTimeoutMs: config.sessions.iceGatherTimeoutMs,
        connectTimeoutMs: config.sessions.connectTimeoutMs,
        disconnectedGraceMs: config.sessions.disconnectedGraceMs,
        rtcpSilenceTimeoutMs: config.sessions.rtcpSilenceTimeoutMs,
      },
      // STUN/TURN, port range, ICE-TCP; TURN REST credentials minted per session (src/ice)
      ice: (id) => iceServers.forAgent(id),
      publicAddress: config.ice.publicAddress,
      loadGst,
      logger: app.log,
      bitrate: config.bitrate.adaptive ? { minBps: config.bitrate.minKbps * 1000, maxBps: config.bitrate.maxKbps * 1000 } : null,
    });
    // backend "ditto": every session takes a worker of the warm pool (reserved before its pipeline is built).
    const workers = config.element.backend === 'ditto' ? new DittoWorkerPool(config.worker, app.log, config.sessions.retryAfterS) : null;
    const offers = new OfferService({ config, catalog, sessions, loadGst, workers, media: app.media });
    offers.onSelected = ({ fallbacks, disabled }) => {
      for (const f of fallbacks) {
        app.log.warn(
          { codec: f.codec, configured: f.configured.template, missing: f.configured.missing, used: f.used },
          `${f.codec}: ${f.configured.template} needs ${f.configured.missing.join(', ')} (not available here); using ${f.used} instead`,
        );
      }
      for (const d of disabled) {
        app.log.warn({ codec: d.codec, tried: d.tried }, `${d.codec} disabled: no usable pipeline (${d.tried.map((x) => `${x.template} needs ${x.missing.join(', ')}`).join('; ')})`);
      }
    };
    sessions.on('opened', (s) => app.log.info({ session_id: s.id, sessions: sessions.size }, 'session opened'));
    sessions.on('closed', (s, { reason, detail }) =>
      app.log.info({ session_id: s.id, reason, detail, sessions: sessions.size }, 'session closed'),
    );
    app.decorate('appConfig', config);
    app.decorate('sessions', sessions);
    app.decorate('offers', offers);
    app.decorate('workers', workers);
    // Once serving, take the one-off costs of GStreamer (plugin loading, the DTLS certificate) before the first
    // viewer does. A failure here only costs that viewer the time; the first offer reports any real problem.
    let warming: Promise<void> = Promise.resolve();
    app.addHook('onListen', async () => {
      const started = performance.now();
      warming = loadGst().then((gst) => prewarmElements(gst, catalog.byCodec.values())).then(
        (factories) => app.log.info({ elements: factories.length, ms: Math.round(performance.now() - started) }, 'GStreamer warmed up'),
        (err: unknown) => app.log.warn({ err }, 'GStreamer warm-up failed'),
      );
      await warming;
    });
    // Graceful shutdown: app.close() (SIGTERM in the CLI) ends every session and waits for the pipelines,
    // the warm-up (its graph may still be parsing right after listen) and any other launch in progress: see
    // Pipeline.launchesSettled.
    app.addHook('onClose', async () => {
      await sessions.closeAll('shutdown');
      await warming;
      await (await loadGst()).Pipeline.launchesSettled();
    });
  },
  { name: 'sessions', dependencies: ['media'] },
);
