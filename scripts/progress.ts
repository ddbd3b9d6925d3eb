// The progress bar of the command-line tools (seed, import, export), drawn on stderr: redrawn in
// place on a terminal, one line per tenth otherwise (a log, CI).

/** `done` of `total` items, with the rate so far. */
export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {
    this.draw(true);
  }

  /** `done` items of `total` are finished */
  set(done: number): void {
    this.done = done;
    this.draw(this.done >= this.total);
  }

  private draw(force: boolean): void {
    const now = Date.now();
    const fraction = this.total === 0 ? 1 : Math.min(1, this.done / this.total);
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = Math.round(this.done / seconds);
    const line = `${this.label.padEnd(13)} [${bar(fraction, 30)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${this.done}/${this.total} ${rate}/s`;
    if (this.tty) {
      if (!force && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      process.stderr.write(`\r${line}\x1b[K${this.done >= this.total ? '\n' : ''}`);
    } else {
      // not a terminal (a log, CI): one line per tenth
      const decile = Math.floor(fraction * 10);
      if (decile === this.lastDecile && !(force && this.done >= this.total && decile !== 10)) return;
      this.lastDecile = decile;
      process.stderr.write(`${line}\n`);
    }
  }
}

function bar(fraction: number, width: number): string {
  const full = Math.round(fraction * width);
  return '#'.repeat(full) + '-'.repeat(width - full);
}
