/** Server output: forwarded line by line to an optional sink, the last lines kept for error messages. */

const DEFAULT_LINES = 30;

/** Forwards output line by line and keeps the last lines for error messages. */
export class LogTail {
  private readonly lines: string[] = [];
  constructor(
    private readonly sink: ((line: string) => void) | undefined,
    private readonly keep = DEFAULT_LINES,
  ) {}

  push(chunk: string): void {
    for (const line of chunk.split(/\r?\n/)) {
      if (line.trim() === '') continue;
      this.lines.push(line);
      if (this.lines.length > this.keep) this.lines.shift();
      this.sink?.(line);
    }
  }

  includes(text: string): boolean {
    return this.lines.some((line) => line.includes(text));
  }

  tail(): string {
    return this.lines.length === 0 ? '(none)' : this.lines.join('\n');
  }
}
