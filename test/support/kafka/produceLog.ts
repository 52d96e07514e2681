/**
 * Produces a certification log to a topic of the mock broker, as a certifier would: each
 * record's offset is its version. Kafka offsets start at 0 while generated logs start at 1, so
 * offset 0 gets a candidate without statemap (version 0 is never installed).
 */
import kafkajs, { type Producer } from 'kafkajs';
import type { RawRecord } from '../../../machines/domain.js';
import { FAST_MOCK_CLIENT_CONFIG } from './mockBroker.js';

const { Kafka, logLevel } = kafkajs;

export const OFFSET_ZERO_FILLER: RawRecord = { offset: 0, headers: { messageType: 'Candidate' }, value: JSON.stringify({ xid: 'offset-zero-filler' }) };

export interface LogProducer {
  /** Sends records in order; their `offset` fields are ignored (the broker assigns offsets). */
  send(records: Iterable<RawRecord>, batchSize?: number): Promise<number>;
  close(): Promise<void>;
}

export async function createLogProducer(bootstrap: string, topic: string): Promise<LogProducer> {
  const kafka = new Kafka({ clientId: 'test-certifier', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, ...FAST_MOCK_CLIENT_CONFIG });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, idempotent: false });
  await producer.connect();
  return {
    async send(records, batchSize = 500) {
      let sent = 0;
      let batch: { value: string | Buffer | null; headers: Record<string, string | Buffer> }[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        await producer.send({ topic, acks: -1, messages: batch });
        sent += batch.length;
        batch = [];
      };
      for (const record of records) {
        const headers: Record<string, string | Buffer> = {};
        for (const [name, value] of Object.entries(record.headers)) if (value !== undefined) headers[name] = value;
        batch.push({ value: record.value, headers });
        if (batch.length >= batchSize) await flush();
      }
      await flush();
      return sent;
    },
    close: () => producer.disconnect(),
  };
}
