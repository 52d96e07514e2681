import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startEmbeddedPostgres } from '../../adapters/postgres/embeddedPostgres.js';
import { testClusterCacheDir } from '../support/postgres.js';

async function query(url: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

test('a temporary server starts quietly, serves its database, and stop() removes its data', async () => {
  const lines: string[] = [];
  const server = await startEmbeddedPostgres({ onLog: (line) => lines.push(line), database: 'cohort' });
  try {
    assert.match(server.url, /^postgres:\/\/postgres:[0-9a-f]{32}@127\.0\.0\.1:\d+\/cohort$/);
    assert.deepEqual(await query(server.url, 'SELECT current_database() AS db'), [{ db: 'cohort' }]);
    assert.ok(lines.some((line) => line.includes('ready to accept connections')), 'server output goes to onLog');
    assert.ok(existsSync(server.dataDir));
  } finally {
    await server.stop();
    await server.stop();
  }
  assert.equal(existsSync(server.dataDir), false);
  assert.equal(existsSync(path.dirname(server.dataDir)), false);
});

test('a given data directory is kept and reused across runs', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'talos-pg-test-'));
  await chmod(root, 0o755); // as root, the server's `postgres` user must be able to enter it
  const dataDir = path.join(root, 'nested', 'cluster');
  // Reuse is the point here, not fsync: skip durability so the cached cluster is copied.
  const options = { dataDir, durable: false, clusterCacheDir: await testClusterCacheDir() };
  try {
    const first = await startEmbeddedPostgres(options);
    try {
      await query(first.url, 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)');
    } finally {
      await first.stop();
    }
    assert.ok(existsSync(path.join(dataDir, 'PG_VERSION')));
    const second = await startEmbeddedPostgres(options);
    try {
      assert.deepEqual(await query(second.url, 'SELECT x FROM kept'), [{ x: 42 }]);
    } finally {
      await second.stop();
    }
    assert.ok(existsSync(path.join(dataDir, 'PG_VERSION')), 'stop() never deletes a given data directory');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('servers copied from the cached cluster each get their own password', async () => {
  const cacheDir = await testClusterCacheDir();
  assert.ok(cacheDir !== undefined, 'the test cluster cache directory belongs to another user');
  const first = await startEmbeddedPostgres({ clusterCacheDir: cacheDir });
  const second = await startEmbeddedPostgres({ clusterCacheDir: cacheDir, password: 'chosen' });
  try {
    assert.notEqual(first.password, second.password);
    assert.equal(second.password, 'chosen');
    for (const server of [first, second]) assert.deepEqual(await query(server.url, 'SELECT 1 AS one'), [{ one: 1 }]);
    const templates = await readdir(cacheDir);
    assert.ok(templates.every((name) => /^cluster-[0-9a-f]{16}$/.test(name)), `no leftovers from building: ${templates.join(', ')}`);
    assert.ok(templates.length >= 1);
    for (const template of templates) {
      const templatePassword = await readFile(path.join(cacheDir, template, 'password'), 'utf8');
      await assert.rejects(query(first.url.replace(first.password, templatePassword), 'SELECT 1'), /password authentication failed/);
    }
  } finally {
    await Promise.all([first.stop(), second.stop()]);
  }
});

test('a port already in use is reported with the server output', async () => {
  const cacheDir = await testClusterCacheDir();
  const running = await startEmbeddedPostgres({ clusterCacheDir: cacheDir });
  try {
    const error: unknown = await startEmbeddedPostgres({ port: running.port, clusterCacheDir: cacheDir }).then(
      async (unexpected) => {
        await unexpected.stop();
        assert.fail('expected a failure');
      },
      (e: unknown) => e,
    );
    assert.ok(error instanceof Error);
    assert.match(error.message, new RegExp(`^Embedded Postgres did not start on 127.0.0.1:${running.port} `));
    assert.match(error.message, /could not bind|Address already in use/);
  } finally {
    await running.stop();
  }
});

test('using the embedded server leaves the process exit code and signal handling alone', async () => {
  const cacheDir = await testClusterCacheDir();
  const moduleUrl = new URL('../../adapters/postgres/embeddedPostgres.js', import.meta.url).href;
  // A child that starts a server, never stops it, handles SIGINT itself and exits with 3:
  // the server neither keeps it alive nor outlives it, and its exit code is its own.
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(moduleUrl)};
    const server = await startEmbeddedPostgres(${JSON.stringify({ clusterCacheDir: cacheDir })});
    console.log(JSON.stringify({ port: server.port, dataDir: server.dataDir }));
    const keepAlive = setInterval(() => undefined, 1000); // until our own SIGINT arrives
    process.on('SIGINT', () => setTimeout(() => { clearInterval(keepAlive); console.log('graceful shutdown finished'); process.exitCode = 3; }, 100));
    process.kill(process.pid, 'SIGINT');
  `;
  const child = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]).then(
    () => assert.fail('expected exit code 3'),
    (error: { code?: number; stdout?: string }) => error,
  );
  assert.equal(child.code, 3);
  const [info, finished] = (child.stdout ?? '').trim().split('\n');
  assert.equal(finished, 'graceful shutdown finished');
  const { port, dataDir } = JSON.parse(info ?? '{}') as { port: number; dataDir: string };
  // The server got a shutdown request on exit; wait for it to finish (no timing assumptions).
  while (existsSync(path.join(dataDir, 'postmaster.pid'))) await new Promise((resolve) => setTimeout(resolve, 20));
  await assert.rejects(query(`postgres://postgres:x@127.0.0.1:${port}/postgres`, 'SELECT 1'), /ECONNREFUSED|connect/);
  await rm(path.dirname(dataDir), { recursive: true, force: true });
});
