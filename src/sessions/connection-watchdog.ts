import type { WebRtcBin } from '../gst/index.js';
import type { WebRtcConnectionState, WebRtcIceConnectionState, WebRtcIceGatheringState } from '../gst/types.js';
import type { Logger } from '../logger.js';
import type { CloseReason } from './session.js';

/**
 * Watches one session's peer connection and decides when it is dead: not connected in time, disconnected for
 * longer than the grace period, failed or closed, or (webrtcbin 1.22 never notices a viewer that vanished
 * without closing) silent on RTCP. It only reports: the session does the closing.
 */

export interface WatchdogTimeouts {
  connectTimeoutMs: number;
  disconnectedGraceMs: number;
  rtcpSilenceTimeoutMs: number;
}

export interface WatchdogHooks {
  /** The connection moved to a state the session reports as its own. */
  state(next: 'connecting' | 'connected' | 'disconnected'): void;
  /** The connection is dead: end the session. */
  dead(reason: CloseReason, detail: string): void;
}

const RTCP_POLL_MS = 1000;

export class ConnectionWatchdog {
  connectionState: WebRtcConnectionState | null = null;
  iceConnectionState: WebRtcIceConnectionState | null = null;
  iceGatheringState: WebRtcIceGatheringState | null = null;
  connectedAt: number | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private rtcpTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly webrtc: WebRtcBin,
    private readonly timeouts: WatchdogTimeouts,
    private readonly hooks: WatchdogHooks,
    private readonly log: Logger,
  ) {
    webrtc.on('connection-state', this.onConnectionState);
    webrtc.on('ice-connection-state', this.onIceConnectionState);
    webrtc.on('ice-gathering-state', this.onIceGatheringState);
  }

  /** From the answer on, the viewer has connectTimeoutMs to connect. */
  armConnectTimeout(): void {
    if (this.stopped || this.connectTimer || this.connectedAt !== null) return;
    const ms = this.timeouts.connectTimeoutMs;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      this.hooks.dead('connect-timeout', `not connected within ${ms} ms`);
    }, ms);
  }

  /** Milliseconds since the viewer's last RTCP, null before the first (best effort while stopping). */
  msSinceLastRtcp(): number | null {
    if (this.stopped) return null;
    return this.webrtc.msSinceLastRtcp();
  }

  /** Clears every timer and listener; idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.connectTimer = clear(this.connectTimer);
    this.graceTimer = clear(this.graceTimer);
    this.rtcpTimer = clear(this.rtcpTimer);
    this.webrtc.off('connection-state', this.onConnectionState);
    this.webrtc.off('ice-connection-state', this.onIceConnectionState);
    this.webrtc.off('ice-gathering-state', this.onIceGatheringState);
  }

  private readonly onConnectionState = (s: WebRtcConnectionState) => {
    this.connectionState = s;
    this.log.info({ connection_state: s }, 'connection state');
    if (this.stopped) return;
    switch (s) {
      case 'connecting':
        this.hooks.state('connecting');
        break;
      case 'connected':
        this.connectTimer = clear(this.connectTimer);
        this.graceTimer = clear(this.graceTimer);
        if (this.connectedAt === null) {
          this.connectedAt = Date.now();
          this.watchRtcp();
        }
        this.hooks.state('connected');
        break;
      case 'disconnected':
        this.hooks.state('disconnected');
        this.startGrace();
        break;
      case 'failed':
        this.hooks.dead('connection-failed', 'peer connection failed');
        break;
      case 'closed':
        this.hooks.dead('connection-closed', 'peer connection closed');
        break;
      default:
        break;
    }
  };

  private readonly onIceConnectionState = (s: WebRtcIceConnectionState) => {
    this.iceConnectionState = s;
    this.log.debug({ ice_connection_state: s }, 'ICE connection state');
    if (this.stopped) return;
    if (s === 'failed') this.hooks.dead('connection-failed', 'ICE failed');
    // webrtcbin 1.22 may report ICE "disconnected" without moving the aggregate connection state.
    else if (s === 'disconnected') this.startGrace();
    else if ((s === 'connected' || s === 'completed') && this.connectionState !== 'disconnected') this.graceTimer = clear(this.graceTimer);
  };

  private readonly onIceGatheringState = (s: WebRtcIceGatheringState) => {
    this.iceGatheringState = s;
  };

  private startGrace(): void {
    if (this.graceTimer || this.stopped) return;
    const ms = this.timeouts.disconnectedGraceMs;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = null;
      this.hooks.dead('disconnected-timeout', `disconnected for more than ${ms} ms`);
    }, ms);
  }

  /** webrtcbin 1.22 does not notice a viewer that vanished without closing: watch its RTCP receiver reports. */
  private watchRtcp(): void {
    const limit = this.timeouts.rtcpSilenceTimeoutMs;
    this.rtcpTimer = setInterval(() => {
      if (this.stopped || this.connectedAt === null) return;
      const since = this.webrtc.msSinceLastRtcp();
      const silentFor = since ?? Date.now() - this.connectedAt;
      if (silentFor > limit) this.hooks.dead('rtcp-silence', `no RTCP from the viewer for ${Math.round(silentFor)} ms`);
    }, Math.min(RTCP_POLL_MS, Math.max(100, Math.floor(limit / 4))));
  }
}

function clear(t: NodeJS.Timeout | null): null {
  if (t) clearTimeout(t);
  return null;
}
