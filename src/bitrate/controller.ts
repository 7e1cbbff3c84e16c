/**
 * The sender-side bitrate controller of one video stream: the viewer's link as RTCP tells it (loss and
 * round-trip time from receiver reports, a REMB estimate when the viewer sends one) in, a target bitrate for
 * the encoder out, always within the configured bounds. Pure logic: the caller feeds one report per RTCP
 * interval (about a second) and applies the target when `changed`.
 *
 * The rules follow the loss-based half of Google Congestion Control (draft-ietf-rmcat-gcc), plus a queueing
 * delay signal that reacts before a bottleneck's queue overflows:
 *  - loss > 10 %: cut to (sent rate) x (1 - loss/2) (while holding after a cut, only loss > 30 %);
 *  - round-trip time above the lowest seen by more than `queueDelayMs`: cut to 85 % of the sent rate
 *    (a standing queue means we send more than the link carries);
 *  - loss 2–10 %: hold; for three reports in a row: cut to (sent rate) x (1 - loss) (a drop-tail queue that
 *    stays full loses a steady few per cent, and RTT no longer moves once it is full);
 *  - otherwise grow by `increasePerS` per second, slower (+2 %/s) near the rate that last saw congestion,
 *    and never more than 50 % above what is actually being sent (an encoder below its target says nothing
 *    about the link);
 *  - a REMB estimate caps the target;
 *  - after a cut, hold for two reports: the encoder's rate control and the bottleneck's queue take that long
 *    to show the cut, and loss that the old queue still causes must not cut again.
 * "What is sent" is the highest of the last three reports: receiver reports and stats polls beat against each
 * other, so single intervals swing by half.
 */

export interface BitrateBounds {
  minBps: number;
  maxBps: number;
  /** The encoder's configured rate when the session starts. */
  startBps: number;
}

export interface ControllerOptions {
  /** Multiplicative growth per second on a clean link (GCC: 8 %; 10 % recovers from a lifted cap sooner). */
  increasePerS?: number;
  /** Queueing delay (RTT above the lowest seen) that counts as congestion, ms. */
  queueDelayMs?: number;
  /** Relative change below which the target is not re-applied (each change reconfigures the encoder). */
  minChange?: number;
}

export interface LinkReport {
  atMs: number;
  /** Fraction of this stream's packets lost since the previous report, 0..1; null when unknown. */
  lossFraction: number | null;
  rttMs: number | null;
  /** The viewer's receive estimate (REMB), if it sends one. */
  rembBps?: number | null;
  /** What the stream actually sent since the previous report. */
  sentBps: number | null;
}

export type BitrateReason = 'start' | 'loss' | 'delay' | 'remb' | 'increase' | 'hold' | 'bounds';

export interface BitrateDecision {
  targetBps: number;
  changed: boolean;
  reason: BitrateReason;
}

const LOSS_HIGH = 0.1;
const LOSS_LOW = 0.02;
/** Loss that cuts even while holding after a cut: the link is far below the rate. */
const LOSS_SEVERE = 0.3;
const DELAY_CUT = 0.85;
const PERSISTENT_LOSS_REPORTS = 3;
const HOLD_AFTER_CUT = 2;
const SENT_WINDOW = 3;
const NEAR_CONGESTION = 0.1;
const SLOW_INCREASE_PER_S = 0.02;
const MAX_OVER_SENT = 1.5;
/** The lowest RTT is remembered this long (a route change may raise the floor for good). */
const MIN_RTT_WINDOW_MS = 30_000;

export class BitrateController {
  private target: number;
  private applied: number;
  private lastAtMs: number | null = null;
  private congestedAtBps: number | null = null;
  private holdUntilReports = 0;
  private lossyReports = 0;
  private sentHistory: number[] = [];
  private rttFloor: { ms: number; atMs: number } | null = null;
  private readonly increasePerS: number;
  private readonly queueDelayMs: number;
  private readonly minChange: number;

