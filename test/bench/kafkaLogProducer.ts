/**
 * The certifier side of `npm run bench:kafka`, in its own process: produces a synthetic
 * certification log to the mock broker while the replicator consumes it. The mock keeps only
 * about 5 MB per partition, so it stays at most `--lead` records ahead of what the parent says
 * was consumed (IPC messages `{ consumed }`). Prints nothing; sends `{ produced, lastCandidate }`.
 */
import kafkajs from 'kafkajs';
import type { RawRecord } from '../../machines/domain.js';
import { syntheticLog } from './syntheticLog.js';

const { Kafka, logLevel } = kafkajs;
const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const brokers = args.get('brokers')!.split(',');
const topic = args.get('topic')!;
const transactions = Number(args.get('transactions'));
const lead = Number(args.get('lead') ?? 6_000);
const batch = 1_000;

let consumed = 0;
let wake: (() => void) | null = null;
process.on('message', (message: { consumed: number }) => {
  consumed = message.consumed;
  wake?.();
});

const kafka = new Kafka({ clientId: 'bench-certifier', brokers, logLevel: logLevel.NOTHING });
const producer = kafka.producer({ allowAutoTopicCreation: true });
await producer.connect();
// Offset 0: a candidate without statemap, so that generated versions (from 1) equal offsets.
await producer.send({ topic, acks: 1, messages: [{ value: '{"xid":"offset-zero"}', headers: { messageType: 'Candidate' } }] });
let produced = 1;
const log = syntheticLog();
let remaining = transactions;
while (remaining > 0) {
  while (produced - consumed > lead) await new Promise<void>((resolve) => (wake = resolve));
  const records: RawRecord[] = [];
  const count = Math.min(batch / 2, remaining);
  log.next(count, records);
  remaining -= count;
  await producer.send({
    topic,
    acks: 1,
    messages: records.map((record) => ({ value: record.value as Buffer, headers: record.headers as Record<string, string> })),
  });
  produced += records.length;
}
process.send!({ produced, lastCandidate: log.lastCandidate });
await producer.disconnect();
process.disconnect();
