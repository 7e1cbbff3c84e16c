/**
 * Builds the real Fastify app for inject/listen tests: config from the one schema (as env vars would give it),
 * a temporary media directory holding links to the shipped sample media, ICE restricted to 127.0.0.1.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import type { ServerConfig } from '../../src/config/schema.js';
import { buildApp } from '../../src/server/app.js';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CHROMIUM_OFFER_FIXTURE = join(ROOT, 'test', 'fixtures', 'chromium-offer.sdp');

export interface TestServer {
  app: FastifyInstance;
  config: ServerConfig;
  mediaDir: string;
  cleanup(): Promise<void>;
}

export async function testServer(env: Record<string, string> = {}): Promise<TestServer> {
  const mediaDir = mkdtempSync(join(tmpdir(), 'ditto-test-media-'));
  copyFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav'), join(mediaDir, 'speech.wav'));
  copyFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg'), join(mediaDir, 'portrait.jpg'));
  const config = loadConfig({
    env: {
      DITTO_LOG_LEVEL: process.env['DITTO_TEST_LOG_LEVEL'] ?? 'silent',
      DITTO_MEDIA_DIRS: mediaDir,
      DITTO_UPLOAD_DIR: join(mediaDir, 'uploads'),
      DITTO_ICE_LOCAL_ADDRESSES: '127.0.0.1',
      ...env,
    },
  });
  const app = await buildApp(config);
  return {
    app,
    config,
    mediaDir,
    async cleanup() {
      await app.close();
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
}

/** The predecessor's payload shape with our sample media. */
export function offerPayload(sdp: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sdp, type: 'offer', audio_path: 'speech.wav', source_path: 'portrait.jpg', ...extra };
}
