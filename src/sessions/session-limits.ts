/**
 * A session's lifetime limits, as the hosted avatar APIs have them: a maximum duration from creation, and for
 * pushed-audio sessions an idle timeout that audio, an interrupt or a keep-alive resets. Audio counts as
 * activity until it has played out (a 40 s utterance pushed at once keeps the session busy 40 s). Expiry
 * closes the session with reason "max-duration" or "idle-timeout".
 */

export interface LifecycleLimits {
  /** 0 = no limit. */
  maxDurationS: number;
  /** 0 = never (only applies to pushed-audio sessions). */
  idleTimeoutS: number;
}

export interface LimitedSession {
  readonly id: string;
  readonly createdAt: number;
  readonly audioSource: string;
  close(reason: 'max-duration' | 'idle-timeout', detail: string): Promise<void>;
}

/** What the answer and GET of a session report. */
export interface LimitsInfo {
  max_duration_s: number | null;
  expires_at: string | null;
  idle_timeout_s: number | null;
  /** When the session ends unless audio, an interrupt or a keep-alive comes first. */
  idle_expires_at: string | null;
}

export class SessionLimits {
  private maxTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleDeadline: number | null = null;
  /** Pushed audio plays until then. */
  private busyUntil = 0;
  private readonly idleMs: number;

  constructor(
    private readonly session: LimitedSession,
    private readonly limits: LifecycleLimits,
  ) {
    this.idleMs = session.audioSource === 'push' ? limits.idleTimeoutS * 1000 : 0;
    if (limits.maxDurationS > 0) {
      const left = session.createdAt + limits.maxDurationS * 1000 - Date.now();
      this.maxTimer = setTimeout(() => void session.close('max-duration', `reached the maximum duration of ${limits.maxDurationS} s`), Math.max(0, left));
      this.maxTimer.unref();
    }
    this.touch();
  }

  /** Activity: `playsForS` seconds of audio were queued (0 for an interrupt or a keep-alive). */
  touch(playsForS = 0): void {
    if (this.idleMs === 0) return;
    const now = Date.now();
    this.busyUntil = Math.max(this.busyUntil, now) + playsForS * 1000;
    this.idleDeadline = Math.max(now, this.busyUntil) + this.idleMs;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.onIdle(), this.idleDeadline - now);
    this.idleTimer.unref();
  }

  /** An interrupt drops what was queued: idle time counts from now. */
  interrupted(): void {
    this.busyUntil = 0;
    this.touch();
  }

  private onIdle(): void {
    // a push after the timer was set moved the deadline: re-arm instead of closing
    const now = Date.now();
    if (this.idleDeadline !== null && this.idleDeadline > now + 5) {
      this.idleTimer = setTimeout(() => this.onIdle(), this.idleDeadline - now);
      this.idleTimer.unref();
      return;
    }
    void this.session.close('idle-timeout', `no audio, interrupt or keepalive for ${this.limits.idleTimeoutS} s`);
  }

  info(): LimitsInfo {
    const max = this.limits.maxDurationS > 0 ? this.limits.maxDurationS : null;
    return {
      max_duration_s: max,
      expires_at: max !== null ? new Date(this.session.createdAt + max * 1000).toISOString() : null,
      idle_timeout_s: this.idleMs > 0 ? this.limits.idleTimeoutS : null,
      idle_expires_at: this.idleDeadline !== null ? new Date(this.idleDeadline).toISOString() : null,
    };
  }

  dispose(): void {
    if (this.maxTimer) clearTimeout(this.maxTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.maxTimer = this.idleTimer = null;
  }
}
