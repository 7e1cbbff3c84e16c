import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ClientSession, type ClientOptions } from '../../client/client.js';
import { checkCodecFits, containerOf, defaultVideoCodec } from '../../client/record.js';
import { ServerApi, serverErrorDetails } from '../../client/server-api.js';
import { loadConfig } from '../../config/load.js';
import type { VideoCodec } from '../../config/schema.js';
import { AppError } from '../../errors.js';
import { createGstLoader } from '../../gst/loader.js';
import { parseArgs } from '../args.js';
import type { Command } from '../command.js';

const HELP = `Usage: ditto-gst client --server <url> --audio <speech> --source <portrait> [options]

A command-line WebRTC receiver (our addon + webrtcbin): offers recvonly video + audio to a ditto-gst server,
records what it receives and/or prints live stats, and deletes its session when it stops: at --duration, at
the end of the session (the server ends it when the audio is over), on Ctrl-C, or when the connection fails.

Inputs (a path that exists here is uploaded first with POST /upload; anything else is a name on the server):
  --server <url>                the server, e.g. http://127.0.0.1:8080
  --api-key <key>               when the server requires API keys (default: env DITTO_API_KEY)
  --audio, -a <file|name>       speech (prefix "server:" to force a server-side name)
  --source, -s <file|name>      portrait (prefix "server:" to force a server-side name)
Output:
  --record, -o <file>           write the stream as received: .mkv (VP8 or H.264), .webm (VP8), .mp4 (H.264);
                                Opus audio; finished with EOS so the file is complete and seekable
  --stats                       print a stats line every second (fps, resolution, bitrate, A/V, loss, jitter)
  --duration <s>                stop after this many seconds of media (default: until the session ends)
Tuning (sent to the server; its defaults apply when not given):
  --frame-scale <0.1..1>        output size relative to the portrait
  --sampling-timesteps <n>      diffusion steps
  --chunk-config <p,c,f>        past,current,future frames per chunk
  --chunk-sleep <s>             pause between chunks, seconds
Connection:
  --video-codec <vp8|h264>      codec to offer (default: h264 for .mp4, else vp8)
  --latency <ms>                receive jitterbuffer latency (default 100)
  --ice-local-address <ip,...>  gather ICE candidates on these local addresses only (default: all)
  --stun <stun://host:port>     STUN server
  --connect-timeout <ms>        give up when not connected by then (default 10000)

Exit code: 0 when the session ran and ended as above, 1 on any error (the server's error code and message
are printed), 2 for bad usage.`;

const ALIASES: Record<string, string> = { '-a': '--audio', '-s': '--source', '-o': '--record' };
const KNOWN = new Set([
  'server', 'api-key', 'audio', 'source', 'record', 'stats', 'duration', 'frame-scale', 'sampling-timesteps', 'chunk-config',
  'chunk-sleep', 'video-codec', 'latency', 'ice-local-address', 'stun', 'connect-timeout', 'plugin-path', 'config',
]);

function num(flag: string, text: string, min: number, max = Infinity): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new AppError('VALIDATION_FAILED', `--${flag} takes a number${max < Infinity ? ` in ${min}..${max}` : ` >= ${min}`} (got "${text}")`);
  }
  return n;
}

/** A local file to upload, or the name to pass to the server as it is. */
async function classify(flag: string, value: string | undefined): Promise<{ local: string } | { remote: string }> {
  if (!value || value === 'true') throw new AppError('VALIDATION_FAILED', `--${flag} is required (see --help)`);
  if (value.startsWith('server:')) return { remote: value.slice('server:'.length) };
  const info = await stat(value).catch(() => null);
  if (info?.isFile()) return { local: resolve(value) };
  return { remote: value };
}

function videoCodec(text: string | undefined, fallback: VideoCodec): VideoCodec {
  if (text === undefined) return fallback;
  const c = text.toUpperCase().replace('.', '');
  if (c === 'VP8' || c === 'H264') return c;
  throw new AppError('VALIDATION_FAILED', `--video-codec takes vp8 or h264 (got "${text}")`);
}

function describeError(e: unknown): string {
  const server = serverErrorDetails(e);
  if (!server) return `ditto-gst client: ${e instanceof AppError ? `${e.code}: ` : ''}${(e as Error).message}`;
  const lines = [`ditto-gst client: the server refused (HTTP ${server.http_status})`];
  if (server.server_error) {
    lines.push(`  code:    ${server.server_error.code}`, `  message: ${server.server_error.message}`);
    if (server.server_error.details !== undefined) lines.push(`  details: ${JSON.stringify(server.server_error.details)}`);
  } else {
    lines.push(`  ${(e as Error).message}`);
  }
  return lines.join('\n');
}

