/**
 * Parsing throughput and main-thread cost: `parseBatch` on the main thread against the worker
 * parser, on synthetic bank-transfer records (Buffer values, as Kafka hands them over), for
 * several batch sizes. Prints, asserts nothing. Each figure is the median of `--repeat` passes.
 *
 *   node dist/test/bench/parser.bench.js [--transactions=100000] [--repeat=3] [--workers=1] [--inflight=4]
 *
 * Main-thread CPU is the main thread's own user+system time from /proc (Linux; ticks of 10 ms,
 * so use enough transactions) and, everywhere, the event loop's active time
 * (`performance.eventLoopUtilization()`), which counts everything the main thread did that was
 * not waiting. Worker CPU is the rest of the process's CPU time.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { RawRecord } from '../../machines/domain.js';
import type { ParsedBatch } from '../../machines/messages.js';
import { parseBatch } from '../../adapters/wire/parseRecord.js';
import { createWorkerParser, type WorkerParser } from '../../adapters/wire/workerParser.js';
import { syntheticLog } from './syntheticLog.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const transactions = Number(args.get('transactions') ?? 100_000);
const repeat = Number(args.get('repeat') ?? 3);
const workers = Number(args.get('workers') ?? 1);
const inflight = Number(args.get('inflight') ?? 4);
const batchSizes = (args.get('batches') ?? '500,2000,5000').split(',').map(Number);

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux
/** The main thread's CPU time in µs, or NaN where /proc is not there. */
function mainThreadCpuUs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return NaN;
  }
}

interface Sample {
  readonly seconds: number;
  readonly mainCpuUs: number;
  readonly eluActiveUs: number;
  readonly processCpuUs: number;
}

async function measure(run: () => Promise<void> | void): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuUs();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  return { seconds, mainCpuUs: mainThreadCpuUs() - main0, eluActiveUs: elu.active * 1000, processCpuUs: cpu.user + cpu.system };
}

function batches(records: readonly RawRecord[], size: number): RawRecord[][] {
  const out: RawRecord[][] = [];
  for (let i = 0; i < records.length; i += size) out.push(records.slice(i, i + size));
  return out;
}

let sink = 0;
const consume = (batch: ParsedBatch) => (sink += batch.messages.length + batch.rejects.length);

function runMain(list: readonly RawRecord[][]): void {
  for (const batch of list) consume(parseBatch(batch));
}

/** At most `inflight` batches outstanding, like a consumer feeding a pipeline. */
async function runWorker(parser: WorkerParser, list: readonly RawRecord[][]): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const batch of list) {
    pending.push(parser.parse(batch).then((result) => void consume(result)));
    if (pending.length >= inflight) await pending.shift();
  }
  await Promise.all(pending);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

const records: RawRecord[] = [];
syntheticLog().next(transactions, records);
const bytes = records.reduce((sum, record) => sum + (record.value as Buffer).length, 0);
console.log(`${transactions} transactions, ${records.length} records, ${(bytes / records.length).toFixed(0)} bytes per record; ${repeat} passes per figure (median); worker parser: ${workers} worker(s), ${inflight} batches in flight`);
console.log('parser        batch   records/s  transactions/s  main CPU µs/tx (proc)  main active µs/tx (ELU)  worker CPU µs/tx');

const parser = createWorkerParser({ workers });
// Warm up both paths (JIT, worker start).
runMain(batches(records.slice(0, 20_000), 2_000));
await runWorker(parser, batches(records.slice(0, 20_000), 2_000));

for (const size of batchSizes) {
  const list = batches(records, size);
  for (const [name, run] of [
    ['parseBatch', () => runMain(list)],
    ['workerParser', () => runWorker(parser, list)],
  ] as const) {
    const samples: Sample[] = [];
    for (let i = 0; i < repeat; i++) samples.push(await measure(run));
    const seconds = median(samples.map((s) => s.seconds));
    const mainCpu = median(samples.map((s) => s.mainCpuUs)) / transactions;
    const active = median(samples.map((s) => s.eluActiveUs)) / transactions;
    const workerCpu = median(samples.map((s) => s.processCpuUs - s.mainCpuUs)) / transactions;
    console.log(
      `${name.padEnd(12)} ${String(size).padStart(6)} ${Math.round(records.length / seconds).toLocaleString('en').padStart(11)} ${Math.round(transactions / seconds).toLocaleString('en').padStart(15)} ${mainCpu.toFixed(2).padStart(22)} ${active.toFixed(2).padStart(24)} ${(name === 'parseBatch' ? '-' : workerCpu.toFixed(2)).padStart(17)}`,
    );
  }
}
await parser.close();
if (sink < 0) console.log(sink);
