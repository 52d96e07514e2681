/**
 * One `bench:kafka` throughput run in its own process: a mock Kafka broker, a certifier process
 * producing `--transactions` synthetic bank transfers concurrently, and the replicator
 * (createKafkaReplicator, installer that does nothing) consuming them, until the persisted
 * snapshot reaches the last candidate. Prints one JSON line.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createKafkaReplicator, silentLogger } from '../../index.js';
import { startMockKafka } from '../support/kafka/mockBroker.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const transactions = Number(args.get('transactions') ?? 200_000);
const topic = 'certification';
const mock = await startMockKafka({ topics: [topic] });

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
let installed = 0;
let persisted = 0;
let target = Infinity;
let wakeDone: (() => void) | null = null;
const replicator = createKafkaReplicator({
  kafka: { brokers: [mock.bootstrap], topic, groupId: 'bench', sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, maxWaitTimeMs: 50 },
  installer: { install: async () => void (installed += 1) },
  snapshotStore: {
    getSnapshot: async () => 0,
    updateSnapshot: async (version) => {
      persisted = version;
      if (persisted >= target) wakeDone?.();
    },
  },
  logger: silentLogger,
  config: { statemapQueueCleanupFreqMs: 20, certifierMessageReceiverCommitFreqMs: 200 },
});
const running = replicator.run();

const producer = fork(fileURLToPath(new URL('./kafkaLogProducer.js', import.meta.url)), [`--brokers=${mock.bootstrap}`, `--topic=${topic}`, `--transactions=${transactions}`], { stdio: 'inherit' });
// The producer leaves once it is done; a progress message racing its exit is of no use to it.
producer.on('error', () => {});
let started = 0;
const reporter = setInterval(() => {
  const delivered = replicator.source.lastDelivered ?? 0;
  if (started === 0 && delivered > 0) started = performance.now();
  if (producer.connected) producer.send({ consumed: delivered });
}, 5);
const produced = await new Promise<{ produced: number; lastCandidate: number }>((resolve, reject) => {
  producer.on('message', (message) => resolve(message as { produced: number; lastCandidate: number }));
  producer.on('exit', (code) => code !== 0 && reject(new Error(`the producer exited with ${code}`)));
});
target = produced.lastCandidate;
if (persisted < target) await new Promise<void>((resolve) => (wakeDone = resolve));
const seconds = (performance.now() - started) / 1000;
clearInterval(reporter);
clearInterval(sampler);
replicator.stop();
await running;
await mock.stop();
console.log(JSON.stringify({ transactions, records: produced.produced, seconds, transactionsPerSecond: Math.round(transactions / seconds), installed, peakRssMb: Math.round(peakRss / 1048576) }));
process.exit(0);
