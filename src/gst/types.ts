/**
 * The contract between the server and GStreamer: everything the control plane needs, nothing more.
 * Implemented by src/gst/*.ts over the N-API addon in src/native/. Media never crosses into JS
 * except audio pushed into an appsrc by a live-audio client.
 */

export type GstState = 'void-pending' | 'null' | 'ready' | 'paused' | 'playing';

export type WebRtcConnectionState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';
export type WebRtcIceConnectionState =
  | 'new' | 'checking' | 'connected' | 'completed' | 'failed' | 'disconnected' | 'closed';
export type WebRtcIceGatheringState = 'new' | 'gathering' | 'complete';

export type PropertyValue = string | number | boolean | bigint;

export interface BusMessageBase {
  /** Name of the element that posted the message (the pipeline's own name for pipeline-level ones). */
  source: string;
}

export interface PipelineEvents {
  error: [BusMessageBase & { message: string; debug: string | null; domain: string; code: number }];
  warning: [BusMessageBase & { message: string; debug: string | null }];
  eos: [];
  /** The pipeline's own state changes only (not every child's). */
  'state-changed': [{ old: GstState; current: GstState; pending: GstState }];
  /** Element messages (e.g. from dittotalkinghead), structure serialized to plain JSON-able values. */
  element: [BusMessageBase & { name: string; fields: Record<string, unknown> }];
  /** A latency message: the pipeline recalculates latency on its own; informative. */
  latency: [BusMessageBase];
}

export interface WebRtcEvents {
  'ice-candidate': [{ sdpMLineIndex: number; candidate: string }];
  'connection-state': [WebRtcConnectionState];
  'ice-connection-state': [WebRtcIceConnectionState];
  'ice-gathering-state': [WebRtcIceGatheringState];
}

export interface IceConfig {
  /** e.g. "stun://host:3478"; empty for host candidates only. */
  stunServer?: string;
  /** e.g. "turn://user:pass@host:3478". */
  turnServers?: string[];
  /** Restrict gathering to these local addresses (tests: ['127.0.0.1']). Empty = all interfaces. */
  localAddresses?: string[];
  /** Local port range for ICE candidates (both 0 or absent = any port). */
  minPort?: number;
  maxPort?: number;
  /** Gather ICE-TCP candidates too (libnice's default: true). */
  tcp?: boolean;
}

/** The local side of a restarted ICE session (WebRtcBin.restartIce). */
export interface IceRestartResult {
  ufrag: string;
  pwd: string;
  /** Local candidates, `candidate:…` (without "a="). */
  candidates: string[];
}

export interface RtpStats {
  /** webrtcbin get-stats, flattened: each stats structure as a plain object keyed by its id. */
  [id: string]: Record<string, unknown>;
}

/** Event maps are interfaces (no index signature), hence the mapped-type constraint. */
export interface TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
}
