/**
 * Debian's headless Chromium as a WebRTC receiver, driven by playwright-core (never a downloaded browser).
 *
 *   const browser = await ChromiumBrowser.launch();
 *   const rx = await browser.newReceiver();
 *   const offer = await rx.createOffer();          // recvonly audio + video, ICE gathered (no trickle)
 *   await rx.acceptAnswer(answerSdp);
 *   const s = await rx.waitFor((s) => (s.video?.framesDecoded ?? 0) > 10);
 *   await browser.close();
 *
 * Microphone: ChromiumBrowser.launch({ fakeMedia: true }) gives getUserMedia Chromium's fake devices (the fake
 * microphone beeps) without a permission prompt; newReceiver({ microphone: true }) then sends that microphone
 * on the audio transceiver, so the offer's audio m-line is sendrecv.
 *
 * Each receiver is its own page (about:blank) holding one RTCPeerConnection; the remote tracks play in
 * <video>/<audio> elements so that Chrome really decodes and renders them.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Flags for a root, GPU-less, offline machine (see the common brief). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export interface VideoReceiveStats {
  framesDecoded: number;
  framesReceived: number;
  framesDropped: number;
  frameWidth: number | null;
  frameHeight: number | null;
  /** Chrome's own estimate over the last second. */
  framesPerSecond: number | null;
  packetsReceived: number;
  packetsLost: number;
  codec: string | null;
  jitterBufferDelayS: number | null;
  jitterBufferEmittedCount: number | null;
  estimatedPlayoutTimestamp: number | null;
  bytesReceived: number;
}

export interface AudioReceiveStats {
  totalSamplesReceived: number;
  concealedSamples: number;
  audioLevel: number | null;
  packetsReceived: number;
  packetsLost: number;
  codec: string | null;
  jitterBufferDelayS: number | null;
  jitterBufferEmittedCount: number | null;
  estimatedPlayoutTimestamp: number | null;
}

export interface ReceiverStats {
  connectionState: RTCPeerConnectionState;
  iceConnectionState: RTCIceConnectionState;
  video: VideoReceiveStats | null;
  audio: AudioReceiveStats | null;
  /** Page-clock ms (performance.now()) when the <video> element presented its first frame, or null. */
  firstFramePageMs: number | null;
  /** Same instant as epoch ms (comparable with Date.now() in the test process), or null. */
  firstFrameEpochMs: number | null;
  /** Size the <video> element reports (videoWidth × videoHeight). */
  elementWidth: number;
  elementHeight: number;
  /** The microphone's outbound audio (receivers made with { microphone: true }), else null. */
  audioSent: { packetsSent: number; bytesSent: number } | null;
}

export interface ReceiverOptions {
  /** Send the (fake) microphone on the audio transceiver: the offer's audio m-line becomes sendrecv. */
  microphone?: boolean;
  /** Record what the viewer is shown and hears (see ChromiumReceiver.timeline()). */
  capture?: CaptureOptions;
  /** RTCConfiguration of the peer connection (iceServers, iceTransportPolicy). */
  rtcConfiguration?: { iceServers?: { urls: string | string[]; username?: string; credential?: string }[]; iceTransportPolicy?: 'all' | 'relay' };
}

/**
 * What a capturing receiver recorded, on the page's performance clock (ms): per displayed video frame the
 * time it is shown (requestVideoFrameCallback's expectedDisplayTime) and how far the capture region (a
 * portrait's mouth) differs from the first frame (mean |ΔY| over 32x32, 0..255); per 128-sample audio block
 * the time it reached WebAudio from the playout path and its RMS level (full scale 1).
 */
export interface CaptureOptions {
  /** The picture region to watch (the portrait's mouth), as fractions of the frame: x, y, width, height. */
  region: [number, number, number, number];
}

export interface ReceivedTimeline {
  video: [ms: number, mouth: number][];
  audio: [ms: number, rms: number][];
}

/** The transport the peer connection uses now (getStats' selected candidate pair). */
export interface SelectedPair {
  state: string;
  local: { candidateType: string; protocol: string; address: string | null; port: number | null; relayProtocol: string | null };
  remote: { candidateType: string; protocol: string; address: string | null; port: number | null };
}

export interface LaunchOptions {
  /** Chromium's fake camera/microphone for getUserMedia, permission granted without a prompt. */
  fakeMedia?: boolean;
  /** Another executable (e.g. a wrapper that runs Chromium inside a network namespace). */
  executablePath?: string;
  /** More Chromium flags (e.g. --disable-features=WebRtcHideLocalIpsWithMdns for raw host candidates). */
  args?: string[];
}

