import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../../config/package-root.js';
import { ELEMENT_LIMITS, type ServerConfig } from '../../config/schema.js';
import { IceServers } from '../../ice/ice-servers.js';

/**
 * The demo page (/demo, its script and stylesheet, read once at startup from src/server/demo, which tsc
 * does not copy: it is found from the package root) and GET /demo/config, which tells the page the sample
 * media, the server's defaults and the allowed ranges so its controls match what the server accepts.
 */

const DEMO_DIR = join(packageRoot(), 'src', 'server', 'demo');
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'demo.js': 'text/javascript; charset=utf-8',
  'demo.css': 'text/css; charset=utf-8',
};

/** The first file in the media directories with an allowed extension, preferring the shipped sample's name. */
function sample(config: ServerConfig, preferred: string, extensions: readonly string[]): string | null {
  for (const dir of config.media.dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    if (names.includes(preferred)) return preferred;
    const any = names.find((n) => extensions.includes(extname(n).toLowerCase()));
    if (any) return any;
  }
  return null;
}


export default async function demoRoutes(app: FastifyInstance) {
  const config = app.appConfig;
  const iceServers = new IceServers(config.ice);
  const content = Object.fromEntries(Object.keys(FILES).map((name) => [name, readFileSync(join(DEMO_DIR, name))]));
  const send = (name: string) => async (_req: unknown, reply: import('fastify').FastifyReply) =>
    reply.header('content-type', FILES[name]).header('cache-control', 'no-cache').send(content[name]);

  app.get('/demo', send('index.html'));
  app.get('/demo/', send('index.html'));
  app.get('/demo/demo.js', send('demo.js'));
  app.get('/demo/demo.css', send('demo.css'));

  app.get('/demo/config', async () => {
    const { element } = config;
    return {
      samples: {
        audio_path: sample(config, 'speech.wav', config.media.audioExtensions),
        source_path: sample(config, 'portrait.jpg', config.media.imageExtensions),
      },
      defaults: {
        frame_scale: element.frameScale,
        sampling_timesteps: element.samplingTimesteps,
        chunk_config: element.chunkConfig,
        chunk_sleep: element.chunkSleepS,
      },
      ranges: {
        frame_scale: ELEMENT_LIMITS.frameScale,
        sampling_timesteps: ELEMENT_LIMITS.samplingTimesteps,
        chunk_part: { min: ELEMENT_LIMITS.chunkPart.min, max: ELEMENT_LIMITS.chunkSum.max - 2 * ELEMENT_LIMITS.chunkPart.min },
        chunk_sum: ELEMENT_LIMITS.chunkSum,
        chunk_sleep: ELEMENT_LIMITS.chunkSleepS,
      },
      upload: {
        max_audio_bytes: config.upload.maxAudioBytes,
        max_image_bytes: config.upload.maxImageBytes,
        audio_extensions: config.media.audioExtensions,
        image_extensions: config.media.imageExtensions,
      },
      // STUN only: the page asks GET /webrtc/ice-servers for TURN credentials of its own before each session
      iceServers: iceServers.forClient('demo').iceServers.filter((s) => s.username === undefined),
    };
  });
}
