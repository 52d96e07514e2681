/**
 * Copies malformed certification records to a dead-letter topic, with the reason in a header,
 * so they can be inspected and replayed. A copy that cannot be sent is logged; it never holds
 * up replication (the original stays on the certification topic anyway).
 */
import type { Producer } from 'kafkajs';
import type { BatchParser } from '../../actors/sourceConsumer.js';
import type { RawRecord } from '../../machines/domain.js';
import type { RejectedRecord } from '../../machines/messages.js';
import type { Logger } from '../logging.js';
import { parseOffset } from '../wire/parseRecord.js';

export const DEAD_LETTER_HEADERS = {
  reason: 'talos-reject-reason',
  topic: 'talos-source-topic',
  offset: 'talos-source-offset',
} as const;

export interface DeadLetter {
  /** Wraps a parser so the raw form of every record of the last batches can be copied. */
  remembering(parse: BatchParser): BatchParser;
  readonly onRejected: (reject: RejectedRecord) => void;
  /** Copies sent so far. */
  readonly sent: number;
  /** Waits for pending copies and disconnects the producer. */
  close(): Promise<void>;
}

export interface DeadLetterOptions {
  readonly producer: Producer;
  readonly topic: string;
  readonly sourceTopic: string;
  readonly logger: Logger;
}

export function createDeadLetter({ producer, topic, sourceTopic, logger }: DeadLetterOptions): DeadLetter {
  // Rejections are found while a batch is parsed or right after (a decision for an unknown
  // version): the current and the previous batch are enough to find the raw record.
  let current = new Map<number, RawRecord>();
  let previous = new Map<number, RawRecord>();
  let connected: Promise<void> | null = null;
  let pending: Promise<unknown> = Promise.resolve();
  let sent = 0;

  const copy = async (reject: RejectedRecord) => {
    const raw = reject.offset === null ? undefined : (current.get(reject.offset) ?? previous.get(reject.offset));
    connected ??= producer.connect();
    await connected;
    const headers: Record<string, string | Buffer> = {};
    for (const [name, value] of Object.entries(raw?.headers ?? {})) if (value !== undefined) headers[name] = value;
    headers[DEAD_LETTER_HEADERS.reason] = reject.reason;
    headers[DEAD_LETTER_HEADERS.topic] = sourceTopic;
    if (reject.offset !== null) headers[DEAD_LETTER_HEADERS.offset] = String(reject.offset);
    await producer.send({ topic, messages: [{ value: raw?.value ?? null, headers }] });
    sent += 1;
  };

  return {
    remembering: (parse) => (records) => {
      previous = current;
      current = new Map();
      for (const record of records) {
        const offset = parseOffset(record.offset);
        if (offset !== null) current.set(offset, record);
      }
      return parse(records);
    },
    onRejected: (reject) => {
      pending = pending.then(() =>
        copy(reject).catch((error: unknown) =>
          logger.error(`could not copy the malformed record at offset ${reject.offset ?? '?'} to dead-letter topic ${topic}: ${(error as Error).message}`),
        ),
      );
    },
    get sent() {
      return sent;
    },
    async close() {
      await pending;
      if (connected) await producer.disconnect().catch(() => {});
    },
  };
}
