/**
 * `npm run bench:pg`: how close the replicator comes to the raw cost of applying the same
 * transfers to Postgres.
 *
 * One embedded Postgres (non-durable: fsync, synchronous_commit and full_page_writes off, as
 * every embedded server this project starts for a temp dir), one database, one generated
 * certification log (adapters/workload/certifier.ts, by default 20 000 transactions over
 * 10 000 accounts so conflicts are rare), the same number of connections for every case
 * (default 8, BENCH_PG_CONNECTIONS), fresh tables before every run. Cases:
 *
 *  (a) raw baseline: `createBankingInstall()` driven directly with `pg`, one transaction
 *      (BEGIN, the banking install's lock + update, COMMIT) per committed version, no
 *      bookkeeping, no snapshot. N workers, each holding one connection, take the next
 *      committed version in version order from a shared counter; a version may start once
 *      every committed version at or below its safepoint (from its decision) is done, so the
 *      result is the serial one (checked). The committed transfers and their safepoints are
 *      extracted from the log before the clock starts: no parsing is timed.
 *  (b) the replicator end to end: createCohortReplicator + createTransactionalInstaller +
 *      createPostgresSnapshotStore (with bookkeeping pruning) on one pg.Pool of N connections,
 *      the installer's lanes = N (at most N transactions at once, as in (a)), and
 *      `statemapInstallerThreadpool` = 2N (BENCH_PG_THREADPOOL; CALLS_PER_CONNECTION, as the
 *      command line sets it) so that a next transaction waits whenever a lane commits and its
 *      COMMIT travels with that one's BEGIN. One version per transaction, the whole log pushed to
 *      a memory source (its values as Buffers, as Kafka delivers them), timed from start until the replicator has stopped with the snapshot
 *      persisted at the last version (parsing, the suffix, the empty installs Talos does for
 *      aborted versions, bookkeeping and snapshot writes are all inside the clock). The installer
 *      is told the banking install has nothing to do for an empty statemap list
 *      (`skipVersionsWithoutStatemaps`), so an aborted version costs no database round trip;
 *      it still passes through the queue, the installer machine and the install pool.
 *      The installer's statement cache is on, as by default: the banking statements are
 *      prepared once per connection.
 *  (c) the same with `installBatchSize` B (BENCH_PG_BATCH_SIZES, default "10,40"; with several
 *      sizes the best median counts).
 *  (b-) for reference, no bar: (b) with the banking install in a plain transaction per version
 *      (its statements prepared as in (b)) and no bookkeeping, so the output shows which part
 *      of the gap between (a) and (b) is the pipeline and which the exactly-once record. Not a
 *      mode to run in production.
 *  (a') for reference, no bar: (a) with the install code's client behind the replicator's
 *      statement cache (adapters/postgres/statementCache.ts), as (b) and (c) have it: the
 *      banking statements prepared once per connection. (a) drives pg as a user would; (a')
 *      shows what the pipeline costs against a baseline that prepares its statements too.
 *
 * Next to each figure: CPU time per 1 000 versions of this process and of the Postgres server
 * (all processes named postgres, from /proc), since on a small host the two share the cores.
 *
 * versions/s = committed versions in the log / wall-clock seconds, the same numerator for
 * every case (the replicator's extra work on aborted versions counts against it). Every run
 * ends with a check that bank_accounts equals the serial replay (and, for the replicator, that
 * the persisted snapshot is the last version); a wrong result fails the benchmark.
 *
 * The machine is shared and noisy: after one warm-up of every case on a small log, each case
 * runs BENCH_PG_ROUNDS times (default 3), the cases alternating within each round, and the
 * medians are compared. Bars: (b) >= 90 % of (a); (c) >= 3x (a).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { createCohortReplicator } from '../../adapters/createCohortReplicator.js';
import { silentLogger } from '../../adapters/logging.js';
import { createMemorySource } from '../../adapters/memorySource.js';
import { CALLS_PER_CONNECTION, createBankingInstall, createBankingInstallBatch, createPostgresSnapshotStore, createTransactionalInstaller, startEmbeddedPostgres } from '../../adapters/postgres/index.js';
import { expectedEndState, generateCertificationLog, initialAccounts, type CertifierOptions, type ExpectedEndState } from '../../adapters/workload/certifier.js';
import { waitForEnd } from '../../adapters/cli/waitForEnd.js';
import { inTransaction } from '../../adapters/postgres/transaction.js';
import { createStatementCache } from '../../adapters/postgres/statementCache.js';
import type { RawRecord, StatemapItem, Version } from '../../machines/domain.js';

const CONNECTIONS = positiveEnv('BENCH_PG_CONNECTIONS', 8);
const THREADPOOL = positiveEnv('BENCH_PG_THREADPOOL', CONNECTIONS * CALLS_PER_CONNECTION);
const TRANSACTIONS = positiveEnv('BENCH_PG_TRANSACTIONS', 20_000);
const ACCOUNTS = positiveEnv('BENCH_PG_ACCOUNTS', 10_000);
const ROUNDS = positiveEnv('BENCH_PG_ROUNDS', 3);
const WARMUP_TRANSACTIONS = positiveEnv('BENCH_PG_WARMUP_TRANSACTIONS', 2_000);
const BATCH_SIZES = (process.env.BENCH_PG_BATCH_SIZES ?? '10,40').split(',').map((text) => {
  const size = Number(text.trim());
  if (!Number.isSafeInteger(size) || size < 2) throw new Error(`BENCH_PG_BATCH_SIZES: "${text}" is not an integer >= 2`);
  return size;
});
const INITIAL_BALANCE = '1000.00';
/** BENCH_PG_CASES=a,b: only these cases (for profiling one of them); the ratios then need a, b and c. */
const ONLY = process.env.BENCH_PG_CASES ? process.env.BENCH_PG_CASES.split(',').map((name) => name.trim()) : null;

function positiveEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${text}"`);
  return value;
}

/** One generated log and everything the cases need from it, prepared outside the clock. */
interface Workload {
  readonly options: CertifierOptions;
  readonly records: readonly RawRecord[];
  readonly expected: ExpectedEndState;
  /** Committed versions in version order, for the baseline. */
  readonly committed: ReadonlyArray<{ readonly version: Version; readonly safepoint: Version | null; readonly statemaps: readonly StatemapItem[] }>;
  readonly lastCandidate: Version;
}

function prepareWorkload(transactions: number): Workload {
  const options: CertifierOptions = { seed: 42, transactions, accounts: ACCOUNTS, initialBalance: INITIAL_BALANCE };
  // Values as bytes, the way Kafka hands them over (the generator writes text).
  const records = [...generateCertificationLog(options)].map((record): RawRecord => ({ ...record, value: Buffer.from(String(record.value)) }));
  const expected = expectedEndState(options);
  const transfers = new Map<Version, { action: string; payload: unknown }[]>();
  let lastCandidate = 0;
  for (const record of records) {
    if (record.headers.messageType !== 'Candidate') continue;
    const version = Number(record.offset);
    lastCandidate = version;
    const body = JSON.parse(String(record.value)) as { statemap?: Array<Record<string, unknown>> };
    transfers.set(
      version,
      (body.statemap ?? []).flatMap((entry) => Object.entries(entry).map(([action, payload]) => ({ action, payload }))),
    );
  }
  const committed = expected.committed.map(({ version, safepoint }) => ({
    version,
    safepoint,
    statemaps: transfers.get(version)!.map(({ action, payload }) => ({ action, payload, version, safepoint })),
  }));
  return { options, records, expected, committed, lastCandidate };
}

// ---------------------------------------------------------------------------------------
// The database: the same one for every run, its tables dropped and created again each time.

const DROP_ALL = 'DROP TABLE IF EXISTS bank_accounts, cohort_snapshot, replicator_installed_versions, replicator_installed_watermark';

