/**
 * The observability flags of the real command: `demo --status-port 0 --inspect` serves /status,
 * /health and /metrics while it runs and prints where; `replay` takes the same from the
 * environment (STATUS_PORT, INSPECT_PORT) and logs --stats lines; a bad port is refused.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { ReplicatorStatus } from '../../index.js';
import { describeRun, makeTempDir, nonLogLines, runCli, spawnCli } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';
import { prepareBank, workload, writeInstaller, writeLog } from './fixtures.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-cli-observability-');
after(() => temp.cleanup());

test('demo --status-port 0 --inspect: prints both addresses and serves /status, /health and /metrics while it runs', async () => {
  const db = await pg.freshDatabase();
  const running = spawnCli(['demo', '--transactions', '1000', '--accounts', '200', '--status-port', '0', '--inspect', '--database-url', db.url]);
  let stderr = '';
  const statusUrl = await new Promise<string>((resolve, reject) => {
    running.child.stderr!.on('data', (chunk: Buffer | string) => {
      stderr += String(chunk);
      const match = /status page: (http:\/\/127\.0\.0\.1:\d+\/) /.exec(stderr);
      if (match) resolve(match[1]!);
    });
    running.child.once('exit', () => reject(new Error(`the demo exited before printing its status page:\n${stderr}`)));
  });
  // The addresses are printed before replication starts, so the server answers now.
  const status = (await (await fetch(`${statusUrl}status`)).json()) as ReplicatorStatus;
  assert.ok(['starting', 'running', 'stopping', 'closing', 'stopped'].includes(status.state), status.state);
  assert.equal(status.health.live, true);
  const health = await fetch(`${statusUrl}health`);
  assert.ok([200, 503].includes(health.status));
  const metrics = await (await fetch(`${statusUrl}metrics`)).text();
  assert.match(metrics, /^# TYPE repl_candidates_total counter$/m);

  const result = await running.result;
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stderr, /info status page: http:\/\/127\.0\.0\.1:\d+\/ \(also .*\/status, .*\/health, .*\/metrics\)/);
  assert.match(result.stderr, /info Stately inspector: open http:\/\/127\.0\.0\.1:\d+\/ in a browser \(it embeds https:\/\/stately\.ai\/inspect; events relayed at ws:\/\/127\.0\.0\.1:\d+\)/);
  assert.match(result.stdout, /verified: every account matches a serial replay/);
  // After the command the server is gone.
  await assert.rejects(fetch(`${statusUrl}health`));
});

test('replay with STATUS_PORT and INSPECT_PORT in the environment, and --stats', async () => {
  const log = workload(300, 100, 5);
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, log);
  const file = await writeLog(path.join(temp.dir, 'log.ndjson'), log, 'envelope');
  const installer = await writeInstaller(temp.dir, 'esm-named');
  const result = await runCli(['replay', '--file', file, '--installer', installer, '--stats', '--stats-interval', '1', '--database-url', db.url], { env: { STATUS_PORT: '0', INSPECT_PORT: '0' } });
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stderr, /info status page: http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(result.stderr, /info Stately inspector: open http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(result.stderr, /info stats: \w+ \| tps=/);
  assert.deepEqual(nonLogLines(result.stderr), [], describeRun(result));
});

test('a bad port is refused with one clear line', async () => {
  const flag = await runCli(['demo', '--status-port', '70000']);
  assert.notEqual(flag.code, 0);
  assert.match(flag.stderr, /--status-port must be a port number \(0-65535\), got "70000"/);
  const env = await runCli(['demo', '--transactions', '1'], { env: { STATUS_PORT: 'x' } });
  assert.equal(env.code, 1, describeRun(env));
  assert.deepEqual(nonLogLines(env.stderr), ['talos-replicator: STATUS_PORT must be a port number (0-65535), got "x"']);
});
