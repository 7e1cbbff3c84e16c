/**
 * GStreamer control for the server: pipelines from launch descriptions, elements and properties, webrtcbin
 * offer/answer/ICE/stats, bus and webrtcbin events, appsrc push. Backed by the N-API addon in src/native/.
 */
import { nativeCall } from './errors.js';
import { native, nativeLoaded } from './native.js';

export { GstError, type GstErrorCode } from './errors.js';
export { Element, AppSrc, type PadCounters } from './element.js';
export { WebRtcBin, type AnswerOptions, type IncomingTargets, type OfferOptions, type TransceiverDirection } from './webrtcbin.js';
export { Pipeline, type LaunchOptions } from './pipeline.js';
export { onListenerError, type ListenerErrorHandler } from './emitter.js';
export type * from './types.js';

/** GStreamer's version string; initialises GStreamer on first use (GstError('GST_INIT') when it cannot). */
export function gstVersion(): string {
  return nativeCall(() => native().version());
}

/**
 * Element messages (telemetry such as ditto-stats) the addon dropped, all pipelines, because the JS thread was
 * too far behind to take them (a bounded queue: see src/native/dispatch.c). 0 before the addon is loaded.
 */
export function nativeEventsDropped(): number {
  return nativeLoaded() ? native().eventsDropped() : 0;
}

/** Whether an element factory is installed (initialises GStreamer on first use). */
export function hasElementFactory(name: string): boolean {
  return nativeCall(() => native().hasElementFactory(name));
}
