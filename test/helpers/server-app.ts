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

/**
 * The operator token of test servers. Unless `asOperator` is false, app.inject() sends it when a request has
 * no Authorization of its own, so tests of other features need not carry session tokens around; the access
 * tests (server-access.test.ts) use `asOperator: false` and real session tokens.
 */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export async function testServer(env: Record<string, string> = {}, opts: { asOperator?: boolean } = {}): Promise<TestServer> {
  const mediaDir = mkdtempSync(join(tmpdir(), 'ditto-test-media-'));
  copyFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'speech.wav'), join(mediaDir, 'speech.wav'));
  copyFileSync(join(ROOT, 'src', 'server', 'demo', 'media', 'portrait.jpg'), join(mediaDir, 'portrait.jpg'));
  const config = loadConfig({
    env: {
      DITTO_LOG_LEVEL: process.env['DITTO_TEST_LOG_LEVEL'] ?? 'silent',
      DITTO_MEDIA_DIRS: mediaDir,
      DITTO_UPLOAD_DIR: join(mediaDir, 'uploads'),
      DITTO_ICE_LOCAL_ADDRESSES: '127.0.0.1',
      DITTO_AUTH_ADMIN_TOKENS: TEST_ADMIN_TOKEN,
      ...env,
    },
  });
  const app = await buildApp(config);
  if (opts.asOperator !== false) asOperator(app);
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

function asOperator(app: FastifyInstance): void {
  const inject = app.inject.bind(app) as (o?: unknown) => unknown;
  app.inject = ((o?: unknown) => {
    if (o === undefined) return inject();
    const req = (typeof o === 'string' ? { url: o } : o) as { headers?: Record<string, unknown> };
    const has = Object.keys(req.headers ?? {}).some((k) => k.toLowerCase() === 'authorization');
    return inject(has ? req : { ...req, headers: { ...req.headers, authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  }) as FastifyInstance['inject'];
}

/** The predecessor's payload shape with our sample media. */
export function offerPayload(sdp: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sdp, type: 'offer', audio_path: 'speech.wav', source_path: 'portrait.jpg', ...extra };
}
