import multipart from '@fastify/multipart';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { AppError, isAppError } from '../../errors.js';
import { isUploadField, type UploadField } from '../../uploads/upload-service.js';
import type { ReceivedFile } from '../../uploads/upload-store.js';

/**
 * POST /upload: multipart/form-data with file fields "audio" and/or "source". Answers
 * {audio_path, source_path, audio_id, source_id, files} where the paths go into POST /webrtc/offer as they
 * are. Multipart is registered in this plugin only, so no other route accepts it.
 */
export default async function uploadRoutes(app: FastifyInstance) {
  const { upload } = app.appConfig;
  await app.register(multipart, {
    // The per-field limits are enforced while streaming (UploadStore.receive, which names the field); this is
    // busboy's hard stop one byte later, so ours always fires first.
    limits: {
      fileSize: Math.max(upload.maxAudioBytes, upload.maxImageBytes) + 1,
      files: 2,
      fields: 8,
      fieldSize: 1024,
      parts: 10,
      headerPairs: 100,
    },
    throwFileSizeLimit: true,
  });

  // Uploads take disk: with API keys configured they need one, like creating a session.
  app.post('/upload', { onRequest: app.auth.requireApiKey }, async (request, reply) => {
    if (!request.isMultipart()) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'POST /upload takes multipart/form-data with file fields "audio" and/or "source"');
    }
    // Per uploader: its API key, else its address. One at its quota is refused before a byte is read.
    const uploader = app.auth.clientKey(request);
    app.uploads.checkQuota(uploader, 1, 1);
    const received: Partial<Record<UploadField, ReceivedFile>> = {};
    // A client that dribbles its body (slowloris) is cut off after upload.timeoutMs: the file being written is
    // destroyed with the timeout error, and the answer closes the connection so the rest is never read.
    const timeout = new AppError('UPLOAD_TIMEOUT', `the upload did not arrive within ${upload.timeoutMs} ms`, { details: { timeout_ms: upload.timeoutMs } });
    let expired = false;
    let file: Readable | undefined;
    let storeError: unknown;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        file?.destroy(timeout);
        reject(timeout);
      }, upload.timeoutMs);
    });
    const receiveAll = (async () => {
      for await (const part of request.parts()) {
        if (expired) throw timeout;
        if (part.type !== 'file') continue; // plain form fields carry nothing we use
        const field = part.fieldname;
        if (!isUploadField(field)) {
          throw new AppError('UPLOAD_INVALID', `unknown file field "${field}": use "audio" and/or "source"`, { details: { field } });
        }
        if (received[field]) throw new AppError('UPLOAD_INVALID', `field "${field}" was sent twice`, { details: { field } });
        file = part.file;
        try {
          received[field] = await app.uploads.receive(field, part.file);
        } catch (e) {
          storeError = e;
          throw e;
        }
        file = undefined;
      }
    })();
    try {
      await Promise.race([receiveAll, timedOut]);
    } catch (e) {
      await app.uploads.discard(received);
      if (expired) {
        // A part received after the deadline (before the connection closes) is dropped as well.
        void receiveAll.catch(() => undefined).finally(() => app.uploads.discard(received));
        void reply.header('connection', 'close');
        throw timeout;
      }
      const code = (e as { code?: string }).code;
      // A connection cut mid-file or between parts (the request errors "aborted"), or a body that ends inside
      // a part: the client's upload is incomplete, not our failure.
      if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') {
        throw new AppError('UPLOAD_INCOMPLETE', 'the connection ended before the upload was complete');
      }
      // The multipart parser's own refusals (no boundary, malformed part headers) are plain Errors without a
      // code; everything else (our AppErrors, @fastify/multipart's FST_ codes, disk errors) keeps its meaning.
      if (e !== storeError && !isAppError(e) && code === undefined && e instanceof Error) {
        throw new AppError('UPLOAD_INVALID', `malformed multipart body: ${e.message}`, { cause: e });
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const result = await app.uploads.accept(received, uploader);
    request.log.info({ audio_id: result.audio_id, source_id: result.source_id }, 'upload stored');
    return reply.status(200).send(result);
  });
}
