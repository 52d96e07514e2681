/**
 * The command line's own contract, no database needed: `--help` of every command, and every
 * way `--installer` can be wrong (missing file, no install export, a module that throws or
 * does not parse at load) ends with a non-zero exit and one clear line naming the file and
 * the problem (the stack only with --verbose). Children get a database URL nobody listens
 * on: these checks must fail before any connection is attempted, and no embedded Postgres
 * may start.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadInstallerModule } from '../../adapters/cli/loadInstallerModule.js';
import { describeRun, makeTempDir, nonLogLines, runCli, type CliResult } from '../support/cli.js';
import { writeInstaller, writeLog, workload, type InstallerShape } from './fixtures.js';

const temp = await makeTempDir('talos-cli-errors-');
after(() => temp.cleanup());
const NOWHERE = 'postgres://nobody:secret@127.0.0.1:1/none';
const log = await writeLog(path.join(temp.dir, 'tiny.ndjson'), workload(5, 10), 'envelope');

/** The one line the CLI printed on stderr (log lines aside), and no stack frames. */
function oneErrorLine(run: CliResult): string {
  assert.notEqual(run.code, 0, describeRun(run));
  const lines = nonLogLines(run.stderr);
  assert.equal(lines.length, 1, `exactly one line on stderr\n${describeRun(run)}`);
  assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace without --verbose');
  assert.ok(lines[0]!.startsWith('talos-replicator: '), lines[0]);
  return lines[0]!;
}

describe('--help', { concurrency: true }, () => {
  const expectations: Array<{ args: string[]; options: string[] }> = [
    { args: ['--help'], options: ['--verbose', 'demo', 'replay', 'run', 'status'] },
    { args: ['demo', '--help'], options: ['--transactions <n>', '--accounts <n>', '--concurrency <n>', '--batch-size <n>', '--seed <n>', '--database-url <url>', '--data-dir <dir>'] },
    {
      args: ['replay', '--help'],
      options: ['--file <path>', '--installer <module>', '--batch-size <n>', '--concurrency <n>', '--max-install-attempts <n>', '--database-url <url>', '--data-dir <dir>'],
    },
    {
      args: ['run', '--help'],
      options: ['--brokers <list>', '--topic <name>', '--group <id>', '--client-id <id>', '--sasl-mechanism <mechanism>', '--sasl-oauthbearer-provider <module>', '--ssl-key <file>', '--installer <module>', '--dead-letter-topic <name>', '--session-timeout-ms <ms>', '--shutdown-timeout-ms <ms>'],
    },
    { args: ['status', '--help'], options: ['--database-url <url>', '--data-dir <dir>', '--json', '--brokers <list>', '--topic <name>', '--group <id>', '--sasl-oauthbearer-provider <module>', '--ssl-ca <file>'] },
  ];
  for (const { args, options } of expectations) {
    test(`talos-replicator ${args.join(' ')} exits 0 and lists ${options.length} options`, async () => {
      const run = await runCli(args);
      assert.equal(run.code, 0, describeRun(run));
      assert.match(run.stdout, /^Usage: talos-replicator/);
      for (const option of options) assert.ok(run.stdout.includes(option), `${option} in\n${run.stdout}`);
      assert.equal(run.stderr, '');
    });
  }
});

describe('installer module errors: non-zero exit, one line naming the file and the problem', { concurrency: true }, () => {
  const replay = (installer: string, ...extra: string[]) => runCli(['replay', '--file', log, '--installer', installer, '--database-url', NOWHERE, ...extra]);

  test('missing file (a relative path is reported resolved)', async () => {
    const run = await runCli(['replay', '--file', log, '--installer', './missing/install.mjs', '--database-url', NOWHERE], { cwd: temp.dir });
    assert.equal(oneErrorLine(run), `talos-replicator: installer module ${path.join(temp.dir, 'missing/install.mjs')} does not exist`);
  });

  test('an ES module without install', async () => {
    const file = path.join(temp.dir, 'no-install.mjs');
    await writeFile(file, 'export function apply() {}\nexport default { version: 1 };\n');
    assert.equal(
      oneErrorLine(await replay(file)),
      `talos-replicator: installer module ${file} does not export an install(statemaps, version, client) function (named "install" or default)`,
    );
  });

  test('a CommonJS module whose install is not a function', async () => {
    const file = path.join(temp.dir, 'not-a-function.cjs');
    await writeFile(file, "module.exports = { install: 'yes' };\n");
    assert.match(oneErrorLine(await replay(file)), new RegExp(`^talos-replicator: installer module ${escape(file)} does not export an install\\(`));
  });

  test('a module that throws at load (and --verbose shows the stack)', async () => {
    const file = path.join(temp.dir, 'throws.mjs');
    await writeFile(file, "throw new Error('PRICING_URL is not set');\n");
    assert.equal(oneErrorLine(await replay(file)), `talos-replicator: installer module ${file} failed to load: PRICING_URL is not set`);
    const verbose = await runCli(['--verbose', 'replay', '--file', log, '--installer', file, '--database-url', NOWHERE]);
    assert.notEqual(verbose.code, 0);
    assert.match(verbose.stderr, /failed to load: PRICING_URL is not set/);
    assert.match(verbose.stderr, /^\s+at /m, `--verbose prints the stack\n${describeRun(verbose)}`);
  });

  test('a CommonJS module that does not parse: the kind of error and its line', async () => {
    const file = path.join(temp.dir, 'syntax.cjs');
    await writeFile(file, "'use strict';\nmodule.exports = { install(statemaps { } };\n");
    assert.equal(oneErrorLine(await replay(file)), `talos-replicator: installer module ${file} failed to load: SyntaxError: Unexpected token '{' (line 2)`);
  });

  test('a missing log file is named too, and bad option values are refused', async () => {
    const installer = await writeInstaller(temp.dir, 'esm-named');
    const missing = path.join(temp.dir, 'no-such-log.ndjson');
    assert.equal(oneErrorLine(await runCli(['replay', '--file', missing, '--installer', installer, '--database-url', NOWHERE])), `talos-replicator: certification log ${missing} does not exist`);
    const zero = await runCli(['replay', '--file', log, '--installer', installer, '--batch-size', '0', '--database-url', NOWHERE]);
    assert.notEqual(zero.code, 0, describeRun(zero));
    assert.match(zero.stderr, /--batch-size must be a positive integer, got "0"/);
    const negative = await runCli(['replay', '--file', log, '--installer', installer, '--statement-cache-size', '-1', '--database-url', NOWHERE]);
    assert.notEqual(negative.code, 0, describeRun(negative));
    assert.match(negative.stderr, /--statement-cache-size must be a non-negative integer, got "-1"/);
  });
});

test('loadInstallerModule accepts install as a named export, a default object, module.exports = { install } and module.exports = install', async () => {
  const shapes: InstallerShape[] = ['esm-named', 'esm-default-object', 'cjs-object', 'cjs-function'];
  for (const shape of shapes) {
    const install = await loadInstallerModule(await writeInstaller(temp.dir, shape, `shape-${shape}`));
    assert.equal(typeof install, 'function', shape);
    assert.equal(install.length, 3, `${shape}: install(statemaps, version, client)`);
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
