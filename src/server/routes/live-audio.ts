import websocket from '@fastify/websocket';
import { selectWsProtocol } from '../../auth/index.js';
import type { FastifyInstance } from 'fastify';
import { AppError, isAppError } from '../../errors.js';
import { parseAudioChunk, slices } from '../../live-audio/audio-chunk.js';
import { OggOpusReader } from '../../live-audio/ogg-opus.js';
import type { Session } from '../../sessions/session.js';
import { liveControlMessage, sessionRouteSchema, type SessionIdParams } from '../schemas.js';

/**
 * Live audio for sessions offered with audio_source "push" (a TTS or LLM voice front end):
 *  - GET /webrtc/sessions/:id/audio upgrades to a WebSocket. Binary messages are audio: raw PCM s16le 16 kHz
 *    mono, WAV chunks (any PCM/float format; converted in the graph), or Ogg/Opus pages (one Ogg stream per
 *    utterance, chained; a page may span messages; decoded by the graph's opusdec). Each is answered with a text
 *    message {"type":"queued","duration_s","pushed_s"}; a bad one with {"type":"error","error":{code,message}}
 *    (the socket stays open). Text message {"type":"interrupt"} is the same as POST .../interrupt;
 *    {"type":"keepalive"} resets the idle timeout like POST .../keepalive (audio and interrupts do too).
 *    The session's token comes as bearer, `?token=` or the subprotocol `ditto-token.<token>` next to `ditto-gst`.
 *  - POST /webrtc/sessions/:id/interrupt drops the queued audio: the face returns to idle at once.
 * Between utterances the element animates silence; the stream never stops. The socket closes when the
 * session ends.
 * Back-pressure: playback drains pushed audio in real time. Once more than QUEUE_HIGH_S is queued the server
 * stops reading the socket (TCP slows the client) and says {"type":"backpressure","queued_s"}; below QUEUE_LOW_S
 * it reads again and says {"type":"resumed","queued_s"}. A chunk that would put more than QUEUE_MAX_S ahead is
 * refused with LIVE_AUDIO_OVERRUN (not queued). While reading is paused, interrupt with POST .../interrupt.
 */

const QUEUE_HIGH_S = 30;
const QUEUE_LOW_S = 10;
const QUEUE_MAX_S = 150;
const RESUME_POLL_MS = 200;

export default async function liveAudioRoutes(app: FastifyInstance) {
  // A browser that offers subprotocols (the token's) fails the connection unless one is selected: `ditto-gst`.
  await app.register(websocket, {
    options: { maxPayload: app.appConfig.liveAudio.maxMessageBytes, handleProtocols: (protocols) => selectWsProtocol(protocols) },
  });
  const owner = app.auth.requireSessionOwner();
  const wsOwner = app.auth.requireSessionOwner({ websocket: true });

  const pushSession = ({ id }: SessionIdParams): Session => {
    const session = app.sessions.get(id);
    if (session.audioSource !== 'push') {
      const from = session.audioSource === 'mic' ? 'the microphone' : 'a file';
      throw new AppError('SESSION_NOT_LIVE', `session ${id} takes its audio from ${from}: offer with audio_source "push" to send audio`, {
        details: { session_id: id, audio_source: session.audioSource },
      });
    }
    return session;
  };

  app.post<{ Params: SessionIdParams }>('/webrtc/sessions/:id/interrupt', { schema: sessionRouteSchema, onRequest: owner }, async (request) => {
    const session = pushSession(request.params);
    session.interrupt();
    app.lifecycle.interrupted(session.id);
    return { session_id: session.id, interrupted: true };
  });

  app.get<{ Params: SessionIdParams }>(
    '/webrtc/sessions/:id/audio',
    {
      websocket: true,
      schema: sessionRouteSchema,
      onRequest: wsOwner,
      // Refusals happen before the upgrade (after the params are validated), as ordinary HTTP answers.
      preHandler: async (request) => {
        pushSession(request.params);
      },
    },
    (socket, request) => {
      const session = pushSession(request.params);
      const log = request.log.child({ session_id: session.id });
      let pushedS = 0;
      const ogg = new OggOpusReader();
      const send = (msg: unknown) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
      };
      const fail = (e: unknown) => {
        const err = isAppError(e) ? e : new AppError('INTERNAL', 'internal server error', { cause: e });
        if (!isAppError(e)) log.error({ err: e }, 'live audio failed');
        send({ type: 'error', ...err.toJSON() });
      };
      const onClosed = () => socket.close(1001, 'session ended');
      session.once('closed', onClosed);
      let resumeTimer: NodeJS.Timeout | null = null;
      socket.on('close', () => {
        session.off('closed', onClosed);
        if (resumeTimer) clearInterval(resumeTimer);
      });
      const admit = (durationS: number) => {
        const queued = session.queuedAudioS;
        if (queued + durationS > QUEUE_MAX_S) {
          throw new AppError('LIVE_AUDIO_OVERRUN', `${queued.toFixed(1)} s of audio are queued; this chunk would put more than ${QUEUE_MAX_S} s ahead of playback: wait, or interrupt`, {
            details: { queued_s: queued, chunk_s: durationS, max_s: QUEUE_MAX_S },
          });
        }
      };
      const throttle = () => {
        const queued = session.queuedAudioS;
        if (resumeTimer || queued <= QUEUE_HIGH_S) return;
        socket.pause();
        send({ type: 'backpressure', queued_s: queued });
        log.info({ queued_s: queued }, 'live audio ahead of playback: socket reading paused');
        resumeTimer = setInterval(() => {
          const now = session.queuedAudioS;
          if (now > QUEUE_LOW_S && !session.ended) return;
          clearInterval(resumeTimer!);
          resumeTimer = null;
          socket.resume();
          send({ type: 'resumed', queued_s: now });
        }, RESUME_POLL_MS);
      };
      socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        try {
          if (!isBinary) {
            const parsed = liveControlMessage.safeParse(safeJson(data.toString()));
            if (!parsed.success) throw new AppError('LIVE_AUDIO_INVALID', 'text messages must be {"type":"interrupt"} or {"type":"keepalive"}; audio goes in binary messages');
            if (parsed.data.type === 'keepalive') {
              app.lifecycle.touch(session.id);
              send({ type: 'keepalive', limits: app.lifecycle.info(session.id) });
              return;
            }
            session.interrupt();
            app.lifecycle.interrupted(session.id);
            ogg.reset(); // the rest of an interrupted Ogg stream is not wanted either
            send({ type: 'interrupted' });
            return;
          }
          const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
          let durationS: number;
          if (ogg.midPage || OggOpusReader.isOgg(buf)) {
            const opus = ogg.read(buf);
            admit(opus.durationS);
            if (opus.packets.length > 0 && !session.pushOpus(opus.packets, opus.channels, opus.durationS)) {
              throw new AppError('SESSION_NOT_LIVE', 'the session no longer takes audio');
            }
            durationS = opus.durationS;
          } else {
            const chunk = parseAudioChunk(buf);
            admit(chunk.durationS);
            for (const slice of slices(chunk)) {
              if (!session.pushAudio(slice, chunk.caps, slice.length / chunk.data.length * chunk.durationS)) {
                throw new AppError('SESSION_NOT_LIVE', 'the session no longer takes audio');
              }
            }
            durationS = chunk.durationS;
          }
          pushedS += durationS;
          app.lifecycle.touch(session.id, durationS);
          send({ type: 'queued', duration_s: durationS, pushed_s: pushedS });
          throttle();
        } catch (e) {
          fail(e);
        }
      });
      log.info({}, 'live audio socket open');
    },
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