async function freshTables(admin: pg.Pool, workload: Workload): Promise<void> {
  await admin.query(DROP_ALL);
  await admin.query('CREATE TABLE bank_accounts ("number" text PRIMARY KEY, amount decimal NOT NULL, "version" bigint NOT NULL)');
  const names = initialAccounts(workload.options).map((account) => account.name);
  await admin.query('INSERT INTO bank_accounts ("number", amount, "version") SELECT unnest($1::text[]), $2::decimal, 0', [names, INITIAL_BALANCE]);
  await admin.query('VACUUM ANALYZE bank_accounts');
  await admin.query('CHECKPOINT');
}

async function checkBank(admin: pg.Pool, workload: Workload, label: string): Promise<void> {
  const { rows } = await admin.query<{ number: string; cents: string; version: string }>(
    'SELECT "number", round(amount * 100)::bigint::text AS cents, "version"::text FROM bank_accounts',
  );
  let wrong = 0;
  for (const row of rows) {
    const want = workload.expected.accounts.get(row.number);
    if (!want || Number(row.cents) !== want.balanceCents || Number(row.version) !== want.version) wrong += 1;
  }
  if (wrong > 0 || rows.length !== workload.expected.accounts.size) throw new Error(`${label}: ${wrong} account(s) differ from the serial replay`);
}

/**
 * A pool whose idle connections may be closed by the server (it stops at the end) without an
 * unhandled 'error' event ending the process.
 */
function newPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  return pool;
}

/** Opens every connection of the pool before a run, so no case pays for connecting inside the clock. */
async function warmPool(pool: pg.Pool, connections: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  for (const client of clients) client.release();
}

// ---------------------------------------------------------------------------------------
// (a) the raw baseline.

/** One timed run: versions/s, and CPU time (user + system) per 1 000 versions of this process and of the Postgres server. */
interface Sample {
  readonly rate: number;
  readonly cpuMsPer1000: number;
  /** NaN where /proc cannot be read. */
  readonly serverCpuMsPer1000: number;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * CPU milliseconds used so far by every process named `postgres` (the embedded server's
 * postmaster and backends, and the ones of backends that ended), from /proc; NaN elsewhere.
 * The benchmark runs alone, so these are the server's.
 */
function postgresCpuMs(): number {
  let ticks = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
        // Fields after the command name: utime, stime, cutime, cstime are the 12th to 15th.
        const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
        for (const at of [11, 12, 13, 14]) ticks += Number(fields[at]);
      } catch {
        // The process ended while we looked.
      }
    }
  } catch {
    return NaN;
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

function timer(): (versions: number) => Sample {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const server = postgresCpuMs();
  return (versions) => {
    const seconds = (performance.now() - wall) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      rate: versions / seconds,
      cpuMsPer1000: (used.user + used.system) / 1000 / (versions / 1000),
      serverCpuMsPer1000: (postgresCpuMs() - server) / (versions / 1000),
    };
  };
}

/** `prepared`: the client behind the replicator's statement cache, case (a'). */
async function runBaseline(url: string, admin: pg.Pool, workload: Workload, prepared = false): Promise<Sample> {
  await freshTables(admin, workload);
  const pool = newPool(url, CONNECTIONS);
  const install = createBankingInstall();
  const statements = createStatementCache(prepared ? undefined : 0);
  const items = workload.committed;
  try {
    await warmPool(pool, CONNECTIONS);
    const done = new Uint8Array(items.length);
    let next = 0;
    let prefix = 0; // items[0 .. prefix-1] are all done
    let wake: Array<() => void> = [];
    /** Every committed version at or below this one is done. */
    const frontier = () => (prefix < items.length ? items[prefix]!.version - 1 : Infinity);
    const progress = () => new Promise<void>((resolve) => wake.push(resolve));
    const worker = async () => {
      const client = await pool.connect();
      try {
        while (next < items.length) {
          const index = next;
          const item = items[index]!;
          if (item.safepoint !== null && item.safepoint > frontier()) {
            await progress();
            continue;
          }
          next += 1;
          await client.query('BEGIN');
          await install(item.statemaps, item.version, statements.view(client));
          await client.query('COMMIT');
          done[index] = 1;
          while (prefix < items.length && done[prefix] === 1) prefix += 1;
          const waiting = wake;
          wake = [];
          for (const resolve of waiting) resolve();
        }
      } finally {
        client.release();
      }
    };
    const stop = timer();
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    const sample = stop(items.length);
    await checkBank(admin, workload, 'baseline');
    return sample;
  } finally {
    await pool.end();
  }
}

