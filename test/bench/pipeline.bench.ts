/**
 * `npm run bench`: the whole pipeline through the public API (memory source, installer that does
 * nothing), at 1 000, 100 000 and 1 000 000 outstanding versions: pushed and not yet installed,
 * held parsed and queued inside the replicator (see pipelineRun.ts for how). Every case fetches
 * 500 transactions at a time, as a Kafka consumer would.
 * Each case runs in its own process so its peak RSS is its own, BENCH_ROUNDS times (default 3,
 * cases alternating; the median counts, since the machine is shared). Prints transactions/s
 * (candidate + decision in, version installed and snapshot persisted out), peak RSS, the most
 * transactions pushed and not yet installed, and the depth ratio the bar is about. The log comes
 * from test/bench/logProducer.ts: a worker thread that copies record templates and patches their
 * digits (versions from 20 000 000), the benchmark's stand-in for Kafka.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseBatch } from '../../adapters/wire/parseRecord.js';
import type { RawRecord } from '../../machines/domain.js';
import { FIRST_VERSION } from './logProducer.js';
import { syntheticLog } from './syntheticLog.js';

/** Main-thread CPU microseconds per transaction that `parseBatch` alone spends on these records (best of 5 passes). */
function parseCostUs(transactions: number): number {
  const records: RawRecord[] = [];
  syntheticLog(undefined, undefined, undefined, { firstVersion: FIRST_VERSION }).next(transactions, records);
  let best = Infinity;
  for (let pass = 0; pass < 5; pass++) {
    const before = process.cpuUsage();
    for (let start = 0; start < records.length; start += 2_000) parseBatch(records.slice(start, start + 2_000));
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / transactions);
  }
  return best;
}

interface RunResult {
  readonly window: number;
  readonly total: number;
  readonly seconds: number;
  readonly transactionsPerSecond: number;
  readonly peakRssMb: number;
  readonly mainCpuUsPerTransaction: number;
  /** The most transactions pushed to the source and not yet installed, seen at a push. */
  readonly mostOutstanding: number;
}

const runner = fileURLToPath(new URL('./pipelineRun.js', import.meta.url));
const total = Number(process.env.BENCH_TRANSACTIONS ?? 1_000_000);
// The machine is shared: every case runs this many times, the cases alternating, and the median counts.
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const windows = [1_000, 100_000, 1_000_000];
// Four settings, each a full set of cases: Node's defaults; a young generation big enough for
// the objects a batch keeps alive while it travels through the pipeline (without it they survive
// a scavenge and get copied and promoted), with V8's allocation-site pretenuring off, which
// docs/operations.md recommended for CPU-bound runs and deep backlogs until now (with many
// versions waiting, pretenuring makes young-generation collections promote more than waits);
// what docs/operations.md recommends now: a young generation of at most 32 MB a semi-space (a
// shallow queue never grows it past that, and a deep one grew it to 64 MB and faulted in the
// difference), pretenuring off, and transparent huge pages for memory from malloc (glibc's
// `glibc.malloc.hugetlb=1`), where the columns and statemap bytes of waiting versions live: at
// 1 000 000 outstanding, about 50 000 page faults against 99 000 with 64 MB and 4 KiB pages, in
// a VM where a fault costs 7-10 µs; and the young generation with parsing on a worker thread
// (`parseOnWorkerThread`), which takes the parse off the main thread but competes for the second
// core with the log producer.
const HUGE_PAGES_FOR_MALLOC = { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };
const SETTINGS: ReadonlyArray<{ readonly name: string; readonly flags: readonly string[]; readonly args: readonly string[]; readonly env?: Readonly<Record<string, string>> }> = [
  { name: "Node's defaults", flags: [], args: [] },
  { name: '--max-semi-space-size=64 --no-allocation-site-pretenuring', flags: ['--max-semi-space-size=64', '--no-allocation-site-pretenuring'], args: [] },
  {
    name: '--max-semi-space-size=32 --no-allocation-site-pretenuring, GLIBC_TUNABLES=glibc.malloc.hugetlb=1',
    flags: ['--max-semi-space-size=32', '--no-allocation-site-pretenuring'],
    args: [],
    env: HUGE_PAGES_FOR_MALLOC,
  },
  { name: '--max-semi-space-size=64, parseOnWorkerThread', flags: ['--max-semi-space-size=64'], args: ['--parser=worker'] },
];
const runCase = (window: number, setting: (typeof SETTINGS)[number]): RunResult => {
  const output = execFileSync(process.execPath, ['--max-old-space-size=4096', ...setting.flags, runner, `--total=${Math.max(total, window)}`, `--window=${window}`, ...setting.args], {
    encoding: 'utf8',
    env: { ...process.env, ...setting.env },
  });
  return JSON.parse(output.trim().split('\n').at(-1)!) as RunResult;
};
// Measured first, in a process that has not yet grown through the cases' results.
const parseUs = parseCostUs(100_000);
const key = (setting: number, window: number) => `${setting}/${window}`;
const runs = new Map<string, RunResult[]>();

console.log(
  `pipeline benchmark: ${total.toLocaleString('en')} transactions per case, installer does nothing (so statemapInstallerThreadpool is 1 000, not the default 50: install rounds of up to 1 000 versions) and answers once the log has moved a window past the version, so the outstanding versions wait parsed and queued inside the replicator, median of ${rounds} runs per case, Node ${process.version}`,
);
for (let round = 0; round < rounds; round++) {
  SETTINGS.forEach((setting, index) => {
    for (const window of windows) {
      const list = runs.get(key(index, window)) ?? [];
      list.push(runCase(window, setting));
      runs.set(key(index, window), list);
    }
  });
}
const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
let best = 0;
SETTINGS.forEach((setting, index) => {
  console.log(`${setting.name}:`);
  const results: RunResult[] = [];
  for (const window of windows) {
    const all = runs.get(key(index, window))!;
    const middle = median(all.map((run) => run.transactionsPerSecond));
    const result = all.find((run) => run.transactionsPerSecond === middle)!;
    results.push(result);
    best = Math.max(best, result.transactionsPerSecond);
    console.log(
      `  outstanding ${String(window.toLocaleString('en')).padStart(9)}: ${String(result.transactionsPerSecond.toLocaleString('en')).padStart(9)} transactions/s  (${result.seconds.toFixed(2)} s, peak RSS ${Math.max(...all.map((run) => run.peakRssMb))} MB, main thread ${result.mainCpuUsPerTransaction} µs CPU per transaction, most pushed and not installed ${Math.max(...all.map((run) => run.mostOutstanding)).toLocaleString('en')}; runs: ${all.map((run) => run.transactionsPerSecond.toLocaleString('en')).join(', ')})`,
    );
  }
  const shallow = results[0]!.transactionsPerSecond;
  const deep = results.at(-1)!.transactionsPerSecond;
  console.log(`  1 000 000 vs 1 000 outstanding: ${((deep / shallow) * 100).toFixed(1)} % (bar: at least 80 %)`);
});
console.log(`parsing alone (parseBatch on the same records, main thread): ${parseUs.toFixed(2)} µs CPU per transaction, at most ${Math.round(1e6 / parseUs).toLocaleString('en')} transactions/s by itself`);
console.log(`best: ${best.toLocaleString('en')} transactions/s (bar: at least 250 000)`);
