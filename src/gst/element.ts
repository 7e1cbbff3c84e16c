import { nativeAsync, nativeCall } from './errors.js';
import { native, type NativeHandle } from './native.js';
import type { PropertyValue } from './types.js';

/** What an element needs from its pipeline: the addon handle (elements hold no GStreamer references). */
export interface PipelineRef {
  readonly handle: NativeHandle;
  readonly name: string;
  readonly closed: boolean;
}

/**
 * A named element of a pipeline. It holds only the name: every call looks the element up in the pipeline,
 * so nothing keeps GStreamer objects alive after close() (calls then throw GstError('GST_CLOSED')).
 */
export class Element {
  constructor(
    protected readonly pipeline: PipelineRef,
    readonly name: string,
  ) {}

  /** Sets a property; enums take their nick, strings are parsed as GStreamer would. GST_PROPERTY when invalid or out of range. */
  set(prop: string, value: PropertyValue): void {
    nativeCall(() => native().elementSet(this.pipeline.handle, this.name, prop, value));
  }

  /** Reads a property: enums as nicks, 64-bit values beyond 2^53 as bigint, objects by name, null when unset. */
  get(prop: string): PropertyValue | null {
    return nativeCall(() => native().elementGet(this.pipeline.handle, this.name, prop));
  }

  /** Emits a no-argument action signal (e.g. dittotalkinghead's "interrupt"). GST_PROPERTY when it has none of that name. */
  emit(signal: string): void {
    nativeCall(() => native().elementEmit(this.pipeline.handle, this.name, signal));
  }

  /**
   * Sends EOS into the element (through its sink pad) from a worker thread, so that what is downstream
   * finishes: a muxer writes its index, a filesink posts EOS. Resolves once the element took the event.
   */
  sendEos(): Promise<void> {
    return nativeAsync(() => native().elementSendEos(this.pipeline.handle, this.name));
  }

  /**
   * Starts counting the buffers and bytes that pass one of this element's static pads (a probe in the
   * addon: atomics only, the streaming thread never waits). Idempotent. GST_NO_ELEMENT for an unknown pad.
   */
  watchPad(pad = 'src'): void {
    nativeCall(() => native().padWatch(this.pipeline.handle, this.name, pad));
  }

  /** The counters of a watched pad (zeros when unwatched), its current caps and EOS flag. */
  padCounters(pad = 'src'): PadCounters {
    return nativeCall(() => native().padCounters(this.pipeline.handle, this.name, pad));
  }
}

/** What padCounters() reads: counted since watchPad(), caps as the pad has them now. */
export interface PadCounters {
  buffers: number;
  bytes: number;
  /** Running time of the last buffer with a timestamp, in ms; null before one. */
  runningTimeMs: number | null;
  /** The pad's current caps as GStreamer prints them, null before negotiation. */
  caps: string | null;
  /**
   * The pad has received EOS (its EOS flag, watched or not). On a sink's pad: everything before the EOS has
   * reached the sink. A pipeline holding a webrtcbin never posts EOS itself (webrtcbin's own network sinks
   * never get one), so this is how to tell that a recording branch has finished.
   */
  eos: boolean;
}

/** An appsrc fed from JS. Each push copies the bytes once into a GstBuffer; nothing waits on V8's collector. */
export class AppSrc extends Element {
  /** false when the appsrc does not accept data (flushing, after EOS, stopped). Never blocks: block=true is refused. */
  push(data: Buffer): boolean {
    return nativeCall(() => native().appsrcPush(this.pipeline.handle, this.name, data));
  }

  /**
   * One half of dropping what the appsrc holds queued: 'start' stops it pushing, 'stop' clears its queue and
   * lets it push again. The flush stays inside the appsrc (downstream keeps its state and timeline). 'stop'
   * waits for the appsrc's thread to leave a push in progress: release whatever downstream holds it first.
   */
  flush(phase: 'start' | 'stop'): void {
    nativeCall(() => native().appsrcFlush(this.pipeline.handle, this.name, phase === 'start'));
  }

  endOfStream(): void {
    nativeCall(() => native().appsrcEos(this.pipeline.handle, this.name));
  }
}