const MIC_PAGE_URL = 'http://localhost/ditto-receiver';

/** Flags for fake capture devices: the fake microphone plays a beep tone. */
export const FAKE_MEDIA_ARGS = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

export interface OfferOptions {
  /** Wait for ICE gathering to complete so the offer carries its candidates (default true, like the predecessor's client). */
  waitForGathering?: boolean;
  /** Bound on that wait (default 5000 ms); the offer then carries what was gathered. */
  gatheringTimeoutMs?: number;
}

// The page-side code: plain browser JavaScript kept as text, so the TypeScript loader never rewrites it
// (tsx injects helpers such as __name into functions, which do not exist in the page).
const PAGE_SCRIPT = `
(() => {
  const pc = new RTCPeerConnection((window.__rxOptions && window.__rxOptions.rtcConfiguration) || undefined);
  window.__pc = pc;
  const candidateErrors = [];
  pc.addEventListener('icecandidateerror', (e) => candidateErrors.push({ url: e.url, errorCode: e.errorCode, errorText: e.errorText }));
  const gathered = async (timeout) => {
    if (pc.iceGatheringState === 'complete') return;
    await new Promise((resolve) => {
      const t = setTimeout(resolve, timeout);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });
  };
  const video = document.createElement('video');
  const audio = document.createElement('audio');
  video.autoplay = true; video.muted = true; video.playsInline = true;
  audio.autoplay = true;
  document.body.append(video, audio);
  let firstFramePageMs = null;
  const microphone = Boolean(window.__rxOptions && window.__rxOptions.microphone);
  const audioTransceiver = pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  let micReady = null;
  const addMicrophone = async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    await audioTransceiver.sender.replaceTrack(stream.getAudioTracks()[0]);
    audioTransceiver.sender.setStreams(stream);
    audioTransceiver.direction = 'sendrecv';
  };
  pc.ontrack = (e) => {
    const el = e.track.kind === 'video' ? video : audio;
    el.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    el.play().catch(() => {});
    if (e.track.kind === 'video' && video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback((now) => { firstFramePageMs = now; });
    }
  };
  const num = (v) => (typeof v === 'number' ? v : null);
  window.__rx = {
    async offer(wait, timeout) {
      if (microphone) await (micReady ??= addMicrophone());
      await pc.setLocalDescription(await pc.createOffer());
      if (wait && pc.iceGatheringState !== 'complete') {
        await new Promise((resolve) => {
          const t = setTimeout(resolve, timeout);
          pc.addEventListener('icegatheringstatechange', () => {
            if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
          });
        });
      }
      return pc.localDescription.sdp;
    },
    async answer(sdp) { await pc.setRemoteDescription({ type: 'answer', sdp }); },
    async restart(config, timeout) {
      if (config) pc.setConfiguration(config);
      pc.restartIce();
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(timeout);
      return pc.localDescription.sdp;
    },
    async localSdp(timeout) { await gathered(timeout); return pc.localDescription.sdp; },
    candidateErrors() { return candidateErrors; },
    async selectedPair() {
      const report = await pc.getStats();
      let pair = null;
      report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
      if (!pair) return null;
      const l = report.get(pair.localCandidateId), r = report.get(pair.remoteCandidateId);
      return {
        state: pair.state,
        local: { candidateType: l.candidateType, protocol: l.protocol, address: l.address ?? null, port: num(l.port), relayProtocol: l.relayProtocol ?? null },
        remote: { candidateType: r.candidateType, protocol: r.protocol, address: r.address ?? null, port: num(r.port) },
      };
    },
    async candidate(sdpMLineIndex, candidate) { await pc.addIceCandidate({ sdpMLineIndex, candidate }); },
    close() { pc.close(); },
    async stats() {
      const report = await pc.getStats();
      const codecs = new Map();
      report.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, String(s.mimeType ?? '')); });
      let v = null, a = null, sent = null;
      report.forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'audio') {
          sent = { packetsSent: num(s.packetsSent) ?? 0, bytesSent: num(s.bytesSent) ?? 0 };
        }
        if (s.type !== 'inbound-rtp') return;
        const common = {
          packetsReceived: num(s.packetsReceived) ?? 0,
          packetsLost: num(s.packetsLost) ?? 0,
          codec: codecs.get(s.codecId) ?? null,
          jitterBufferDelayS: num(s.jitterBufferDelay),
          jitterBufferEmittedCount: num(s.jitterBufferEmittedCount),
          estimatedPlayoutTimestamp: num(s.estimatedPlayoutTimestamp),
        };
        if (s.kind === 'video') {
          v = { ...common,
            framesDecoded: num(s.framesDecoded) ?? 0, framesReceived: num(s.framesReceived) ?? 0,
            framesDropped: num(s.framesDropped) ?? 0, frameWidth: num(s.frameWidth),
            frameHeight: num(s.frameHeight), framesPerSecond: num(s.framesPerSecond),
            bytesReceived: num(s.bytesReceived) ?? 0 };
        } else if (s.kind === 'audio') {
          a = { ...common,
            totalSamplesReceived: num(s.totalSamplesReceived) ?? 0,
            concealedSamples: num(s.concealedSamples) ?? 0, audioLevel: num(s.audioLevel) };
        }
      });
      return {
        connectionState: pc.connectionState,
        iceConnectionState: pc.iceConnectionState,
        video: v, audio: a,
        firstFramePageMs,
        firstFrameEpochMs: firstFramePageMs === null ? null : performance.timeOrigin + firstFramePageMs,
        elementWidth: video.videoWidth,
        elementHeight: video.videoHeight,
        audioSent: microphone ? sent : null,
      };
    },
  };
})();
`;