// ---------------------------------------------------------------------------------------
// (b), (c) the replicator end to end.

/**
 * `exactlyOnce` false: the reference case (b-), the same pipeline with the banking install in a
 * plain transaction per version, no bookkeeping (what the replicator costs without its
 * exactly-once record).
 */
async function runReplicator(url: string, admin: pg.Pool, workload: Workload, batchSize: number, exactlyOnce = true): Promise<Sample> {
  await freshTables(admin, workload);
  const pool = newPool(url, CONNECTIONS);
  try {
    // With batches, the banking install's batch form: one lock and one update per transaction.
    // The banking install does nothing for an empty statemap list, so aborted versions need no
    // transaction (skipVersionsWithoutStatemaps); they still go through the whole pipeline.
    const bank = createBankingInstall();
    const transactional = createTransactionalInstaller(pool, {
      install: bank,
      skipVersionsWithoutStatemaps: true,
      ...(batchSize > 1 ? { installBatch: createBankingInstallBatch() } : {}),
    });
    // The same statement cache as the transactional installer's, so only the bookkeeping differs.
    const statements = createStatementCache();
    const plain = {
      async install(statemaps: readonly StatemapItem[], version: Version): Promise<void> {
        if (statemaps.length > 0) await inTransaction(pool, 'read committed', (client) => bank(statemaps, version, statements.view(client)));
      },
    };
    const installer = exactlyOnce ? transactional : plain;
    const store = createPostgresSnapshotStore(pool, { pruneInstalledBookkeeping: exactlyOnce });
    if (exactlyOnce) await transactional.ensureSchema();
    await store.ensureSchema();
    await warmPool(pool, CONNECTIONS);
    const source = createMemorySource({ maxBatch: 1000 });
    const replicator = createCohortReplicator({
      source,
      installer,
      snapshotStore: store,
      logger: silentLogger,
      // The CLI's timers (replay: 500 / 1000 ms; the demo: 200 / 500 ms).
      config: { statemapInstallerThreadpool: THREADPOOL, installBatchSize: batchSize, statemapQueueCleanupFreqMs: 200, certifierMessageReceiverCommitFreqMs: 500 },
    });
    const ended = waitForEnd(replicator);
    const stop = timer();
    replicator.start();
    source.push(workload.records);
    source.end();
    const output = await ended;
    const sample = stop(workload.committed.length);
    if (output.error) throw output.error;
    if (output.persisted !== workload.lastCandidate) throw new Error(`replicator: persisted snapshot ${output.persisted}, expected ${workload.lastCandidate}`);
    await checkBank(admin, workload, `replicator (batch ${batchSize}${exactlyOnce ? '' : ', no bookkeeping'})`);
    return sample;
  } finally {
    await pool.end();
  }
}

// ---------------------------------------------------------------------------------------

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const fmt = (value: number) => Math.round(value).toLocaleString('en').padStart(7);

interface Case {
  readonly label: string;
  readonly run: (workload: Workload) => Promise<Sample>;
}

/** What BENCH_PG_CASES calls a case: its label's "(a)" without the parentheses. */
const caseKey = (benchCase: Case) => benchCase.label.split(' ')[0]!.slice(1, -1);

