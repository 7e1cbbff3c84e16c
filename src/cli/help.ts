import { configOptions } from '../config/options.js';

/** Option help generated from the config schema: flag, env var, default, description. */
export function configOptionsHelp(): string {
  const lines: string[] = [];
  for (const o of configOptions()) {
    const value = o.kind === 'boolean' ? '' : o.kind.endsWith('[]') ? ' <a,b,...>' : o.choices ? ` <${o.choices.join('|')}>` : ` <${o.kind}>`;
    const def = Array.isArray(o.defaultValue) ? o.defaultValue.join(',') : String(o.defaultValue ?? '');
    lines.push(`  ${o.flag}${value}`);
    lines.push(`      ${o.description}${def !== '' ? ` (default: ${def})` : ''}  [env ${o.env}]`);
  }
  lines.push('  --config <file.json>');
  lines.push('      JSON config file with the same keys, nested (e.g. {"sessions":{"max":4}})  [env DITTO_CONFIG]');
  return lines.join('\n');
}
