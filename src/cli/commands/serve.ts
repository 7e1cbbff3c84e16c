import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../config/load.js';
import { configOptions } from '../../config/options.js';
import type { ServerConfig } from '../../config/schema.js';
import { buildApp } from '../../server/app.js';
import { parseArgs } from '../args.js';
import { configOptionsHelp } from '../help.js';
import type { Command } from '../command.js';

function publicUrl(config: ServerConfig, port: number): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * SIGTERM (an orchestrator stopping the pod) drains: /readyz 503 at once, new offers 503 + Retry-After, running
 * sessions may finish until lifecycle.drainTimeoutS, then the rest close; exit 0. SIGINT (Ctrl-C) closes at
 * once. A second signal exits without waiting.
 */
function handleSignals(app: FastifyInstance): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      app.log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    closing = true;
    app.log.info({ signal, sessions: app.sessions.size }, signal === 'SIGTERM' ? 'draining before shutdown' : 'shutting down');
    const drained =
      signal === 'SIGTERM'
        ? app.lifecycle.drain().then(({ closedAtDeadline }) => app.log.info({ closed_at_deadline: closedAtDeadline }, 'drained; closing'))
        : Promise.resolve();
    drained
      .then(() => app.close())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          app.log.error({ err: e }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export const serveCommand: Command = {
  name: 'serve',
  help: () => `Usage: ditto-gst serve [options]\n\nOptions (flag > env > config file > default):\n${configOptionsHelp()}`,
  async run(argv) {
    const booleans = new Set(configOptions().filter((o) => o.kind === 'boolean').map((o) => o.flag.slice(2)));
    const args = parseArgs(argv, booleans);
    if (args.positionals.length) throw new Error(`serve takes no positional arguments (got ${args.positionals.join(' ')})`);
    const config = loadConfig({ flags: args.flags, env: process.env });
    const app = await buildApp(config);
    // Load GStreamer and probe the encoders now: the first viewer should not pay for plugin loading, and a
    // broken installation should stop the server here rather than fail every offer.
    let usable: Awaited<ReturnType<typeof app.offers.usableTemplates>>;
    try {
      usable = await app.offers.usableTemplates();
      if (usable.size === 0) throw new Error('no usable session pipeline (missing GStreamer elements; see the log above)');
      await app.listen({ host: config.host, port: config.port });
    } catch (e) {
      await app.close();
      throw e;
    }
    handleSignals(app);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = publicUrl(config, port);
    app.log.info({ url, pipelines: [...usable.values()].map((t) => t.name) }, 'ditto-gst serving');
    process.stdout.write(`ditto-gst serving on ${url}\ndemo: ${url}/demo\n`);
    return null; // keeps running until a signal
  },
};
