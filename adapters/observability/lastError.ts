/**
 * The last problem the replicator reported: every retry, failed write, failed commit and
 * rejected record already goes through the logger (see createCohortReplicator.ts), so a thin
 * wrapper around the logger sees them all, without another hook in the machines.
 */
import type { Logger } from '../logging.js';

export interface ReportedError {
  readonly level: 'warn' | 'error';
  readonly message: string;
  /** ISO time. */
  readonly at: string;
}

export class LastError {
  #last: ReportedError | null = null;
  #count = 0;

  get last(): ReportedError | null {
    return this.#last;
  }

  /** Warnings and errors reported so far. */
  get count(): number {
    return this.#count;
  }

  note(level: 'warn' | 'error', message: string): void {
    this.#last = { level, message, at: new Date().toISOString() };
    this.#count += 1;
  }

  /** The same logger, noting every warning and error on its way through. */
  wrap(logger: Logger): Logger {
    return {
      error: (message, meta) => {
        this.note('error', message);
        return logger.error(message, meta);
      },
      warn: (message, meta) => {
        this.note('warn', message);
        return logger.warn(message, meta);
      },
      info: (message, meta) => logger.info(message, meta),
      debug: (message, meta) => logger.debug(message, meta),
    };
  }
}
