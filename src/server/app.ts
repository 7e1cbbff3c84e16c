import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { authPlugin, redactUrl } from '../auth/index.js';
import type { ServerConfig } from '../config/schema.js';
import { createGstLoader, type GstLoader } from '../gst/loader.js';
import { IceServers } from '../ice/ice-servers.js';
import { iceRoutes } from '../ice/routes.js';
import { loadPipelineCatalog, type PipelineCatalog } from '../pipelines/pipeline-template.js';
import { whepRoutes } from '../whep/routes.js';
import errorHandling from './plugins/error-handling.js';
import mediaPlugin from './plugins/media.js';
import instancePlugin, { instanceRewriteUrl } from './plugins/instance.js';
import lifecyclePlugin from './plugins/lifecycle.js';
import metricsPlugin from './plugins/metrics.js';
import sessionsPlugin from './plugins/sessions.js';
import uploadsPlugin from './plugins/uploads.js';
import demoRoutes from './routes/demo.js';
import liveAudioRoutes from './routes/live-audio.js';
import statusRoutes from './routes/status.js';
import uploadRoutes from './routes/upload.js';
import webrtcRoutes from './routes/webrtc.js';
import readinessPlugin from './readiness.js';
import './types.js';
import { zodValidatorCompiler } from './validate.js';

export interface AppDeps {
  /** Loads src/gst (default: the real addon, with config.pluginPath on GST_PLUGIN_PATH). */
  loadGst?: GstLoader;
  /** Pipeline templates (default: loaded and validated from config.pipelines). */
  catalog?: PipelineCatalog;
  /** Fastify logger option (default: pino at config.logLevel). */
  logger?: FastifyServerOptions['logger'];
}

/**
 * The Fastify app: plugins for cross-cutting parts (errors, sessions, metrics, uploads), route plugins for the API.
 * Building it loads and checks the pipeline templates, so a broken template fails here, not at the first offer.
 */
export async function buildApp(config: ServerConfig, deps: AppDeps = {}): Promise<FastifyInstance> {
  const catalog =
    deps.catalog ??
    loadPipelineCatalog(config.pipelines.dir, { VP8: config.pipelines.vp8, H264: config.pipelines.h264 });
  const loadGst = deps.loadGst ?? createGstLoader(config.pluginPath);

  const app = Fastify({
    logger: deps.logger ?? {
      level: config.logLevel,
      // Fastify's request fields, with a WebSocket's ?token= kept out of the logs.
      serializers: {
        req: (req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) => ({
          method: req.method,
          url: redactUrl(req.url ?? ''),
          host: req.host,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
    },
    bodyLimit: config.bodyLimitBytes,
    // JSON only: anything else answers 415 in our error shape.
    return503OnClosing: true,
    // behind an ingress: the client's address (per-client offer rate limit) from X-Forwarded-For
    trustProxy: config.auth.trustProxy,
    // scale-out: /i/<this instance>/... is routed as /... (plugins/instance.ts)
    rewriteUrl: instanceRewriteUrl(config),
  });
  app.removeContentTypeParser('text/plain');
  // Route schemas are built from zod types (validate.ts) and validated by them.
  app.setValidatorCompiler(zodValidatorCompiler);

  await app.register(errorHandling);
  await app.register(mediaPlugin, { config });
  await app.register(sessionsPlugin, { config, catalog, loadGst });
  await app.register(readinessPlugin);
  await app.register(lifecyclePlugin);
  await app.register(instancePlugin);
  await app.register(authPlugin, { ...config.auth, sessions: app.sessions });
  await app.register(statusRoutes, { loadGstVersion: async () => (await loadGst()).gstVersion() });
  await app.register(metricsPlugin);
  await app.register(uploadsPlugin, { config });
  await app.register(webrtcRoutes);
  const iceServers = new IceServers(config.ice);
  await app.register(iceRoutes(iceServers));
  await app.register(whepRoutes(config, iceServers));
  await app.register(uploadRoutes);
  await app.register(liveAudioRoutes);
  await app.register(demoRoutes);
  return app;
}
