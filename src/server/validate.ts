import type { z } from 'zod';
import { validationError } from '../offers/offer-service.js';

/** Parses request parts with zod; failures become the one VALIDATION_FAILED error shape. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error, what);
  return r.data;
}
