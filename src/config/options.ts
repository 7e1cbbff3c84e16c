import { z } from 'zod';
import { configSchema } from './schema.js';

/**
 * The config schema's leaves as options: each has a dotted path (JSON file), a --flag and a DITTO_ env name,
 * all derived from the same schema so the three sources cannot drift apart.
 */

export type OptionKind = 'string' | 'number' | 'boolean' | 'string[]' | 'number[]';

export interface ConfigOption {
  /** Key path in the JSON config file, e.g. ['sessions', 'max']. */
  path: string[];
  /** e.g. "--sessions-max" */
  flag: string;
  /** e.g. "DITTO_SESSIONS_MAX" */
  env: string;
  kind: OptionKind;
  description: string;
  defaultValue: unknown;
  /** Allowed values of enum leaves (or enum array items). */
  choices?: readonly string[];
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const screaming = (s: string) => kebab(s).replace(/-/g, '_').toUpperCase();

function unwrap(schema: z.ZodType): { inner: z.ZodType; description: string | undefined; defaultValue: unknown } {
  let inner: z.ZodType = schema;
  let description = schema.description;
  let defaultValue: unknown;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      defaultValue = inner.def.defaultValue;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodPrefault || inner instanceof z.ZodOptional) {
      inner = inner.unwrap() as z.ZodType;
    } else break;
    description ??= inner.description;
  }
  return { inner, description, defaultValue };
}

function leafKind(schema: z.ZodType): { kind: OptionKind; choices?: readonly string[] } {
  if (schema instanceof z.ZodString) return { kind: 'string' };
  if (schema instanceof z.ZodNumber) return { kind: 'number' };
  if (schema instanceof z.ZodBoolean) return { kind: 'boolean' };
  if (schema instanceof z.ZodEnum) return { kind: 'string', choices: schema.options.map(String) };
  if (schema instanceof z.ZodArray) {
    const item = unwrap(schema.element as z.ZodType).inner;
    if (item instanceof z.ZodNumber) return { kind: 'number[]' };
    if (item instanceof z.ZodString) return { kind: 'string[]' };
    if (item instanceof z.ZodEnum) return { kind: 'string[]', choices: item.options.map(String) };
  }
  throw new Error(`config schema leaf of unsupported type ${schema.def.type}`);
}

export function configOptions(schema: z.ZodObject = configSchema): ConfigOption[] {
  const out: ConfigOption[] = [];
  const walk = (obj: z.ZodObject, prefix: string[]) => {
    for (const [key, child] of Object.entries(obj.shape)) {
      const path = [...prefix, key];
      const { inner, description, defaultValue } = unwrap(child as z.ZodType);
      if (inner instanceof z.ZodObject) {
        walk(inner, path);
        continue;
      }
      const name = path.map(kebab).join('-');
      out.push({
        path,
        flag: '--' + name,
        env: 'DITTO_' + path.map(screaming).join('_'),
        ...leafKind(inner),
        description: description ?? '',
        defaultValue,
      });
    }
  };
  walk(schema, []);
  return out;
}

/**
 * Turns the text of a flag or env var into the raw value the schema expects. Only the shape is converted
 * (numbers, booleans, comma lists); range and type errors are left for the schema to report.
 */
export function valueFromText(option: ConfigOption, text: string): unknown {
  const asNumber = (t: string): unknown => {
    const trimmed = t.trim();
    const n = Number(trimmed);
    return trimmed !== '' && Number.isFinite(n) ? n : t;
  };
  switch (option.kind) {
    case 'string':
      return text;
    case 'number':
      return asNumber(text);
    case 'boolean': {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      return text;
    }
    case 'string[]':
    case 'number[]': {
      const parts = text.trim() === '' ? [] : text.split(',').map((p) => p.trim());
      return option.kind === 'number[]' ? parts.map(asNumber) : parts;
    }
  }
}
