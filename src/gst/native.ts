import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GstError } from './errors.js';
import type { PadCounters } from './element.js';
import type { IncomingTargets, TransceiverDirection } from './webrtcbin.js';
import type { IceConfig, IceRestartResult, PropertyValue, WebRtcConnectionState, WebRtcIceConnectionState, WebRtcIceGatheringState } from './types.js';

/** Opaque pipeline handle owned by the addon. */
export type NativeHandle = { readonly __brand: 'ditto-gst-pipeline' };

/** Receives every event of one pipeline: target is a webrtcbin name, or null for the pipeline's bus. */
export type NativeDispatcher = (target: string | null, event: string, payload: unknown) => void;

/** The addon's surface (src/native/addon.c). Errors carry a GST_* `code`. */
export interface NativeAddon {
  version(): string;
  hasElementFactory(name: string): boolean;
  /** Parses on a worker thread; rejects GST_PARSE. */
  pipelineLaunch(description: string, name: string | null, dispatch: NativeDispatcher): Promise<NativeHandle>;
  pipelineName(h: NativeHandle): string;
  pipelineSetState(h: NativeHandle, state: 'ready' | 'paused' | 'playing'): Promise<'success' | 'async' | 'no-preroll'>;
  pipelineClose(h: NativeHandle): Promise<void>;
  pipelineLatency(h: NativeHandle): number | null;
  /** Returns the element's GType name; throws GST_NO_ELEMENT. */
  elementCheck(h: NativeHandle, element: string): string;
  elementSet(h: NativeHandle, element: string, prop: string, value: PropertyValue): void;
  elementGet(h: NativeHandle, element: string, prop: string): PropertyValue | null;
  appsrcCheck(h: NativeHandle, element: string): void;
  appsrcPush(h: NativeHandle, element: string, data: Buffer): boolean;
  appsrcEos(h: NativeHandle, element: string): void;
  appsrcFlush(h: NativeHandle, element: string, start: boolean): void;
  elementEmit(h: NativeHandle, element: string, signal: string): void;
  elementSendEos(h: NativeHandle, element: string): Promise<void>;
  webrtcConfigure(h: NativeHandle, element: string, ice: IceConfig | undefined): void;
  webrtcAnswer(h: NativeHandle, element: string, offerSdp: string, capsWaitMs: number, gatherTimeoutMs: number): Promise<string>;
  webrtcAddIceCandidate(h: NativeHandle, element: string, sdpMLineIndex: number, candidate: string): void;
  webrtcIceRestart(h: NativeHandle, element: string, remoteUfrag: string, remotePwd: string): IceRestartResult;
  webrtcStats(h: NativeHandle, element: string): Promise<Record<string, unknown>>;
  webrtcStates(h: NativeHandle, element: string): {
    connection: WebRtcConnectionState;
    ice: WebRtcIceConnectionState;
    gathering: WebRtcIceGatheringState;
  };
  webrtcRtcpAge(h: NativeHandle, element: string): number | null;
  webrtcAddTransceiver(h: NativeHandle, element: string, direction: TransceiverDirection, caps: string): void;
  webrtcOffer(h: NativeHandle, element: string, gatherTimeoutMs: number): Promise<string>;
  webrtcAcceptAnswer(h: NativeHandle, element: string, answerSdp: string): Promise<void>;
  webrtcLinkIncoming(h: NativeHandle, element: string, targets: IncomingTargets): void;
  padWatch(h: NativeHandle, element: string, pad: string): void;
  padCounters(h: NativeHandle, element: string, pad: string): PadCounters;
  eventsDropped(): number;
}

const ADDON_RELATIVE = join('src', 'native', 'build', 'Release', 'ditto_gst.node');

/** src/native/build/Release/ditto_gst.node under the package root (works from src/ and dist/src/). */
function addonPath(): string {
  const override = process.env['DITTO_GST_ADDON'];
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, ADDON_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new GstError('GST_INIT', `native addon not found (${ADDON_RELATIVE}); build it with \`npm run build:addon\``);
    }
    dir = parent;
  }
}

let loaded: NativeAddon | null = null;

/** Whether the addon has been loaded (something asked GStreamer for work). */
export function nativeLoaded(): boolean {
  return loaded !== null;
}

export function native(): NativeAddon {
  if (!loaded) {
    const path = addonPath();
    try {
      loaded = createRequire(import.meta.url)(path) as NativeAddon;
    } catch (e) {
      throw new GstError('GST_INIT', `cannot load the native addon ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
  return loaded;
}
