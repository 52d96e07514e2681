/**
 * The certifier side of `npm run bench:kafka`, in its own process: generates a synthetic
 * certification log and hands it to the native `log-producer` (librdkafka, see
 * test/support/kafka/log-producer.c), which produces it to the mock broker while the replicator
 * consumes it. The mock keeps only about 5 MB per partition, so this stays at most `--lead`
 * records ahead of what the parent says was consumed (IPC messages `{ consumed }`). Sends
 * `{ produced, lastCandidate }` when everything is on the broker.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { RawRecord } from '../../machines/domain.js';
import { ensureLogProducerBinary } from '../support/kafka/mockBroker.js';
import { syntheticLog } from './syntheticLog.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const brokers = args.get('brokers')!;
const topic = args.get('topic')!;
const transactions = Number(args.get('transactions'));
const lead = Number(args.get('lead') ?? 8_000);
const batch = 500;

let consumed = 0;
let wake: (() => void) | null = null;
process.on('message', (message: { consumed: number }) => {
  consumed = message.consumed;
  wake?.();
});

const producer = spawn(await ensureLogProducerBinary(), [brokers, topic], { stdio: ['pipe', 'pipe', 'inherit'] });
let output = '';
producer.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
const exited = once(producer, 'exit');

function frame(kind: 'C' | 'D', value: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = kind.charCodeAt(0);
  head.writeUInt32BE(value.length, 1);
  return Buffer.concat([head, value]);
}
const write = async (buffer: Buffer) => {
  if (!producer.stdin.write(buffer)) await once(producer.stdin, 'drain');
};

// Offset 0: a candidate without statemap, so that generated versions (from 1) equal offsets.
await write(frame('C', Buffer.from('{"xid":"offset-zero"}')));
let written = 1;
const log = syntheticLog();
let remaining = transactions;
while (remaining > 0) {
  while (written - consumed > lead) await new Promise<void>((resolve) => (wake = resolve));
  const records: RawRecord[] = [];
  const count = Math.min(batch, remaining);
  log.next(count, records);
  remaining -= count;
  await write(Buffer.concat(records.map((record) => frame(record.headers.messageType === 'Candidate' ? 'C' : 'D', record.value as Buffer))));
  written += records.length;
}
producer.stdin.end();
const [code] = await exited;
if (code !== 0) throw new Error(`log-producer exited with ${code}`);
const produced = Number(/produced (\d+)/.exec(output)?.[1]);
process.send!({ produced, lastCandidate: log.lastCandidate });
process.disconnect();
