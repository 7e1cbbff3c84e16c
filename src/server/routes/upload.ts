import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';
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
    try {
      for await (const part of request.parts()) {
        if (part.type !== 'file') continue; // plain form fields carry nothing we use
        const field = part.fieldname;
        if (!isUploadField(field)) {
          throw new AppError('UPLOAD_INVALID', `unknown file field "${field}": use "audio" and/or "source"`, { details: { field } });
        }
        if (received[field]) throw new AppError('UPLOAD_INVALID', `field "${field}" was sent twice`, { details: { field } });
        received[field] = await app.uploads.receive(field, part.file);
      }
    } catch (e) {
      await app.uploads.discard(received);
      throw e;
    }
    const result = await app.uploads.accept(received, uploader);
    request.log.info({ audio_id: result.audio_id, source_id: result.source_id }, 'upload stored');
    return reply.status(200).send(result);
  });
}