const server = await startEmbeddedPostgres({ database: 'bench' });
const admin = newPool(server.url, 1);
try {
  const allCases: Case[] = [
    { label: '(a) raw baseline, 1 version/transaction', run: (w) => runBaseline(server.url, admin, w) },
    { label: '(b) replicator, 1 version/transaction', run: (w) => runReplicator(server.url, admin, w, 1) },
    ...BATCH_SIZES.map((size) => ({ label: `(c) replicator, installBatchSize ${size}`, run: (w: Workload) => runReplicator(server.url, admin, w, size) })),
    { label: '(b-) as (b) without exactly-once bookkeeping', run: (w) => runReplicator(server.url, admin, w, 1, false) },
    { label: "(a') as (a), statements prepared as in (b)", run: (w) => runBaseline(server.url, admin, w, true) },
  ];
  const cases = allCases.filter((benchCase) => ONLY === null || ONLY.includes(caseKey(benchCase)));
  const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  const workload = prepareWorkload(TRANSACTIONS);
  console.log(
    `Postgres benchmark: ${TRANSACTIONS.toLocaleString('en')} transactions (${workload.committed.length.toLocaleString('en')} committed versions) over ` +
      `${ACCOUNTS.toLocaleString('en')} accounts, ${CONNECTIONS} connections, ${ROUNDS} rounds; Postgres ${version} (embedded, non-durable), ` +
      `Node ${process.version}, ${os.availableParallelism()} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
  );

  const warmup = prepareWorkload(WARMUP_TRANSACTIONS);
  for (const benchCase of cases) await benchCase.run(warmup);

  const samples = cases.map(() => [] as Sample[]);
  for (let round = 1; round <= ROUNDS; round += 1) {
    // Alternate the order too, so a slow spell on the machine does not always hit the same case.
    const order = cases.map((_, index) => index);
    if (round % 2 === 0) order.reverse();
    const line: string[] = [];
    for (const index of order) {
      const sample = await cases[index]!.run(workload);
      samples[index]!.push(sample);
      line.push(`${cases[index]!.label.split(' ')[0]} ${Math.round(sample.rate)}`);
    }
    console.log(`  round ${round}: ${line.join(', ')} versions/s`);
  }

  const medians = samples.map((runs) => median(runs.map((s) => s.rate)));
  for (const [index, benchCase] of cases.entries()) {
    const runs = samples[index]!;
    console.log(
      `${benchCase.label.padEnd(46)} ${fmt(medians[index]!)} versions/s  (runs: ${runs.map((s) => Math.round(s.rate)).join(', ')}; ` +
        `CPU per 1 000 versions: Node ${Math.round(median(runs.map((s) => s.cpuMsPer1000)))} ms, Postgres ${Math.round(median(runs.map((s) => s.serverCpuMsPer1000)))} ms)`,
    );
  }
  if (ONLY !== null) process.exit(0);
  // Every case ran (no BENCH_PG_CASES): look each up by its key, not by its place in the list.
  const indexOf = (key: string) => cases.findIndex((benchCase) => caseKey(benchCase) === key);
  const baseline = medians[indexOf('a')]!;
  const single = medians[indexOf('b')]!;
  const batchIndexes = cases.flatMap((benchCase, index) => (caseKey(benchCase) === 'c' ? [index] : []));
  const bestBatchIndex = batchIndexes.reduce((best, index) => (medians[index]! > medians[best]! ? index : best), batchIndexes[0]!);
  const reference = medians[indexOf('b-')]!;
  const preparedBaseline = medians[indexOf("a'")]!;
  const batched = medians[bestBatchIndex]!;
  const ratioB = single / baseline;
  const ratioC = batched / baseline;
  console.log(`(b)/(a) = ${(ratioB * 100).toFixed(1)} %   (bar: at least 90 %)  ${ratioB >= 0.9 ? 'met' : 'NOT met'}`);
  console.log(`(c)/(a) = ${ratioC.toFixed(2)}x   [${cases[bestBatchIndex]!.label.slice(4)}]   (bar: at least 3x)  ${ratioC >= 3 ? 'met' : 'NOT met'}`);
  console.log(`(b-)/(a) = ${((reference / baseline) * 100).toFixed(1)} %   (for reference: the pipeline's share of the gap; (b)/(b-) = ${((single / reference) * 100).toFixed(1)} % is the bookkeeping's)`);
  console.log(`(b)/(a') = ${((single / preparedBaseline) * 100).toFixed(1)} %   (for reference: against a baseline whose statements are prepared as the replicator's are)`);
} finally {
  await admin.end();
  await server.stop();
}
