import { Element, type PipelineRef } from './element.js';
import { Events } from './emitter.js';
import { nativeAsync, nativeCall } from './errors.js';
import { native } from './native.js';
import type {
  IceRestartResult,
  RtpStats,
  TypedEmitter,
  WebRtcConnectionState,
  WebRtcEvents,
  WebRtcIceConnectionState,
  WebRtcIceGatheringState,
} from './types.js';

export interface AnswerOptions {
  /**
   * How long to wait for RTP caps on every webrtcbin sink pad before create-answer (default 500 ms).
   * webrtcbin 1.22 writes the `a=ssrc:… msid:` lines (Chrome's A/V sync) from those caps; on a playing
   * pipeline they arrive with the first encoded frame, well within the bound.
   */
  capsWaitMs?: number;
  /** Upper bound on ICE gathering before answering with the candidates found so far (default 1500 ms). */
  gatherTimeoutMs?: number;
}

export interface OfferOptions {
  /** Upper bound on ICE gathering before resolving with the candidates found so far (default 1500 ms). */
  gatherTimeoutMs?: number;
}

/** Element names whose "sink" pad receives webrtcbin's incoming streams of each kind. */
export interface IncomingTargets {
  video?: string;
  audio?: string;
}

export type TransceiverDirection = 'sendonly' | 'recvonly' | 'sendrecv' | 'inactive';

const DEFAULT_CAPS_WAIT_MS = 500;
const DEFAULT_GATHER_TIMEOUT_MS = 1500;

export class WebRtcBin extends Element implements TypedEmitter<WebRtcEvents> {
  readonly #events: Events<WebRtcEvents>;

  constructor(pipeline: PipelineRef, name: string) {
    super(pipeline, name);
    this.#events = new Events<WebRtcEvents>(`${pipeline.name}/${name}`);
  }

  /**
   * Answers an offer: set-remote-description -> create-answer -> set-local-description run chained inside
   * the addon, then ICE gathering is awaited so that the returned SDP carries the candidates (the
   * predecessor's clients do not trickle). Rejects GstError('GST_WEBRTC'), or 'GST_CLOSED' when the
   * pipeline closes first. The pipeline should be playing, so that caps reach webrtcbin (see capsWaitMs).
   */
  answer(offerSdp: string, options: AnswerOptions = {}): Promise<string> {
    const capsWait = Math.max(0, Math.floor(options.capsWaitMs ?? DEFAULT_CAPS_WAIT_MS));
    const gather = Math.max(1, Math.floor(options.gatherTimeoutMs ?? DEFAULT_GATHER_TIMEOUT_MS));
    return nativeAsync(() => native().webrtcAnswer(this.pipeline.handle, this.name, offerSdp, capsWait, gather));
  }

  /**
   * The offering side: create-offer -> set-local-description chained inside the addon, then ICE gathering
   * (bounded) so that the returned SDP carries the candidates. Add transceivers (or link sink pads) first.
   * Rejects GstError('GST_WEBRTC'), or 'GST_CLOSED' when the pipeline closes first.
   */
  offer(options: OfferOptions = {}): Promise<string> {
    const gather = Math.max(1, Math.floor(options.gatherTimeoutMs ?? DEFAULT_GATHER_TIMEOUT_MS));
    return nativeAsync(() => native().webrtcOffer(this.pipeline.handle, this.name, gather));
  }

  /** set-remote-description of the peer's answer to offer(). Rejects GstError('GST_WEBRTC') when refused. */
  acceptAnswer(answerSdp: string): Promise<void> {
    return nativeAsync(() => native().webrtcAcceptAnswer(this.pipeline.handle, this.name, answerSdp));
  }

  /**
   * webrtcbin's "add-transceiver" action signal; caps are RTP caps, one structure per codec offered
   * (e.g. "application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96").
   */
  addTransceiver(direction: TransceiverDirection, caps: string): void {
    nativeCall(() => native().webrtcAddTransceiver(this.pipeline.handle, this.name, direction, caps));
  }

  /** A receive-only m-line: media arrives on a webrtcbin src pad once the peer sends it. */
  addRecvonlyTransceiver(caps: string): void {
    this.addTransceiver('recvonly', caps);
  }

