import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { configOptions, valueFromText, type ConfigOption } from './options.js';
import { configSchema, type ServerConfig } from './schema.js';

/** Options whose values are filesystem paths: relative ones resolve against where they were given. */
const PATH_OPTIONS = new Set(['pluginPath', 'media.dirs', 'uploadDir', 'pipelines.dir', 'worker.socket']);

export interface ConfigSources {
  /** Parsed CLI flags by name without dashes, e.g. { "sessions-max": "4" }. */
  flags?: Record<string, string>;
  /** Environment (only DITTO_* names are read). */
  env?: Record<string, string | undefined>;
  /** JSON config file; defaults to --config or DITTO_CONFIG when given. */
  configFile?: string;
  /** Base for relative paths given by flags or env (default: process.cwd()). */
  cwd?: string;
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function getPath(tree: Tree, path: string[]): unknown {
  let node: unknown = tree;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Tree)[key];
  }
  return node;
}

function resolvePaths(option: ConfigOption, value: unknown, base: string): unknown {
  if (!PATH_OPTIONS.has(option.path.join('.'))) return value;
  const fix = (v: unknown) => (typeof v === 'string' && v !== '' && !isAbsolute(v) ? resolve(base, v) : v);
  return Array.isArray(value) ? value.map(fix) : fix(value);
}

function fromFile(file: string, options: ConfigOption[]): Tree {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new AppError('CONFIG_INVALID', `config file ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AppError('CONFIG_INVALID', `config file ${file}: expected a JSON object`);
  }
  // Unknown keys are typos more often than not: refuse them rather than silently using a default.
  const known = new Set(options.map((o) => o.path.join('.')));
  const prefixes = new Set(options.flatMap((o) => o.path.slice(0, -1).map((_, i) => o.path.slice(0, i + 1).join('.'))));
  const check = (node: Tree, prefix: string[]) => {
    for (const [k, v] of Object.entries(node)) {
      const p = [...prefix, k].join('.');
      if (known.has(p)) continue;
      if (prefixes.has(p) && typeof v === 'object' && v !== null && !Array.isArray(v)) check(v as Tree, [...prefix, k]);
      else throw new AppError('CONFIG_INVALID', `config file ${file}: unknown key "${p}"`);
    }
  };
  check(parsed as Tree, []);
  const out: Tree = {};
  for (const o of options) {
    const v = getPath(parsed as Tree, o.path);
    if (v !== undefined) setPath(out, o.path, resolvePaths(o, v, dirname(resolve(file))));
  }
  return out;
}

/**
 * Builds the server config from defaults < JSON file < DITTO_* env < CLI flags, validated by the one schema.
 * Throws AppError CONFIG_INVALID naming the offending option and where it came from.
 */
export function loadConfig(sources: ConfigSources = {}): ServerConfig {
  const options = configOptions();
  const env = sources.env ?? {};
  const flags = { ...(sources.flags ?? {}) };
  const cwd = sources.cwd ?? process.cwd();
  const origin = new Map<string, string>();

  const configFile = sources.configFile ?? flags['config'] ?? env['DITTO_CONFIG'];
  delete flags['config'];
  const merged: Tree = configFile ? fromFile(resolve(cwd, configFile), options) : {};
  if (configFile) for (const o of options) if (getPath(merged, o.path) !== undefined) origin.set(o.path.join('.'), `config file ${configFile}`);

  for (const o of options) {
    const text = env[o.env];
    if (text === undefined) continue;
    setPath(merged, o.path, resolvePaths(o, valueFromText(o, text), cwd));
    origin.set(o.path.join('.'), `env ${o.env}`);
  }
  const byFlag = new Map(options.map((o) => [o.flag.slice(2), o]));
  for (const [name, text] of Object.entries(flags)) {
    const o = byFlag.get(name);
    if (!o) throw new AppError('CONFIG_INVALID', `unknown option --${name} (see --help)`);
    setPath(merged, o.path, resolvePaths(o, valueFromText(o, text), cwd));
    origin.set(o.path.join('.'), `flag ${o.flag}`);
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = issue.path.filter((p) => typeof p === 'string').join('.');
      const o = options.find((opt) => key === opt.path.join('.') || key.startsWith(opt.path.join('.') + '.'));
      const from = o ? (origin.get(o.path.join('.')) ?? 'default') : 'config';
      return `${o ? o.path.join('.') : key || '(root)'} (${from}): ${issue.message}`;
    });
    throw new AppError('CONFIG_INVALID', 'invalid configuration: ' + problems.join('; '), {
      details: z.treeifyError(result.error),
    });
  }
  return result.data;
}
