import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, errorBody, isAppError, type ErrorCode } from '../../errors.js';

/**
 * Every failure answers {"error":{"code","message","details"?}}: AppErrors as they are, Fastify's own
 * rejections (body too large, wrong content type, broken JSON) mapped to our codes, anything else as a 500
 * that logs the real error and tells the client nothing internal.
 */

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  // @fastify/multipart (POST /upload)
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FIELDS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_PROTO_VIOLATION: 'UPLOAD_INVALID',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

export function toAppError(error: FastifyError | Error): AppError {
  if (isAppError(error)) return error;
  const fe = error as FastifyError;
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return new AppError(mapped, fe.message, { cause: error });
  // The built-in JSON parser reports syntax errors as plain 400 SyntaxErrors.
  if (fe.statusCode === 400 && error instanceof SyntaxError) return new AppError('INVALID_JSON', `invalid JSON body: ${error.message}`);
  if (fe.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE', fe.message);
  if (fe.statusCode === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', fe.message);
  if (fe.statusCode === 404) return new AppError('NOT_FOUND', fe.message);
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new AppError('VALIDATION_FAILED', fe.message, { cause: error });
  }
  return new AppError('INTERNAL', 'internal server error', { cause: error });
}

export default fp(
  async function errorHandling(app: FastifyInstance) {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const appError = toAppError(error);
      if (appError.status >= 500) request.log.error({ err: error, code: appError.code }, appError.message);
      else request.log.info({ code: appError.code, status: appError.status }, appError.message);
      app.metrics?.errors.inc({ code: appError.code });
      if (appError.retryAfterS !== undefined) void reply.header('Retry-After', String(appError.retryAfterS));
      return reply.status(appError.status).send(appError.toJSON());
    });
    app.setNotFoundHandler((request, reply) => {
      app.metrics?.errors.inc({ code: 'NOT_FOUND' });
      return reply.status(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
    });
  },
  { name: 'error-handling' },
);