// Capture for ReceivedTimeline, hooked on the page's peer connection (window.__pc). The audio taps the
// remote track in WebAudio, which Chrome feeds from the same playout pull as the <audio> element, so the
// level timeline is what is heard, after Chrome's own A/V synchronisation. The block time is mapped from the
// AudioContext clock to performance.now() with getOutputTimestamp().
const CAPTURE_SCRIPT = `
(() => {
  const pc = window.__pc;
  const [rx, ry, rw, rh] = window.__rxOptions.capture.region;
  const cap = { video: [], audio: [] };
  window.__cap = cap;
  const canvas = document.createElement('canvas');
  canvas.width = 32; canvas.height = 32;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  let ref = null, skipped = 0;
  pc.addEventListener('track', (e) => {
    if (e.track.kind === 'video') {
      const v = document.querySelector('video');
      const onFrame = (now, meta) => {
        const w = v.videoWidth, h = v.videoHeight;
        if (w && h) {
          g.drawImage(v, w * rx, h * ry, w * rw, h * rh, 0, 0, 32, 32);
          const d = g.getImageData(0, 0, 32, 32).data;
          const y = new Float32Array(1024);
          for (let i = 0; i < 1024; i++) y[i] = 0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2];
          // The reference is the 5th frame, not the 1st: a first decoded frame can be a blank (grey or green)
          // picture, against which every later frame differs everywhere and the mouth's motion is lost.
          if (!ref && ++skipped >= 5) ref = y;
          if (!ref) {
            cap.video.push([meta.expectedDisplayTime, 0]);
            v.requestVideoFrameCallback(onFrame);
            return;
          }
          let s = 0;
          for (let i = 0; i < 1024; i++) s += Math.abs(y[i] - ref[i]);
          cap.video.push([meta.expectedDisplayTime, s / 1024]);
        }
        v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
    } else if (e.track.kind === 'audio') {
      const ctx = new AudioContext();
      const src = ctx.createMediaStreamSource(e.streams[0] ?? new MediaStream([e.track]));
      const sp = ctx.createScriptProcessor(512, 1, 1);
      sp.onaudioprocess = (ev) => {
        const x = ev.inputBuffer.getChannelData(0);
        const ts = ctx.getOutputTimestamp();
        const t0 = ts.performanceTime + (ev.playbackTime - ev.inputBuffer.duration - ts.contextTime) * 1000;
        for (let k = 0; k + 128 <= x.length; k += 128) {
          let s = 0;
          for (let i = k; i < k + 128; i++) s += x[i] * x[i];
          cap.audio.push([t0 + (k / ctx.sampleRate) * 1000, Math.sqrt(s / 128)]);
        }
      };
      src.connect(sp);
      sp.connect(ctx.destination);
      ctx.resume().catch(() => {});
    }
  });
})();
`;

/** Calls window.__rx.<method>(...args) in the page; the arguments travel as JSON. */
function call<T>(page: Page, method: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(`window.__rx.${method}(...${JSON.stringify(args)})`) as Promise<T>;
}

export class ChromiumReceiver {
  private closed = false;

  constructor(private readonly page: Page) {}

  /** An audio+video offer (recvonly, or sendrecv audio with the microphone), by default with its ICE candidates gathered in. */
  createOffer(options: OfferOptions = {}): Promise<string> {
    return call<string>(this.page, 'offer', options.waitForGathering ?? true, options.gatheringTimeoutMs ?? 5000);
  }

