/** A CLI subcommand. run() resolves with an exit code, or null for a long-running command (serve). */
export interface Command {
  name: string;
  summary: string;
  help(): string;
  run(argv: readonly string[]): Promise<number | null>;
}
