import type { VideoCodec } from '../config/schema.js';
import type { IncomingTargets } from '../gst/index.js';
import { quoteLaunchString } from '../pipelines/pipeline-template.js';
import { muxerElement, type Container } from './record.js';

/**
 * The client's receiving graph: a webrtcbin with recvonly transceivers (added through the addon before the
 * offer) and, apart from it, one branch per media kind starting at a depayloader. webrtcbin's src pads are
 * linked to those branches by media kind inside the addon (WebRtcBin.linkIncoming, names in `incoming`), not
 * by gst-launch's delayed linking: that links pads in order of appearance, and when audio arrived first it
 * went to the video branch (not-negotiated). Each branch ends in a muxer writing the stream as received,
 * or in a fakesink. Names the client reads counters from: "vout" (video frames, caps with width/height)
 * and "aout" (Opus packets); "vvalve"/"avalve" close the recording with EOS.
 */

export interface ReceiverSpec {
  videoCodec: VideoCodec;
  /** webrtcbin jitterbuffer latency, ms. */
  latencyMs: number;
  record: { path: string; container: Container } | null;
}

export interface ReceiverGraph {
  description: string;
  /** For WebRtcBin.linkIncoming: the first element of each branch. */
  incoming: Required<IncomingTargets>;
}

/** RTP caps for the recvonly transceivers: the payload types our offer proposes. */
export const TRANSCEIVER_CAPS: Record<VideoCodec | 'OPUS', string> = {
  VP8: 'application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96',
  H264:
    'application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=102,' +
    'packetization-mode=(string)1,profile-level-id=(string)42e01f,level-asymmetry-allowed=(string)1',
  OPUS: 'application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,encoding-params=(string)2,payload=111',
};

// A recording (and a decoder) can only start at a keyframe: the depayloaders drop what comes before one and
// after a loss, and ask the sender for a new one (RTCP PLI) instead of passing on undecodable frames.
const KEYFRAMES = 'wait-for-keyframe=true request-keyframe=true';

const VIDEO_BRANCH: Record<VideoCodec, { head: string; chain: string }> = {
  VP8: { head: 'vout', chain: `rtpvp8depay name=vout ${KEYFRAMES}` },
  // h264parse turns the depayloader's byte-stream into what muxers take (avc, whole access units) and puts
  // width/height in caps.
  H264: {
    head: 'vdepay',
    chain: `rtph264depay name=vdepay ${KEYFRAMES} ! h264parse name=vout ! video/x-h264,stream-format=avc,alignment=au`,
  },
};

export function receiverDescription(spec: ReceiverSpec): ReceiverGraph {
  // max-bundle: one ICE/DTLS transport for audio and video, as browsers do (the audio m-line is offered
  // with port 0 + a=bundle-only, RFC 8843), so there is one connectivity check and one handshake.
  const parts = [`webrtcbin name=webrtc bundle-policy=max-bundle latency=${Math.max(0, Math.floor(spec.latencyMs))}`];
  const branch = VIDEO_BRANCH[spec.videoCodec];
  const video = branch.chain;
  // opusparse completes the depayloader's caps (rate) and gives packets durations: muxers need both.
  const audio = 'rtpopusdepay name=aout ! opusparse';
  if (spec.record) {
    // The valves let the client stop the flow before it sends EOS, so the muxer finishes on a quiet stream;
    // forward-sticky-events lets the EOS (sticky) through a closed valve.
    const tail = (valve: string) =>
      `! valve name=${valve} drop-mode=forward-sticky-events ! queue max-size-time=3000000000 max-size-buffers=0 max-size-bytes=0 ! mux.`;
    parts.push(`${video} ${tail('vvalve')}`, `${audio} ${tail('avalve')}`);
    parts.push(`${muxerElement(spec.record.container)} name=mux ! filesink name=file location=${quoteLaunchString(spec.record.path)} async=false`);
  } else {
    parts.push(`${video} ! fakesink sync=false async=false`, `${audio} ! fakesink sync=false async=false`);
  }
  return { description: parts.join(' '), incoming: { video: branch.head, audio: 'aout' } };
}