  constructor(
    readonly bounds: BitrateBounds,
    opts: ControllerOptions = {},
  ) {
    if (!(bounds.minBps > 0 && bounds.minBps <= bounds.maxBps)) throw new RangeError(`invalid bitrate bounds ${bounds.minBps}..${bounds.maxBps}`);
    this.increasePerS = opts.increasePerS ?? 0.1;
    this.queueDelayMs = opts.queueDelayMs ?? 100;
    this.minChange = opts.minChange ?? 0.05;
    this.target = this.clamp(bounds.startBps);
    this.applied = this.target;
  }

  get targetBps(): number {
    return this.applied;
  }

  update(r: LinkReport): BitrateDecision {
    const dtS = this.lastAtMs === null ? 1 : Math.max(0, Math.min(5, (r.atMs - this.lastAtMs) / 1000));
    this.lastAtMs = r.atMs;
    const queueMs = this.queueDelay(r);
    if (r.sentBps !== null && r.sentBps > 0) {
      this.sentHistory.push(r.sentBps);
      if (this.sentHistory.length > SENT_WINDOW) this.sentHistory.shift();
    }
    const sent = this.sentHistory.length > 0 ? Math.max(...this.sentHistory) : null;
    const base = sent !== null ? Math.min(this.target, sent) : this.target;
    let reason: BitrateReason;
    const lossy = r.lossFraction !== null && r.lossFraction > LOSS_LOW;
    this.lossyReports = lossy ? this.lossyReports + 1 : 0;
    if (r.lossFraction !== null && r.lossFraction > LOSS_HIGH && (this.holdUntilReports === 0 || r.lossFraction > LOSS_SEVERE)) {
      this.cut(base, 1 - r.lossFraction / 2);
      reason = 'loss';
    } else if (queueMs !== null && queueMs > this.queueDelayMs && this.holdUntilReports === 0) {
      this.cut(base, DELAY_CUT);
      reason = 'delay';
    } else if (lossy && this.lossyReports >= PERSISTENT_LOSS_REPORTS && this.holdUntilReports === 0) {
      this.cut(base, 1 - r.lossFraction!);
      this.lossyReports = 0;
      reason = 'loss';
    } else if (this.holdUntilReports > 0 || lossy) {
      if (this.holdUntilReports > 0) this.holdUntilReports--;
      reason = 'hold';
    } else {
      const c = this.congestedAtBps;
      const near = c !== null && this.target >= c * (1 - NEAR_CONGESTION) && this.target <= c * (1 + NEAR_CONGESTION);
      let next = this.target * Math.pow(1 + (near ? SLOW_INCREASE_PER_S : this.increasePerS), dtS);
      if (sent !== null) next = Math.min(next, Math.max(this.target, sent * MAX_OVER_SENT));
      this.target = next;
      reason = 'increase';
    }
    if (r.rembBps != null && r.rembBps > 0 && this.target > r.rembBps) {
      this.target = r.rembBps;
      reason = 'remb';
    }
    const clamped = this.clamp(this.target);
    if (clamped !== this.target) {
      this.target = clamped;
      if (reason === 'increase') reason = 'bounds';
    }
    const changed = Math.abs(this.target - this.applied) >= this.applied * this.minChange || (this.target !== this.applied && (this.target === this.bounds.minBps || this.target === this.bounds.maxBps));
    if (changed) this.applied = Math.round(this.target);
    return { targetBps: this.applied, changed, reason };
  }

  /** `from` is the rate that met congestion: growth slows down near it afterwards. */
  private cut(from: number, factor: number): void {
    this.congestedAtBps = from;
    this.target = Math.min(this.target, from * factor);
    this.holdUntilReports = HOLD_AFTER_CUT;
    this.sentHistory = []; // what was sent before the cut says nothing about after it
  }

  private queueDelay(r: LinkReport): number | null {
    if (r.rttMs === null || !(r.rttMs >= 0)) return null;
    if (!this.rttFloor || r.rttMs <= this.rttFloor.ms || r.atMs - this.rttFloor.atMs > MIN_RTT_WINDOW_MS) {
      this.rttFloor = { ms: r.rttMs, atMs: r.atMs };
    }
    return r.rttMs - this.rttFloor.ms;
  }

  private clamp(bps: number): number {
    return Math.min(this.bounds.maxBps, Math.max(this.bounds.minBps, bps));
  }
}
