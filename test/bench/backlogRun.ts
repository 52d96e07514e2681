/**
 * One `bench:kafka` backlog run in its own process, so that its peak RSS is the replicator's:
 * works through a certification log file of `--file` (written beforehand by the parent) with
 * the same pipeline as `run` (default replicator config, so Talos's backpressure applies) and an
 * installer that takes `--install-ms` per version (50 at once, the default threadpool), so that
 * reading the file outpaces installing, as with a real database; until the persisted snapshot
 * reaches `--last`. `--backpressure=off` gives the suffix room for the whole file instead.
 * Prints one JSON line.
 */
import { createCohortReplicator, createFileSource, silentLogger } from '../../index.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const file = args.get('file')!;
const last = Number(args.get('last'));
const throttled = args.get('backpressure') !== 'off';
const installMs = Number(args.get('install-ms') ?? 2);

let persisted = 0;
let wakeDone: (() => void) | null = null;
let maxSuffix = 0;
const replicator = createCohortReplicator({
  source: createFileSource(file, { batchSize: 1_000 }),
  installer: { install: () => new Promise<void>((resolve) => setTimeout(resolve, installMs)) },
  snapshotStore: {
    getSnapshot: async () => 0,
    updateSnapshot: async (version) => {
      persisted = version;
      if (persisted >= last) wakeDone?.();
    },
  },
  logger: silentLogger,
  config: throttled ? { statemapQueueCleanupFreqMs: 100 } : { statemapQueueCleanupFreqMs: 100, suffixCapacity: 10_000_000 },
});
const sampler = setInterval(() => {
  const replicatorService = replicator.getSnapshot().children.replicator?.getSnapshot() as { context?: { suffix?: { size: number } | null } } | undefined;
  maxSuffix = Math.max(maxSuffix, replicatorService?.context?.suffix?.size ?? 0);
}, 20);
const started = performance.now();
replicator.start();
if (persisted < last) await new Promise<void>((resolve) => (wakeDone = resolve));
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
replicator.send({ type: 'STOP' });
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
console.log(JSON.stringify({ seconds, peakRssMb, maxSuffix, backpressure: throttled }));
process.exit(0);