  /**
   * Links each src pad webrtcbin adds (one per incoming stream) to the named element's "sink" pad by the
   * stream's media kind, inside the addon on the streaming thread. Use it instead of gst-launch delayed
   * linking (`webrtc. ! application/x-rtp,media=video ! …`), which links pads in order of appearance: a
   * webrtcbin src pad's queried caps do not say its media, so audio can land on the video branch
   * (not-negotiated). A stream with no free target is discarded into a fakesink with a bus warning.
   * Call once, before the answer is accepted. GST_NO_ELEMENT for a missing element or sink pad.
   */
  linkIncoming(targets: IncomingTargets): void {
    nativeCall(() => native().webrtcLinkIncoming(this.pipeline.handle, this.name, targets));
  }

  addIceCandidate(sdpMLineIndex: number, candidate: string): void {
    nativeCall(() => native().webrtcAddIceCandidate(this.pipeline.handle, this.name, sdpMLineIndex, candidate));
  }

  /**
   * ICE restart as the answering side (WHEP PATCH): new local credentials, the peer's new ones, remote
   * candidates cleared, local candidates kept; DTLS and the media graph carry on (see src/native/ice.c).
   * Add the peer's new candidates with addIceCandidate afterwards. GstError('GST_WEBRTC') when ICE has not
   * started or the session is not bundled.
   */
  restartIce(remoteUfrag: string, remotePwd: string): IceRestartResult {
    return nativeCall(() => native().webrtcIceRestart(this.pipeline.handle, this.name, remoteUfrag, remotePwd));
  }

  /** webrtcbin's get-stats, as plain objects keyed by stats id (enum fields as nicks). */
  stats(): Promise<RtpStats> {
    return nativeAsync(() => native().webrtcStats(this.pipeline.handle, this.name)) as Promise<RtpStats>;
  }

  get connectionState(): WebRtcConnectionState {
    return this.pipeline.closed ? 'closed' : nativeCall(() => native().webrtcStates(this.pipeline.handle, this.name)).connection;
  }

  get iceConnectionState(): WebRtcIceConnectionState {
    return this.pipeline.closed ? 'closed' : nativeCall(() => native().webrtcStates(this.pipeline.handle, this.name)).ice;
  }

  get iceGatheringState(): WebRtcIceGatheringState {
    return this.pipeline.closed ? 'complete' : nativeCall(() => native().webrtcStates(this.pipeline.handle, this.name)).gathering;
  }

  /**
   * Milliseconds since the peer's last RTCP packet (rtpbin "on-ssrc-active"), null before the first one or
   * after close. webrtcbin 1.22 never notices a viewer that vanished without closing: watch this instead.
   */
  msSinceLastRtcp(): number | null {
    if (this.pipeline.closed) return null;
    return nativeCall(() => native().webrtcRtcpAge(this.pipeline.handle, this.name));
  }

  on<K extends keyof WebRtcEvents & string>(event: K, listener: (...args: WebRtcEvents[K]) => void): this {
    this.#events.on(event, listener);
    return this;
  }

  once<K extends keyof WebRtcEvents & string>(event: K, listener: (...args: WebRtcEvents[K]) => void): this {
    this.#events.once(event, listener);
    return this;
  }

  off<K extends keyof WebRtcEvents & string>(event: K, listener: (...args: WebRtcEvents[K]) => void): this {
    this.#events.off(event, listener);
    return this;
  }

  /** @internal Called by the pipeline's dispatcher. */
  dispatch(event: string, payload: unknown): void {
    switch (event) {
      case 'ice-candidate':
        this.#events.emit('ice-candidate', payload as WebRtcEvents['ice-candidate'][0]);
        break;
      case 'connection-state':
        this.#events.emit('connection-state', payload as WebRtcConnectionState);
        break;
      case 'ice-connection-state':
        this.#events.emit('ice-connection-state', payload as WebRtcIceConnectionState);
        break;
      case 'ice-gathering-state':
        this.#events.emit('ice-gathering-state', payload as WebRtcIceGatheringState);
        break;
    }
  }

  /** @internal */
  detach(): void {
    this.#events.removeAll();
  }
}
