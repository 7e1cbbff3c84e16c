#!/usr/bin/env node
import { isAppError } from '../errors.js';
import type { CommandEntry } from './command.js';

/**
 * `ditto-gst <command> [options]`. New commands register here. Each command's module loads when it runs:
 * importing all of them (Fastify and the server for `serve`) cost every `render` ~0.2-0.3 s of start-up.
 */
const COMMANDS: readonly CommandEntry[] = [
  { name: 'serve', summary: 'run the WebRTC signalling server', load: async () => (await import('./commands/serve.js')).serveCommand },
  { name: 'render', summary: 'render a portrait + speech to an MP4 or WebM file (offline, faster than real time)', load: async () => (await import('./commands/render.js')).renderCommand },
  { name: 'client', summary: 'receive a session over WebRTC from a server: record it and/or print live stats', load: async () => (await import('./commands/client.js')).clientCommand },
  { name: 'doctor', summary: 'check GStreamer, the plugin and every element needed; name the Debian packages to install', load: async () => (await import('./commands/doctor.js')).doctorCommand },
];

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
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`ditto-gst: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const command = await entry.load();
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
