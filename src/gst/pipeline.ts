import { AppSrc, Element, type PipelineRef } from './element.js';
import { Events, reportListenerError } from './emitter.js';
import { GstError, nativeAsync, nativeCall } from './errors.js';
import { native, type NativeHandle } from './native.js';
import type { IceConfig, PipelineEvents, TypedEmitter } from './types.js';
import { WebRtcBin } from './webrtcbin.js';

export interface LaunchOptions {
  /** The pipeline's name (logs, GST_DEBUG, element(name) of the pipeline itself). */
  name?: string;
}

/**
 * A GStreamer pipeline built from a gst-launch description. Bus messages and webrtcbin signals arrive as
 * typed events on the JS thread; parsing, state changes and teardown run on worker threads, never on the JS
 * thread.
 */
export class Pipeline implements TypedEmitter<PipelineEvents>, PipelineRef {
  readonly name: string;
  readonly handle: NativeHandle;
  readonly #events: Events<PipelineEvents>;
  readonly #webrtcs = new Map<string, WebRtcBin>();
  #closing: Promise<void> | null = null;

  private constructor(handle: NativeHandle, name: string) {
    this.handle = handle;
    this.name = name;
    this.#events = new Events<PipelineEvents>(name);
  }

  /**
   * gst_parse_launch_full with FATAL_ERRORS, on a worker thread: loading plugins and constructing a session's
   * elements (up to tens of ms) never hold the event loop. A missing element or an impossible link rejects
   * with GstError('GST_PARSE') carrying GStreamer's own text. The pipeline comes in NULL; whoever awaits it
   * owns it and must close() it, also when it arrives after they lost interest.
   */
  static launch(description: string, opts: LaunchOptions = {}): Promise<Pipeline> {
    const launching = Pipeline.#launch(description, opts);
    Pipeline.#launching.add(launching);
    void launching.then(
      () => Pipeline.#launching.delete(launching),
      () => Pipeline.#launching.delete(launching),
    );
    return launching;
  }

  /**
   * Resolves once every launch in progress has settled. Exit only after it: a parse still running on a worker
   * thread when the process exits can crash it (webrtcbin's DTLS elements generate their key with OpenSSL,
   * which Node tears down at exit: a SIGSEGV after SIGTERM, 3 runs in 8).
   */
  static async launchesSettled(): Promise<void> {
    await Promise.allSettled([...Pipeline.#launching]);
  }

  static readonly #launching = new Set<Promise<Pipeline>>();

  static async #launch(description: string, opts: LaunchOptions): Promise<Pipeline> {
    let pipeline: Pipeline | null = null;
    // The addon watches the bus from the moment it makes the handle, so `pipeline` is set before any event.
    const dispatch = (target: string | null, event: string, payload: unknown) => {
      try {
        pipeline?.dispatch(target, event, payload);
      } catch (err) {
        reportListenerError(err, pipeline?.name ?? opts.name ?? 'pipeline', event);
      }
    };
    const handle = await nativeAsync(() => native().pipelineLaunch(description, opts.name ?? null, dispatch));
    pipeline = new Pipeline(handle, native().pipelineName(handle));
    return pipeline;
  }

  /** True once close() has been called: every further call throws GstError('GST_CLOSED'). */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Resolves with GStreamer's answer ('async' for a live pipeline prerolling); rejects GstError('GST_STATE'). */
  setState(state: 'ready' | 'paused' | 'playing'): Promise<'success' | 'async' | 'no-preroll'> {
    return nativeAsync(() => native().pipelineSetState(this.handle, state));
  }

  /** A named element (GstError('GST_NO_ELEMENT') when there is none). */
  element(name: string): Element {
    nativeCall(() => native().elementCheck(this.handle, name));
    return new Element(this, name);
  }

  /**
   * The named webrtcbin, its ICE agent configured on first use: UPnP off (gathering then takes milliseconds),
   * local addresses restricted when given, STUN/TURN from the config. Later calls return the same object.
   */
  webrtc(name: string, ice?: IceConfig): WebRtcBin {
    const existing = this.#webrtcs.get(name);
    if (existing) {
      if (ice !== undefined) throw new GstError('GST_WEBRTC', `${this.name}/${name}: ICE is configured once, on the first webrtc() call`);
      return existing;
    }
    nativeCall(() => native().webrtcConfigure(this.handle, name, ice));
    const bin = new WebRtcBin(this, name);
    this.#webrtcs.set(name, bin);
    return bin;
  }

  /** The named appsrc; refuses one with block=true, whose full queue would stall the JS thread. */
  appsrc(name: string): AppSrc {
    nativeCall(() => native().appsrcCheck(this.handle, name));
    return new AppSrc(this, name);
  }

  /** The pipeline's latency in ms (0 for a non-live pipeline), null until the pipeline has been playing. */
  latencyMs(): number | null {
    if (this.closed) return null;
    return nativeCall(() => native().pipelineLatency(this.handle));
  }

  /**
   * Idempotent. Sets NULL on a worker thread, disconnects every signal, rejects pending answers/stats with
   * GST_CLOSED and resolves once the pipeline and its webrtcbins are finalized (threads joined, sockets
   * closed). No event is delivered after it resolves.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = nativeAsync(() => native().pipelineClose(this.handle)).finally(() => {
        this.#events.removeAll();
        for (const bin of this.#webrtcs.values()) bin.detach();
      });
    }
    return this.#closing;
  }

  on<K extends keyof PipelineEvents & string>(event: K, listener: (...args: PipelineEvents[K]) => void): this {
    this.#events.on(event, listener);
    return this;
  }

  once<K extends keyof PipelineEvents & string>(event: K, listener: (...args: PipelineEvents[K]) => void): this {
    this.#events.once(event, listener);
    return this;
  }

  off<K extends keyof PipelineEvents & string>(event: K, listener: (...args: PipelineEvents[K]) => void): this {
    this.#events.off(event, listener);
    return this;
  }

  private dispatch(target: string | null, event: string, payload: unknown): void {
    if (target !== null) {
      this.#webrtcs.get(target)?.dispatch(event, payload);
      return;
    }
    switch (event) {
      case 'error':
        this.#events.emit('error', payload as PipelineEvents['error'][0]);
        break;
      case 'warning':
        this.#events.emit('warning', payload as PipelineEvents['warning'][0]);
        break;
      case 'eos':
        this.#events.emit('eos');
        break;
      case 'state-changed':
        this.#events.emit('state-changed', payload as PipelineEvents['state-changed'][0]);
        break;
      case 'element':
        this.#events.emit('element', payload as PipelineEvents['element'][0]);
        break;
      case 'latency':
        this.#events.emit('latency', payload as PipelineEvents['latency'][0]);
        break;
    }
  }
}
