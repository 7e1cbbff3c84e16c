/** A CLI subcommand. run() resolves with an exit code, or null for a long-running command (serve). */
export interface Command {
  name: string;
  help(): string;
  run(argv: readonly string[]): Promise<number | null>;
}

/** A command as main lists it: its name and summary, and its module, imported only when it runs. */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}
