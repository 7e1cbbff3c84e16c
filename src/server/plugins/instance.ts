import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../../config/schema.js';
import { AppError } from '../../errors.js';

/**
 * Scale-out: which instance owns a session. With `instance.id` set, every session's resource URL is under
 * /i/<id> (or under `instance.publicUrl`), so an ingress routes each follow-up (GET/PATCH/DELETE, interrupt,
 * keepalive, the audio WebSocket, WHEP resources) to the pod that holds the session. The server strips its
 * own prefix before routing (`instanceRewriteUrl`, a Fastify constructor option) and answers 421
 * WRONG_INSTANCE to another instance's prefix, so a misrouted request is visible instead of a 404. Every
 * answer carries `X-Ditto-Instance`.
 */

export interface Instance {
  id: string | null;
  /** The URL prefix of this instance's resources ('' without an instance id). */
  base: string;
  /** URL of a path on this instance ('/webrtc/sessions/<id>' -> '<base>/webrtc/sessions/<id>'). */
  url(path: string): string;
}

declare module 'fastify' {
  interface FastifyInstance {
    instance: Instance;
  }
}

const PREFIX = /^\/i\/([^/?#]+)(?=[/?#]|$)/;

export function instanceBase(config: ServerConfig): string {
  const { id, publicUrl } = config.instance;
  return publicUrl !== '' ? publicUrl : id !== '' ? `/i/${id}` : '';
}

/** Fastify's rewriteUrl: /i/<own id>/x -> /x; any other URL as it is. */
export function instanceRewriteUrl(config: ServerConfig): (req: { url?: string }) => string {
  const own = config.instance.id;
  return (req) => {
    const url = req.url ?? '/';
    if (own === '') return url;
    const m = PREFIX.exec(url);
    if (!m || m[1] !== own) return url;
    const rest = url.slice(m[0].length);
    return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
  };
}

export default fp(
  async function instancePlugin(app: FastifyInstance) {
    const id = app.appConfig.instance.id || null;
    const base = instanceBase(app.appConfig);
    app.decorate('instance', { id, base, url: (path: string) => `${base}${path}` } satisfies Instance);
    if (id !== null) {
      app.addHook('onSend', async (_request, reply) => {
        void reply.header('X-Ditto-Instance', id);
      });
    }
    // Only another instance's prefix is left after rewriteUrl.
    app.all('/i/:instance/*', async (request) => {
      const { instance } = request.params as { instance: string };
      throw new AppError('WRONG_INSTANCE', `this is instance ${id ?? '(none)'}, not ${instance}: the request was routed to the wrong server`, {
        details: { instance: id, requested: instance },
      });
    });
  },
  { name: 'instance' },
);
