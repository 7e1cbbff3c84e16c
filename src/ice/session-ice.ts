import type { IceRestartResult } from '../gst/types.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { announceCandidate, announceSdp } from './announce.js';
import { buildSdpFrag, fragCredentials, parseSdpFrag, SdpFragError, sdpIceCredentials, sdpMids, type SdpFrag } from './sdpfrag.js';

/**
 * The ICE side of one session after its answer: the viewer's trickled candidates, the server's late ones, and
 * ICE restarts (RFC 8840 sdpfrags, as WHEP PATCH carries them). The answer itself still carries every
 * candidate gathered within the gathering bound, for clients that do not trickle.
 */

/** What SessionIce needs of a webrtcbin (WebRtcBin implements it). */
export interface IceTransportControl {
  addIceCandidate(sdpMLineIndex: number, candidate: string): void;
  restartIce(remoteUfrag: string, remotePwd: string): IceRestartResult;
  on(event: 'ice-candidate', listener: (c: { sdpMLineIndex: number; candidate: string }) => void): unknown;
  off(event: 'ice-candidate', listener: (c: { sdpMLineIndex: number; candidate: string }) => void): unknown;
}

export interface PatchResult {
  /** An sdpfrag for the client (a restart's new credentials and candidates, or late server candidates), or null. */
  fragment: string | null;
  restarted: boolean;
}

export class SessionIce {
  private readonly mids: (string | null)[];
  private remote: { ufrag: string | null; pwd: string | null };
  private answerSdp: string | null = null;
  private generation = 0;
  private local: { ufrag: string | null; pwd: string | null } = { ufrag: null, pwd: null };
  /** Local candidates gathered after the answer was written, not yet handed to the client. */
  private late: string[] = [];
  private readonly inAnswer = new Set<string>();

  constructor(
    private readonly webrtc: IceTransportControl,
    offerSdp: string,
    private readonly publicAddress: string,
    private readonly log: Logger,
  ) {
    this.mids = sdpMids(offerSdp);
    this.remote = sdpIceCredentials(offerSdp);
    webrtc.on('ice-candidate', this.onLocalCandidate);
  }

  /** Records the answer webrtcbin wrote and returns it as the client gets it (public address announced). */
  answered(answerSdp: string): string {
    const sdp = announceSdp(answerSdp, this.publicAddress);
    this.answerSdp = sdp;
    this.local = sdpIceCredentials(sdp);
    for (const line of sdp.split(/\r?\n/)) if (line.startsWith('a=candidate:')) this.inAnswer.add(candidateKey(line.slice(2)));
    this.late = this.late.filter((c) => !this.inAnswer.has(candidateKey(c)));
    return sdp;
  }

  /** Changes with every ICE restart (the WHEP resource's ETag). */
  get etag(): string {
    return `"ice-${this.generation}-${this.local.ufrag ?? 'none'}"`;
  }

  /**
   * Applies a PATCH body: new remote candidates (trickle), or new remote credentials (an ICE restart, which
   * answers with the server's new credentials and candidates). Throws AppError INVALID_SDP for a body
   * that is not an sdpfrag or names an m-line the offer does not have.
   */
  patch(body: string): PatchResult {
    let frag: SdpFrag;
    try {
      frag = parseSdpFrag(body);
    } catch (e) {
      if (e instanceof SdpFragError) throw new AppError('INVALID_SDP', `invalid trickle-ice-sdpfrag: ${e.message}`);
      throw e;
    }
    const first = frag.media[0];
    const creds = first ? fragCredentials(frag, first) : { ufrag: frag.ufrag, pwd: frag.pwd };
    const restart = creds.ufrag !== null && creds.pwd !== null && creds.ufrag !== this.remote.ufrag;
    if (restart) return { fragment: this.restart(frag, creds.ufrag!, creds.pwd!), restarted: true };
    if (creds.ufrag !== null && creds.ufrag !== this.remote.ufrag) {
      throw new AppError('INVALID_SDP', 'the sdpfrag names an ICE ufrag without its ice-pwd: send both to restart ICE');
    }
    this.addRemote(frag);
    return { fragment: this.takeLate(), restarted: false };
  }

  stop(): void {
    this.webrtc.off('ice-candidate', this.onLocalCandidate);
  }

  private restart(frag: SdpFrag, ufrag: string, pwd: string): string {
    const r = this.webrtc.restartIce(ufrag, pwd);
    this.generation++;
    this.remote = { ufrag, pwd };
    this.local = { ufrag: r.ufrag, pwd: r.pwd };
    this.late = [];
    this.addRemote(frag);
    this.log.info({ ice_generation: this.generation, candidates: r.candidates.length }, 'ICE restarted');
    const mLine = this.answerSdp?.split(/\r?\n/).find((l) => l.startsWith('m='));
    return buildSdpFrag({
      ufrag: r.ufrag,
      pwd: r.pwd,
      sections: [
        {
          mid: this.mids[0] ?? '0',
          ...(mLine ? { mLine } : {}),
          candidates: this.publicAddress ? r.candidates.map((c) => announceCandidate(c, this.publicAddress)) : r.candidates,
          endOfCandidates: true,
        },
      ],
    });
  }

  private addRemote(frag: SdpFrag): void {
    for (const m of frag.media) {
      const index = m.mid === null ? 0 : this.mids.indexOf(m.mid);
      if (index < 0) throw new AppError('INVALID_SDP', `the sdpfrag names m-line mid "${m.mid}", which the offer does not have`);
      for (const c of m.candidates) this.webrtc.addIceCandidate(index, c);
    }
  }

  private takeLate(): string | null {
    if (this.late.length === 0) return null;
    const candidates = this.late;
    this.late = [];
    return buildSdpFrag({ sections: [{ mid: this.mids[0] ?? '0', candidates }] });
  }

  private readonly onLocalCandidate = (c: { sdpMLineIndex: number; candidate: string }) => {
    // With BUNDLE every m-line shares the first one's transport: keep one copy.
    if (c.sdpMLineIndex !== 0 || !c.candidate) return;
    const cand = this.publicAddress ? announceCandidate(c.candidate, this.publicAddress) : c.candidate;
    if (this.answerSdp !== null && this.inAnswer.has(candidateKey(cand))) return;
    this.late.push(cand);
  };
}

/** transport, address, port: what makes two candidate lines the same candidate. */
function candidateKey(candidate: string): string {
  const f = candidate.replace(/^a=/, '').split(' ');
  return [f[1], (f[2] ?? '').toLowerCase(), f[4], f[5]].join(' ');
}
