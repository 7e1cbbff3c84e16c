/**
 * Progress output for long CLI jobs: a redrawn bar on a terminal, plain lines at most once a second
 * otherwise (logs and CI stay readable).
 */

export interface ProgressLine {
  /** 0..1, or null while the total is unknown. */
  fraction: number | null;
  text: string;
}

export class ProgressPrinter {
  private lastLineAt = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream | NodeJS.WritableStream = process.stderr,
    private readonly tty: boolean = Boolean((out as NodeJS.WriteStream).isTTY),
    private readonly width = 30,
  ) {}

  update(p: ProgressLine): void {
    if (this.tty) {
      const bar =
        p.fraction === null
          ? '?'.repeat(this.width)
          : '#'.repeat(Math.round(Math.min(1, p.fraction) * this.width)).padEnd(this.width, '-');
      const pct = p.fraction === null ? '  ?%' : `${String(Math.floor(Math.min(1, p.fraction) * 100)).padStart(3)}%`;
      this.out.write(`\r[${bar}] ${pct} ${p.text}\x1b[K`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastLineAt < 1000) return;
    this.lastLineAt = now;
    const pct = p.fraction === null ? '' : `${Math.floor(Math.min(1, p.fraction) * 100)}% `;
    this.out.write(`progress ${pct}${p.text}\n`);
  }

  /** Ends the bar's line (TTY) and prints a final line. */
  done(text: string): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.out.write(text + '\n');
  }
}
