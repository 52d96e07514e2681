/**
 * One benchmark run in its own process (so peak RSS is this run's): pushes `total` transactions
 * through the public API, keeping at most `window` versions outstanding (pushed but not yet
 * installed), with an installer that does nothing, and measures until the persisted snapshot
 * reaches the last version. The log is generated on a worker thread (test/bench/logProducer.ts). `--parser=worker` parses on a worker thread (`parseOnWorkerThread`).
 * `--observe` turns on the status server and with it the metrics and event timings (to measure their cost). Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { createCohortReplicator, createMemorySource, silentLogger } from '../../index.js';
import { FIRST_VERSION, startLogProducer } from './logProducer.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const total = Number(args.get('total') ?? 1_000_000);
const window = Number(args.get('window') ?? 1_000);
const onWorker = args.get('parser') === 'worker';
const chunk = Math.max(1, Math.min(Math.floor(window / 2), 5_000));
const observe = args.has('observe');
/**
 * Install calls at once (`statemapInstallerThreadpool`, default 50 in production): this installer
 * does nothing and returns at once, so the benchmark lets a round take up to 1 000 ready versions
 * rather than 50, which halves the install rounds (and their RUN, POOL.SETTLED, INSTALL_RESULTS
 * events) per transaction. `--threadpool=50` measures with the production default.
 */
const threadpool = Number(args.get('threadpool') ?? 1_000);

/** CPU seconds of the main thread alone (Linux: /proc), to tell the replicator's thread from the producer's. */
function mainThreadCpuSeconds(): number {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage.rss()));
const sampler = setInterval(sampleRss, 20);

let pushed = 0;
let installed = 0;
/** Wakes the feeder once a chunk fits in the window again, so it waits without spinning. */
let wakeFeeder: (() => void) | null = null;
let persisted = 0;
let target = Infinity;
let wakeDone: (() => void) | null = null;
const producer = startLogProducer();
const source = createMemorySource({ maxBatch: 2_000 });
const replicator = createCohortReplicator({
  source,
  parseOnWorkerThread: onWorker,
  installer: {
    install: async (_statemaps, version) => {
      installed += 1;
      producer.installed(version);
      if (wakeFeeder && window - (pushed - installed) >= chunk) {
        const wake = wakeFeeder;
        wakeFeeder = null;
        wake();
      }
    },
  },
  snapshotStore: {
    // The log starts at FIRST_VERSION (see logProducer.ts): the snapshot before it.
    getSnapshot: async () => FIRST_VERSION - 1,
    updateSnapshot: async (version) => {
      persisted = version;
      if (persisted >= target) wakeDone?.();
    },
  },
  logger: silentLogger,
  config: {
    suffixCapacity: Math.max(10_000, window * 2),
    channelSize: 2_000,
    statemapQueueCleanupFreqMs: 10,
    statemapInstallerThreadpool: threadpool,
    certifierMessageReceiverCommitFreqMs: 50,
  },
  ...(observe ? { statusPort: 0 } : {}),
});
if (observe) await replicator.observability.ready();
replicator.start();

let lastCandidate = 0;
const started = performance.now();
const mainCpuBefore = mainThreadCpuSeconds();
const cpuBefore = process.cpuUsage();
while (pushed < total) {
  if (window - (pushed - installed) < Math.min(chunk, total - pushed)) {
    await new Promise<void>((resolve) => (wakeFeeder = resolve));
    continue;
  }
  const count = Math.min(chunk, total - pushed);
  const next = await producer.next(count);
  lastCandidate = next.lastCandidate;
  source.push(next.records);
  pushed += count;
}
target = lastCandidate;
if (persisted < target) await new Promise<void>((resolve) => (wakeDone = resolve));
const seconds = (performance.now() - started) / 1000;
const mainCpuUsPerTransaction = Math.round(((mainThreadCpuSeconds() - mainCpuBefore) * 1e6 * 10) / total) / 10;
const cpu = process.cpuUsage(cpuBefore);
const processCpuUsPerTransaction = Math.round(((cpu.user + cpu.system) * 10) / total) / 10;
sampleRss();
clearInterval(sampler);
replicator.send({ type: 'STOP' });
await producer.close();
await replicator.observability.close();
console.log(JSON.stringify({ window, total, parser: onWorker ? 'worker' : 'main', observe, threadpool, seconds, transactionsPerSecond: Math.round(total / seconds), peakRssMb: Math.round(peakRss / 1048576), mainCpuUsPerTransaction, processCpuUsPerTransaction, installed }));
process.exit(0);
