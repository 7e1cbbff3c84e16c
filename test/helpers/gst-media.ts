/**
 * Stock-element sender graphs for tests that need media into a webrtcbin without the ditto element:
 * test sources -> encoder -> payloader (at the payload type the offer gave that codec) -> webrtcbin "webrtc".
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type VideoCodec = 'VP8' | 'H264';

export interface SenderGraph {
  videoCodec?: VideoCodec;
  videoPt?: number;
  audioPt?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Leave out the audio branch. */
  noAudio?: boolean;
}

/** A recorded offer from Debian's headless Chromium 156: recvonly audio (opus 111) + video (VP8 96, VP9 98, H264 102...). */
export const CHROMIUM_OFFER = readFileSync(fileURLToPath(new URL('../fixtures/chromium-offer.sdp', import.meta.url)), 'utf8');

/** The payload type an offer gives to a codec in a media section (first match), or null. */
export function offerPayloadType(sdp: string, media: 'audio' | 'video', codec: string): number | null {
  const section = sdp.split(/\r?\nm=/).find((s) => s.startsWith(`${media} `) || s.startsWith(`m=${media} `));
  const m = section?.match(new RegExp(`a=rtpmap:(\\d+) ${codec}/`, 'i'));
  return m ? Number(m[1]) : null;
}

export function senderDescription(g: SenderGraph = {}): string {
  const codec = g.videoCodec ?? 'VP8';
  const w = g.width ?? 320;
  const h = g.height ?? 240;
  const fps = g.fps ?? 25;
  const vpt = g.videoPt ?? 96;
  const apt = g.audioPt ?? 111;
  const encoder =
    codec === 'VP8'
      ? 'vp8enc deadline=1 cpu-used=-16 keyframe-max-dist=50 ! rtpvp8pay'
      : 'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 ! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 aggregate-mode=zero-latency';
  const video =
    `videotestsrc is-live=true pattern=ball ! video/x-raw,width=${w},height=${h},framerate=${fps}/1 ! ` +
    `${encoder} pt=${vpt} ! application/x-rtp,media=video,encoding-name=${codec},payload=${vpt} ! webrtc.`;
  const audio =
    `audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! ` +
    `opusenc ! rtpopuspay pt=${apt} ! application/x-rtp,media=audio,encoding-name=OPUS,payload=${apt} ! webrtc.`;
  return ['webrtcbin name=webrtc bundle-policy=max-bundle latency=0', video, g.noAudio ? '' : audio].join(' ');
}

/** Threads (/proc/self/task) and open file descriptors (/proc/self/fd) of this process. */
export function processResources(): { threads: number; fds: number } {
  return { threads: readdirSync('/proc/self/task').length, fds: readdirSync('/proc/self/fd').length };
}
