/**
 * One real embedded Postgres per test file, and a fresh database per test that wants one.
 * Register with `usePostgres()` at the top level of a test file: the server starts before
 * the first test and stops after the last, once every pool handed out is closed.
 */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Pool, PoolConfig } from 'pg';
import { startEmbeddedPostgres, type RunningEmbeddedPostgres } from '../../adapters/postgres/embeddedPostgres.js';
import { createDatabase } from '../../adapters/postgres/sql.js';

/**
 * initdb is most of a server's start-up time; every test file copies one cached cluster
 * instead. It lives in the OS temp dir (the `postgres` user must reach it when tests run as
 * root, which a checkout under /root would not allow), one per local user; a directory of
 * that name owned by someone else is not trusted, and the cache is skipped.
 */
export async function testClusterCacheDir(): Promise<string | undefined> {
  const uid = process.getuid?.();
  const dir = path.join(tmpdir(), `talos-replicator-pg-cache-${uid ?? 'user'}`);
  await mkdir(dir, { recursive: true });
  const owner = (await stat(dir)).uid;
  if (uid !== undefined && owner !== uid) return undefined;
  await chmod(dir, 0o755);
  return dir;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A pool on this database (default 8 connections), closed after the file's tests. */
  readonly pool: Pool;
  /** Another independent pool, e.g. to play a second replicator process. Also closed after. */
  newPool(config?: Omit<PoolConfig, 'connectionString'>): Pool;
}

export interface TestPostgres {
  readonly server: () => RunningEmbeddedPostgres;
  freshDatabase(): Promise<TestDatabase>;
}

export function usePostgres(): TestPostgres {
  let server: RunningEmbeddedPostgres | undefined;
  let admin: pg.Client | undefined;
  const pools: Pool[] = [];

  before(async () => {
    server = await startEmbeddedPostgres({ clusterCacheDir: await testClusterCacheDir() });
    admin = new pg.Client({ connectionString: server.urlFor('postgres') });
    admin.on('error', () => undefined);
    await admin.connect();
  });

  after(async () => {
    try {
      // Pools first: the server's shutdown would otherwise kill idle connections under them.
      // Tests may have ended a pool themselves (a simulated crash).
      await Promise.allSettled(pools.filter((pool) => !pool.ending).map((pool) => pool.end()));
      await admin?.end().catch(() => undefined);
    } finally {
      // Always: a server left running keeps the test process alive forever.
      await server?.stop();
    }
  });

  function newPool(url: string, config: Omit<PoolConfig, 'connectionString'> = {}): Pool {
    const pool = new pg.Pool({ max: 8, ...config, connectionString: url });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  }

  return {
    server: () => {
      if (server === undefined) throw new Error('usePostgres(): the server is only available inside tests');
      return server;
    },
    async freshDatabase() {
      if (server === undefined || admin === undefined) throw new Error('usePostgres(): freshDatabase() is only available inside tests');
      const name = `t_${randomBytes(6).toString('hex')}`;
      await admin.query(createDatabase(name));
      const url = server.urlFor(name);
      return { name, url, pool: newPool(url), newPool: (config) => newPool(url, config) };
    },
  };
}
