import { extname } from 'node:path';
import type { VideoCodec } from '../config/schema.js';
import { AppError } from '../errors.js';

/**
 * Recording containers for what the client receives, written as received (no re-encoding): Matroska holds
 * VP8 or H.264 with Opus, WebM only VP8 + Opus, MP4 only H.264 + Opus.
 */
export type Container = 'mkv' | 'webm' | 'mp4';

const BY_EXTENSION: Record<string, Container> = { '.mkv': 'mkv', '.webm': 'webm', '.mp4': 'mp4' };

const VIDEO_CODECS: Record<Container, readonly VideoCodec[]> = { mkv: ['VP8', 'H264'], webm: ['VP8'], mp4: ['H264'] };

const MUXERS: Record<Container, string> = {
  mkv: 'matroskamux',
  webm: 'webmmux',
  mp4: 'mp4mux',
};

export function containerOf(path: string): Container {
  const c = BY_EXTENSION[extname(path).toLowerCase()];
  if (!c) throw new AppError('VALIDATION_FAILED', `--record ${path}: use a .mkv, .webm or .mp4 file name`);
  return c;
}

/** The codec to ask the server for when the user did not choose: the one the container holds as received. */
export function defaultVideoCodec(container: Container | null): VideoCodec {
  return container ? VIDEO_CODECS[container][0]! : 'VP8';
}

export function checkCodecFits(container: Container, codec: VideoCodec): void {
  if (!VIDEO_CODECS[container].includes(codec)) {
    throw new AppError(
      'VALIDATION_FAILED',
      `a .${container} file cannot hold ${codec} without re-encoding: record to .mkv, or ask for ${VIDEO_CODECS[container].join('/')} with --video-codec`,
    );
  }
}

export function muxerElement(container: Container): string {
  return MUXERS[container];
}