  acceptAnswer(sdp: string): Promise<void> {
    return call<void>(this.page, 'answer', sdp);
  }

  /** Trickled candidates from the server, if it sends any. */
  addIceCandidate(sdpMLineIndex: number, candidate: string): Promise<void> {
    return call<void>(this.page, 'candidate', sdpMLineIndex, candidate);
  }

  /**
   * ICE restart as the offerer (RTCPeerConnection.restartIce), optionally with a new configuration (new TURN
   * servers after a network change): resolves with the new offer once gathered (bounded by timeoutMs).
   */
  restartIce(config?: ReceiverOptions['rtcConfiguration'], timeoutMs = 5000): Promise<string> {
    return call<string>(this.page, 'restart', config ?? null, timeoutMs);
  }

  /** The current local description, once gathering completed (bounded). */
  localDescription(timeoutMs = 5000): Promise<string> {
    return call<string>(this.page, 'localSdp', timeoutMs);
  }

  /** icecandidateerror events so far (a TURN server refusing our credentials shows up here). */
  candidateErrors(): Promise<{ url: string; errorCode: number; errorText: string }[]> {
    return call(this.page, 'candidateErrors');
  }

  /** The selected candidate pair, or null before one is selected. */
  selectedPair(): Promise<SelectedPair | null> {
    return call<SelectedPair | null>(this.page, 'selectedPair');
  }

  stats(): Promise<ReceiverStats> {
    return call<ReceiverStats>(this.page, 'stats');
  }

  /** The capture so far (receivers made with { capture: true }; empty otherwise). */
  async timeline(): Promise<ReceivedTimeline> {
    return (await this.page.evaluate('window.__cap ?? { video: [], audio: [] }')) as ReceivedTimeline;
  }

  /** Polls stats until the predicate holds; rejects with the last stats after timeoutMs. */
  async waitFor(
    predicate: (s: ReceiverStats) => boolean,
    { timeoutMs = 10_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<ReceiverStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.stats();
      if (predicate(s)) return s;
      if (Date.now() > deadline) throw new Error(`receiver condition not met within ${timeoutMs} ms; last stats: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Decoded video frames per second over a window, from framesDecoded deltas. */
  async measureFps(windowMs = 2000): Promise<number> {
    const a = await this.stats();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const b = await this.stats();
    return ((b.video?.framesDecoded ?? 0) - (a.video?.framesDecoded ?? 0)) / ((Date.now() - t0) / 1000);
  }

  /** Closes the peer connection (the viewer leaves cleanly) and the page. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await call<void>(this.page, 'close').catch(() => {});
    await this.page.close().catch(() => {});
  }

  /** Closes the page without closing the peer connection first: a viewer that silently vanishes. */
  async vanish(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.page.close({ runBeforeUnload: false }).catch(() => {});
  }
}

export class ChromiumBrowser {
  private constructor(
    private readonly context: BrowserContext,
    private readonly profileDir: string,
  ) {}

  static async launch(options: LaunchOptions = {}): Promise<ChromiumBrowser> {
    if (!chromiumAvailable()) throw new Error(`Chromium not found at ${CHROMIUM_PATH} (bash docker/setup.sh --test installs it)`);
    // A fresh profile every time; removed on close.
    const profileDir = mkdtempSync(join(tmpdir(), 'ditto-chromium-'));
    // Playwright passes the profile as --user-data-dir itself.
    const context = await chromium.launchPersistentContext(profileDir, {
      executablePath: options.executablePath ?? CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...(options.fakeMedia ? FAKE_MEDIA_ARGS : []), ...(options.args ?? [])],
      timeout: 30_000,
    });
    return new ChromiumBrowser(context, profileDir);
  }

  async newReceiver(options: ReceiverOptions = {}): Promise<ChromiumReceiver> {
    const page = await this.context.newPage();
    if (options.microphone) {
      // getUserMedia needs a secure context, which about:blank is not: an empty page "from" localhost is one.
      // Playwright answers the request itself; nothing listens on that address.
      await page.route(MIC_PAGE_URL, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>rx</title>' }));
      await page.goto(MIC_PAGE_URL);
    } else {
      await page.goto('about:blank');
    }
    await page.evaluate(`window.__rxOptions = ${JSON.stringify(options)};`);
    await page.evaluate(PAGE_SCRIPT);
    if (options.capture) await page.evaluate(CAPTURE_SCRIPT);
    return new ChromiumReceiver(page);
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}
