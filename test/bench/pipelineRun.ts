/**
 * One benchmark run in its own process (so peak RSS is this run's): pushes `total` transactions
 * through the public API, keeping at most `window` versions outstanding (pushed but not yet
 * installed), with an installer that does nothing, and measures until the persisted snapshot
 * reaches the last version. Prints one JSON line.
 */
import { createCohortReplicator, createMemorySource, silentLogger, type RawRecord } from '../../index.js';
import { syntheticLog } from './syntheticLog.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const total = Number(args.get('total') ?? 1_000_000);
const window = Number(args.get('window') ?? 1_000);
const chunk = Math.min(window, 5_000);

let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage.rss()));
const sampler = setInterval(sampleRss, 20);

let installed = 0;
let persisted = 0;
let persistedWaiter: (() => void) | null = null;
let target = Infinity;
const source = createMemorySource({ maxBatch: 2_000 });
const replicator = createCohortReplicator({
  source,
  installer: { install: async () => void (installed += 1) },
  snapshotStore: {
    getSnapshot: async () => 0,
    updateSnapshot: async (version) => {
      persisted = version;
      if (persisted >= target) persistedWaiter?.();
    },
  },
  logger: silentLogger,
  config: {
    suffixCapacity: Math.max(10_000, window * 2),
    channelSize: 2_000,
    statemapQueueCleanupFreqMs: 10,
    certifierMessageReceiverCommitFreqMs: 50,
  },
});
replicator.start();

const log = syntheticLog();
const started = performance.now();
let pushed = 0;
const buffer: RawRecord[] = [];
while (pushed < total) {
  const room = window - (pushed - installed);
  if (room <= 0) {
    await new Promise((resolve) => setImmediate(resolve));
    continue;
  }
  const count = Math.min(room, chunk, total - pushed);
  buffer.length = 0;
  log.next(count, buffer);
  source.push(buffer);
  pushed += count;
  if (pushed - installed >= window) await new Promise((resolve) => setImmediate(resolve));
}
target = log.lastCandidate;
if (persisted < target) await new Promise<void>((resolve) => (persistedWaiter = resolve));
const seconds = (performance.now() - started) / 1000;
sampleRss();
clearInterval(sampler);
replicator.send({ type: 'STOP' });
console.log(JSON.stringify({ window, total, seconds, transactionsPerSecond: Math.round(total / seconds), peakRssMb: Math.round(peakRss / 1048576), installed }));
process.exit(0);
