/**
 * One benchmark run in its own process (so peak RSS is this run's): pushes `total` transactions
 * through the public API with an installer that does nothing, keeping up to `window` versions
 * outstanding: pushed, and not yet installed. It measures until the persisted snapshot reaches
 * the last version. The log is generated on a worker thread (test/bench/logProducer.ts).
 *
 * Outstanding versions are held inside the replicator, parsed and queued, as behind a slow
 * database: an install answers only once the log has moved far enough past its version (see
 * `lag`). An installer that answered at once would leave the replicator nearly empty at every
 * window (it drops installed versions at once), and a deep window would then only pile raw
 * records up in the memory source. With the default 1 000 000 transactions, the deepest case
 * fills its window before the first install answers, then drains.
 *
 * The feeder stands in for a Kafka consumer's fetch loop: it hands the memory source one fetch
 * at a time (`chunk`: 500 transactions, 1 000 records, about 460 KB, within kafkajs's default of
 * 1 MB per partition per fetch), and fetches again once the source holds at most one fetch not
 * yet delivered. `mostOutstanding` is the most transactions pushed and not yet installed, seen
 * at a push.
 *
 * `--parser=worker` parses on a worker thread (`parseOnWorkerThread`). `--observe` turns on the
 * status server and with it the metrics and event timings (to measure their cost). Prints one
 * JSON line.
 */
import { readFileSync } from 'node:fs';
import { createCohortReplicator, createMemorySource, silentLogger } from '../../index.js';
import { FIRST_VERSION, startLogProducer } from './logProducer.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const total = Number(args.get('total') ?? 1_000_000);
const window = Number(args.get('window') ?? 1_000);
const onWorker = args.get('parser') === 'worker';
/** Transactions per fetch: the same in every case, so that the cases differ only in their window. */
const chunk = Math.max(1, Math.min(Math.floor(window / 2), 500));
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
/** The last candidate pushed so far. */
let lastCandidate = 0;
let installed = 0;
let mostOutstanding = 0;
/** The next fetch fits in the window. */
const hasRoom = () => window - (pushed - installed) >= Math.min(chunk, total - pushed);
/** Wakes the feeder once the next fetch fits, so it waits without spinning. */
let wakeFeeder: (() => void) | null = null;
let persisted = 0;
let target = Infinity;
let wakeDone: (() => void) | null = null;

/**
 * How the window is held: an install answers once the log has moved `lag` transactions past its
 * version (every one at once after the last push), so that many versions stay in the replicator,
 * parsed and queued behind the installs, as behind a slow database. `lag` leaves the window room
 * for a fetch and for the versions the install pool may take out of order (those eligible early
 * fill its slots while older ones wait), so the feeder never waits on an install that waits on
 * the feeder. At 1 000 outstanding that leaves nothing: installs answer at once. An install
 * with no statemaps (an abort) touches no database and answers at once: aborts wait for nothing,
 * so held they would fill the pool from anywhere in the window. Versions go up by two per
 * transaction (a candidate, then its decision).
 */
const lag = Math.max(0, window - chunk - 2 * threadpool);
let feedingDone = false;
/** Installs not yet answered (at most `statemapInstallerThreadpool`). */
const held: Array<{ readonly version: number; readonly answer: () => void }> = [];
const answered = Promise.resolve();
const mayAnswer = (version: number) => feedingDone || version <= lastCandidate - 2 * lag;
function installedOne() {
  installed += 1;
  if (wakeFeeder && hasRoom()) {
    const wake = wakeFeeder;
    wakeFeeder = null;
    wake();
  }
}
/** Answers every held install that may be answered now; the rest keep their order. */
function answerHeld() {
  let kept = 0;
  for (const install of held) {
    if (mayAnswer(install.version)) {
      installedOne();
      install.answer();
    } else {
      held[kept++] = install;
    }
  }
  held.length = kept;
}

/** Per push, oldest first: the records pushed up to its end and its last candidate; to tell the producer which blocks are read. */
const pushes: Array<{ readonly records: number; readonly lastCandidate: number }> = [];
let pushedRecords = 0;
/**
 * The replicator reads each batch as the source delivers it: the main-thread parser parses it
 * there and then, and the worker parser copies its bytes for the worker (it reads a record again
 * only when the worker hands the record back undecided, which no record of this log is). So the
 * blocks behind the delivered records can be reused.
 */
function noteDelivered() {
  const delivered = pushedRecords - source.buffered;
  let last = -1;
  while (pushes.length > 0 && pushes[0]!.records <= delivered) last = pushes.shift()!.lastCandidate;
  if (last >= 0) producer.read(last);
}

const producer = startLogProducer();
const source = createMemorySource({ maxBatch: 2_000 });
const replicator = createCohortReplicator({
  source,
  parseOnWorkerThread: onWorker,
  installer: {
    install: (statemaps, version) => {
      if (statemaps.length === 0 || mayAnswer(version)) {
        installedOne();
        return answered;
      }
      return new Promise<void>((answer) => held.push({ version, answer }));
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

const started = performance.now();
const mainCpuBefore = mainThreadCpuSeconds();
const cpuBefore = process.cpuUsage();
while (pushed < total) {
  // At most one fetch not yet delivered (two records per transaction): the source delivers on
  // setImmediate, so the check after its delivery comes right behind it.
  if (source.buffered > 2 * chunk) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    continue;
  }
  if (!hasRoom()) {
    await new Promise<void>((resolve) => (wakeFeeder = resolve));
    continue;
  }
  const count = Math.min(chunk, total - pushed);
  noteDelivered();
  const next = await producer.next(count);
  lastCandidate = next.lastCandidate;
  mostOutstanding = Math.max(mostOutstanding, pushed - installed);
  source.push(next.records);
  pushed += count;
  pushedRecords += next.records.length;
  pushes.push({ records: pushedRecords, lastCandidate });
  answerHeld();
}
feedingDone = true;
answerHeld();
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
console.log(JSON.stringify({ window, total, parser: onWorker ? 'worker' : 'main', observe, threadpool, seconds, transactionsPerSecond: Math.round(total / seconds), peakRssMb: Math.round(peakRss / 1048576), mainCpuUsPerTransaction, processCpuUsPerTransaction, installed, mostOutstanding }));
process.exit(0);
