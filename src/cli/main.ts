#!/usr/bin/env node
import { isAppError } from '../errors.js';
import type { Command } from './command.js';
import { clientCommand } from './commands/client.js';
import { doctorCommand } from './commands/doctor.js';
import { renderCommand } from './commands/render.js';
import { serveCommand } from './commands/serve.js';

/** `ditto-gst <command> [options]`. New commands register here. */
const COMMANDS: readonly Command[] = [serveCommand, renderCommand, clientCommand, doctorCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: ditto-gst <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "ditto-gst <command> --help" for its options.',
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number | null> {
  const name = argv[0];
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`ditto-gst: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const rest = argv.slice(1);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help() + '\n');
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exitCode = code;
  },
  (e: unknown) => {
    const prefix = isAppError(e) ? `${e.code}: ` : '';
    process.stderr.write(`ditto-gst: ${prefix}${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