export const clientCommand: Command = {
  name: 'client',
  help: () => HELP,
  async run(argv) {
    const args = parseArgs(argv.map((a) => ALIASES[a] ?? a), new Set(['stats']));
    const unknown = Object.keys(args.flags).filter((f) => !KNOWN.has(f));
    if (unknown.length) throw new AppError('VALIDATION_FAILED', `unknown option --${unknown[0]} (see --help)`);
    if (args.command !== null || args.positionals.length) {
      throw new AppError('VALIDATION_FAILED', `unexpected argument ${args.command ?? args.positionals[0]} (see --help)`);
    }
    const f = args.flags;
    if (!f['server'] || f['server'] === 'true') throw new AppError('VALIDATION_FAILED', '--server is required (see --help)');
    const api = new ServerApi(f['server'], { apiKey: f['api-key'] ?? process.env['DITTO_API_KEY'] ?? '' });
    const audio = await classify('audio', f['audio']);
    const source = await classify('source', f['source']);
    const recordPath = f['record'] ? resolve(f['record']) : null;
    const container = recordPath ? containerOf(recordPath) : null;
    const codec = videoCodec(f['video-codec'], defaultVideoCodec(container));
    if (container) checkCodecFits(container, codec);

    const setupKwargs: Record<string, unknown> = {};
    const runKwargs: Record<string, unknown> = {};
    if (f['sampling-timesteps'] !== undefined) setupKwargs['sampling_timesteps'] = num('sampling-timesteps', f['sampling-timesteps'], 1);
    if (f['frame-scale'] !== undefined) runKwargs['frame_scale'] = num('frame-scale', f['frame-scale'], 0);
    if (f['chunk-sleep'] !== undefined) runKwargs['chunk_sleep_s'] = num('chunk-sleep', f['chunk-sleep'], 0);
    if (f['chunk-config'] !== undefined) {
      const parts = f['chunk-config'].split(',');
      if (parts.length !== 3) throw new AppError('VALIDATION_FAILED', `--chunk-config takes three numbers p,c,f (got "${f['chunk-config']}")`);
      runKwargs['chunk_config'] = parts.map((p) => num('chunk-config', p, 0));
    }
    const durationS = f['duration'] !== undefined ? num('duration', f['duration'], 0.1) : null;
    const ice: ClientOptions['ice'] = {};
    if (f['ice-local-address']) ice.localAddresses = f['ice-local-address'].split(',').filter(Boolean);
    if (f['stun']) ice.stunServer = f['stun'];

    const config = loadConfig({ env: process.env, ...(f['config'] ? { configFile: f['config'] } : {}) });
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const toUpload = { ...('local' in audio ? { audio: audio.local } : {}), ...('local' in source ? { source: source.local } : {}) };
      let audioPath = 'remote' in audio ? audio.remote : '';
      let sourcePath = 'remote' in source ? source.remote : '';
      if (toUpload.audio || toUpload.source) {
        const up = await api.upload(toUpload);
        if (toUpload.audio) audioPath = up.audio_path ?? '';
        if (toUpload.source) sourcePath = up.source_path ?? '';
        process.stderr.write(`uploaded ${Object.values(toUpload).join(', ')}\n`);
      }
      const gst = await createGstLoader(f['plugin-path'] ? resolve(f['plugin-path']) : config.pluginPath)();
      const session = new ClientSession(
        gst,
        api,
        {
          audioPath,
          sourcePath,
          videoCodec: codec,
          record: recordPath && container ? { path: recordPath, container } : null,
          stats: f['stats'] === 'true',
          durationS,
          latencyMs: f['latency'] !== undefined ? num('latency', f['latency'], 0, 2000) : 100,
          ice,
          setupKwargs,
          runKwargs,
          connectTimeoutMs: f['connect-timeout'] !== undefined ? num('connect-timeout', f['connect-timeout'], 100) : 10_000,
        },
        { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n'), signal: abort.signal },
      );
      const r = await session.run();
      process.stderr.write(
        `session ${r.sessionId} ended (${r.endReason}): ${r.videoFrames} video frames (${r.videoCodec}), ${r.audioPackets} audio packets in ${r.receivedS.toFixed(1)} s` +
          `${r.recordPath ? `; recorded ${r.recordedFrames ?? 0} video frames to ${r.recordPath}` : ''}\n`,
      );
      return 0;
    } catch (e) {
      process.stderr.write(describeError(e) + '\n');
      return 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
