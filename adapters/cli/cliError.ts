/** An error the CLI reports as one clear line (with the stack only under --verbose). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

export function formatCliError(error: unknown, verbose: boolean): string {
  if (verbose && error instanceof Error && error.stack) return error.stack;
  const message = error instanceof Error ? error.message : String(error);
  return `talos-replicator: ${message}`;
}
