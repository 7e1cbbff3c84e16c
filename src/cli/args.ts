/** argv → command, flags and positionals; flag meaning is left to the command (and the config schema). */
export interface ParsedArgs {
  command: string | null;
  flags: Record<string, string>;
  positionals: string[];
  help: boolean;
}

export function parseArgs(argv: readonly string[], booleanFlags: ReadonlySet<string> = new Set()): ParsedArgs {
  const out: ParsedArgs = { command: null, flags: {}, positionals: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      out.help = true;
    } else if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (!name) throw new Error(`malformed option "${arg}"`);
      if (eq !== -1) out.flags[name] = arg.slice(eq + 1);
      else if (booleanFlags.has(name) || i + 1 >= argv.length || argv[i + 1]!.startsWith('--')) out.flags[name] = 'true';
      else out.flags[name] = argv[++i]!;
    } else if (out.command === null) {
      out.command = arg;
    } else {
      out.positionals.push(arg);
    }
  }
  return out;
}
