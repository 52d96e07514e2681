/**
 * `talos-replicator replay` as a child process against a real (embedded) Postgres, with
 * installer modules written the way a user writes them:
 * - the same log as the project's envelope (ES module, one version per transaction) and as
 *   `kcat -C -J` output (CommonJS module, 10 versions per transaction) ends in the serial
 *   replay's balances, the snapshot at the last version, and a second run is a no-op;
 * - malformed lines are reported with their line number / offset, written to
 *   `<input>.rejects.ndjson`, and every valid record is still installed;
 * - a gzip-compressed dump replays like the plain one; one cut short ends with an error
 *   naming the file, and the whole dump then completes the database, each version once;
 * - `--file -` reads the log (plain or gzip) from standard input;
 * - an install that keeps failing ends the command with an error naming the version.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import type { NdjsonFormat } from '../../adapters/files/ndjsonLog.js';
import { describeRun, makeTempDir, nonLogLines, runCli } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';
import {
  auditedVersions,
  bankMismatches,
  databaseState,
  logFacts,
  persistedSnapshot,
  prepareBank,
  workload,
  writeInstaller,
  writeLog,
  type InstallerShape,
} from './fixtures.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-cli-replay-');
after(() => temp.cleanup());

const LOG = workload(400, 200, 11);
const facts = logFacts(LOG);

function summaryPattern(file: string, installed: number, snapshot: number): RegExp {
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^replay: ${escaped}: ${installed} versions installed in [\\d.]+ s; persisted snapshot ${snapshot}$`, 'm');
}

describe('replay of one log in both formats', { concurrency: true }, () => {
  const variants: Array<{ format: NdjsonFormat; shape: InstallerShape; batchSize: number }> = [
    { format: 'envelope', shape: 'esm-named', batchSize: 1 },
    { format: 'kcat', shape: 'cjs-object', batchSize: 10 },
  ];
  for (const { format, shape, batchSize } of variants) {
    test(`${format} log, ${shape} installer, batch size ${batchSize}: serial end state, snapshot at the last version, and a second run is a no-op`, async () => {
      const db = await pg.freshDatabase();
      await prepareBank(db.pool, LOG);
      const file = await writeLog(path.join(temp.dir, `log-${format}.ndjson`), LOG, format);
      const installer = await writeInstaller(temp.dir, shape);
      const args = ['replay', '--file', file, '--installer', installer, '--batch-size', String(batchSize), '--concurrency', '8', '--database-url', db.url];

      const first = await runCli(args);
      assert.equal(first.code, 0, describeRun(first));
      assert.match(first.stdout, summaryPattern(file, facts.installedVersions.length, facts.lastCandidate), describeRun(first));
      assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
      assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every version installed exactly once');
      assert.equal(await persistedSnapshot(db.pool), facts.lastCandidate);
      const state = await databaseState(db.pool);

      const second = await runCli(args);
      assert.equal(second.code, 0, describeRun(second));
      assert.match(second.stdout, summaryPattern(file, 0, facts.lastCandidate), describeRun(second));
      assert.equal(await databaseState(db.pool), state, 'the second run changed nothing');
    });
  }
});

test('malformed lines are reported with line and offset, written to <input>.rejects.ndjson, and every valid record is still installed', async () => {
  // startOffset 4 leaves offsets 1-3 free for records that are no use.
  const log = { ...LOG, startOffset: 4 };
  const logFactsWithGap = logFacts(log);
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, log);
  const clean = await writeLog(path.join(temp.dir, 'clean.ndjson'), log, 'envelope');
  const lines = (await readFile(clean, 'utf8')).trimEnd().split('\n');
  const bad = {
    unknownType: '{"offset":1,"headers":{"messageType":"Bogus"},"value":"{}"}',
    valueNotJson: '{"offset":2,"headers":{"messageType":"Candidate"},"value":"{\\"xid\\": oops"}',
    headerNotString: '{"offset":3,"headers":{"messageType":42},"value":"{}"}',
    notJson: 'this line is not JSON at all',
    truncated: '{"offset":99999,"headers":{"messageType":"Decision"},"val',
    notObject: '[1,2,3]',
  };
  const middle = Math.floor(lines.length / 2);
  const text = [
    bad.unknownType, // line 1
    bad.valueNotJson, // line 2
    bad.headerNotString, // line 3
    ...lines.slice(0, 10), // lines 4-13
    bad.notJson, // line 14
    ...lines.slice(10, middle),
    bad.truncated, // line middle + 5
    ...lines.slice(middle),
    bad.notObject, // last line
  ];
  const at = (line: string) => text.indexOf(line) + 1;
  const file = path.join(temp.dir, 'malformed.ndjson');
  await writeFile(file, text.join('\n') + '\n');
  const installer = await writeInstaller(temp.dir, 'esm-named', 'malformed-install');

  const run = await runCli(['replay', '--file', file, '--installer', installer, '--database-url', db.url]);
  assert.equal(run.code, 0, describeRun(run));
  const rejectsPath = `${file}.rejects.ndjson`;
  assert.match(run.stdout, summaryPattern(file, logFactsWithGap.installedVersions.length, logFactsWithGap.lastCandidate), describeRun(run));
  assert.ok(run.stdout.includes(`  6 malformed record(s) skipped, written to ${rejectsPath}`), describeRun(run));

  // Every valid record was still used.
  assert.deepEqual(await bankMismatches(db.pool, logFactsWithGap.expected), []);
  assert.deepEqual(await auditedVersions(db.pool), logFactsWithGap.installedVersions);
  assert.equal(await persistedSnapshot(db.pool), logFactsWithGap.lastCandidate);

  // The rejects file: one JSON line per malformed record, each naming its line (and offset when known).
  const rejects = (await readFile(rejectsPath, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { line: number; offset?: number | string; code: string; reason: string; text?: string });
  assert.equal(rejects.length, 6, JSON.stringify(rejects, null, 1));
  for (const reject of rejects) assert.deepEqual(Object.keys(reject).filter((key) => !['offset', 'text'].includes(key)), ['line', 'code', 'reason'], 'one shape for every reject');
  const byLine = new Map(rejects.map((reject) => [reject.line, reject]));
  const expectReject = (line: number, offset: number | undefined, code: string, reason: RegExp) => {
    const reject = byLine.get(line);
    assert.ok(reject, `a reject for line ${line} in ${JSON.stringify(rejects)}`);
    assert.equal(reject.offset, offset, `offset of line ${line}`);
    assert.equal(reject.code, code, `code of line ${line}`);
    assert.match(reject.reason, reason);
  };
  expectReject(1, 1, 'invalid-message', /^unknown messageType header "Bogus"$/);
  expectReject(2, 2, 'invalid-message', /^Candidate value is not valid JSON/);
  expectReject(3, 3, 'bad-headers', /header "messageType" has a value that is neither a string nor null/);
  expectReject(at(bad.notJson), undefined, 'not-json', /not JSON/);
  expectReject(at(bad.truncated), undefined, 'not-json', /not JSON/);
  expectReject(text.length, undefined, 'not-object', /JSON but not an object/);
  for (const [line, reject] of byLine) if (reject.text !== undefined) assert.equal(reject.text, text[line - 1], `text of line ${line}`);

  // And the log says where each one was.
  const warnings = run.stderr.split('\n').filter((line) => / warn /.test(line));
  for (const line of [1, 2, 3, at(bad.notJson), at(bad.truncated), text.length]) {
    assert.ok(warnings.some((warning) => warning.includes(`${file}:${line}`)), `a warning names ${file}:${line}\n${warnings.join('\n')}`);
  }
});

test('a kcat dump cut short inside its gzip fails naming the file; the whole gzip dump then brings the database to the serial end state, each version once', async () => {
  const plain = await writeLog(path.join(temp.dir, 'to-gzip.ndjson'), LOG, 'kcat');
  const compressed = gzipSync(await readFile(plain));
  const installer = await writeInstaller(temp.dir, 'esm-named', 'gzip-install');
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, LOG);

  const cut = path.join(temp.dir, 'cut.ndjson.gz');
  await writeFile(cut, compressed.subarray(0, Math.floor(compressed.length * 0.6)));
  const cutRun = await runCli(['replay', '--file', cut, '--installer', installer, '--database-url', db.url]);
  assert.equal(cutRun.code, 1, describeRun(cutRun));
  const [message, ...more] = nonLogLines(cutRun.stderr);
  assert.deepEqual(more, [], describeRun(cutRun));
  assert.ok(message?.startsWith(`talos-replicator: replay of ${cut} stopped: the message source failed: ${cut}: the gzip data is corrupt or cut short (`), describeRun(cutRun));
  assert.ok(((await persistedSnapshot(db.pool)) ?? 0) < facts.lastCandidate, 'the snapshot does not claim the part that was cut off');

  const whole = path.join(temp.dir, 'dump.ndjson.gz');
  await writeFile(whole, compressed);
  const run = await runCli(['replay', '--file', whole, '--installer', installer, '--database-url', db.url]);
  assert.equal(run.code, 0, describeRun(run));
  assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
  assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every version installed exactly once over both runs');
  assert.equal(await persistedSnapshot(db.pool), facts.lastCandidate);
});

test('--file - reads the log from standard input: a kcat dump piped in reaches the serial end state, its malformed line goes to ./stdin.rejects.ndjson (or --rejects), and the same dump piped in gzip-compressed is a no-op', async () => {
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, LOG);
  const lines = (await readFile(await writeLog(path.join(temp.dir, 'to-pipe.ndjson'), LOG, 'kcat'), 'utf8')).trimEnd().split('\n');
  const text = [...lines.slice(0, 4), 'not a record', ...lines.slice(4)].join('\n') + '\n';
  const installer = await writeInstaller(temp.dir, 'esm-named', 'stdin-install');
  const cwd = path.join(temp.dir, 'stdin-cwd');
  await mkdir(cwd);
  const args = ['replay', '--file', '-', '--installer', installer, '--database-url', db.url];

  const first = await runCli(args, { input: text, cwd });
  assert.equal(first.code, 0, describeRun(first));
  assert.match(first.stdout, summaryPattern('stdin', facts.installedVersions.length, facts.lastCandidate), describeRun(first));
  assert.ok(first.stdout.includes('  1 malformed record(s) skipped, written to stdin.rejects.ndjson'), describeRun(first));
  const rejects = (await readFile(path.join(cwd, 'stdin.rejects.ndjson'), 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as { line: number; code: string; text: string });
  assert.deepEqual(rejects.map(({ line, code, text: rejected }) => ({ line, code, rejected })), [{ line: 5, code: 'not-json', rejected: 'not a record' }]);
  assert.ok(first.stderr.split('\n').some((line) => / warn /.test(line) && line.includes('stdin:5')), describeRun(first));
  assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
  assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every version installed exactly once');
  assert.equal(await persistedSnapshot(db.pool), facts.lastCandidate);
  const state = await databaseState(db.pool);

  // A working directory that cannot be written to (a container's): --rejects puts them elsewhere.
  const elsewhere = path.join(temp.dir, 'stdin-rejects-elsewhere.ndjson');
  const second = await runCli([...args, '--rejects', elsewhere], { input: gzipSync(text), cwd });
  assert.equal(second.code, 0, describeRun(second));
  assert.match(second.stdout, summaryPattern('stdin', 0, facts.lastCandidate), describeRun(second));
  assert.ok(second.stdout.includes(`  1 malformed record(s) skipped, written to ${elsewhere}`), describeRun(second));
  assert.equal((JSON.parse((await readFile(elsewhere, 'utf8')).trim()) as { line: number }).line, 5);
  assert.equal(await databaseState(db.pool), state, 'the second run changed nothing');
});

test('an install that keeps failing ends the replay with an error naming the version, after --max-install-attempts', async () => {
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, LOG);
  const file = await writeLog(path.join(temp.dir, 'failing.ndjson'), LOG, 'envelope');
  const victim = facts.expected.committed[5]!.version;
  const installer = path.join(temp.dir, 'fails.mjs');
  await writeFile(installer, `export async function install(statemaps, version) { if (version === ${victim}) throw new Error('ledger table is missing'); }\n`);
  const run = await runCli(['replay', '--file', file, '--installer', installer, '--max-install-attempts', '2', '--database-url', db.url]);
  assert.equal(run.code, 1, describeRun(run));
  assert.deepEqual(
    nonLogLines(run.stderr),
    [`talos-replicator: replay of ${file} stopped: version ${victim} could not be installed after 2 attempts: Installing version ${victim} failed after 1 attempt: ledger table is missing`],
    describeRun(run),
  );
  assert.ok((await persistedSnapshot(db.pool))! < victim, 'the snapshot never passes the failed version');
});
