import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { validationError } from '../offers/offer-service.js';

/**
 * Route schemas come from the zod types: each route declares them as JSON Schema (z.toJSONSchema, so the schema
 * is visible to Fastify and to anything that documents the routes), and the validator compiler runs the zod type
 * itself, so a failure is the one VALIDATION_FAILED error shape with zod's issues, and refinements hold.
 */

const ZOD = Symbol('zod type');

interface Tagged {
  [ZOD]?: { schema: z.ZodType; what: string };
}

/** A route schema part (body, params, querystring) built from a zod type; `what` names it in error messages. */
export function zodSchema(schema: z.ZodType, what: string): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown> & Tagged;
  delete json['$schema'];
  Object.defineProperty(json, ZOD, { value: { schema, what }, enumerable: false });
  return json;
}

/** Fastify's validator compiler for schemas built with zodSchema(). */
export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, url, httpPart }) => {
  const tagged = (schema as Tagged)[ZOD];
  if (!tagged) throw new Error(`route ${url}: the ${httpPart ?? 'request'} schema was not built with zodSchema()`);
  return (data: unknown) => {
    const r = tagged.schema.safeParse(data);
    return r.success ? { value: r.data } : { error: validationError(r.error, tagged.what) };
  };
};
