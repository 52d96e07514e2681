/**
 * The benchmark's stand-in for Kafka: a worker thread generates the certification log and hands
 * it over as one transferred buffer per chunk, which the main thread slices into record values
 * (as kafkajs slices a fetch response). Generating the records is the producer's work, not the
 * replicator's, so it stays off the thread being measured; and since the worker parser shares the
 * second core with it, the log starts at version 20 000 000 (`FIRST_VERSION`), where every number
 * has eight digits and syntheticLog makes each transaction by copying a template and patching its
 * digits (well under a microsecond per transaction).
 */
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import type { RawRecord } from '../../machines/domain.js';
import { recordsOf, syntheticLog } from './syntheticLog.js';

interface Chunk {
  readonly buffer: ArrayBuffer;
  /** Per record: offset, start, end, type (1 candidate, 2 decision). */
  readonly table: Float64Array;
  readonly lastCandidate: number;
}

/** The first candidate's version; a replicator of this log starts from snapshot `FIRST_VERSION - 1`. */
export const FIRST_VERSION = 20_000_000;

if (!isMainThread && parentPort) {
  const port = parentPort;
  const log = syntheticLog(undefined, undefined, undefined, { firstVersion: FIRST_VERSION });
  port.on('message', (count: number) => {
    const { bytes, table } = log.nextBytes(count);
    // The buffer is this chunk's alone (never the shared pool), so it can be transferred whole.
    const chunk: Chunk = { buffer: bytes.buffer as ArrayBuffer, table, lastCandidate: log.lastCandidate };
    port.postMessage(chunk, [chunk.buffer, table.buffer as ArrayBuffer]);
  });
}

export interface LogProducer {
  /**
   * The records of the next `count` transactions. The worker makes them in blocks of at least
   * `BLOCK` transactions, the next block prepared while this one is handed out: one message per
   * block rather than per call (waking a thread costs the main thread more than the records it
   * slices, when the window asks for only a few hundred transactions at a time).
   */
  next(count: number): Promise<{ records: RawRecord[]; lastCandidate: number }>;
  close(): Promise<void>;
}

/** Transactions per block the worker makes (about 4.6 MB, as a large Kafka fetch response). */
const BLOCK = 5_000;

export function startLogProducer(): LogProducer {
  const worker = new Worker(new URL(import.meta.url));
  const pending: Array<(chunk: Chunk) => void> = [];
  worker.on('message', (chunk: Chunk) => pending.shift()?.(chunk));
  const request = (count: number) => {
    const promise = new Promise<Chunk>((resolve) => pending.push(resolve));
    worker.postMessage(count);
    return promise;
  };
  let prefetched: Promise<Chunk> | null = null;
  // The current block's records, `taken` of them handed out; its table's candidate versions.
  let records: RawRecord[] = [];
  let table: Float64Array = new Float64Array(0);
  let taken = 0;
  return {
    async next(count) {
      const out: RawRecord[] = [];
      let lastCandidate = 0;
      // Two records per transaction: a candidate and its decision.
      while (out.length < count * 2) {
        if (taken === records.length) {
          const chunk = await (prefetched ?? request(Math.max(BLOCK, count)));
          prefetched = request(Math.max(BLOCK, count));
          table = chunk.table;
          records = recordsOf(Buffer.from(chunk.buffer), table);
          taken = 0;
        }
        const end = Math.min(records.length, taken + (count * 2 - out.length));
        for (let i = taken; i < end; i++) out.push(records[i]!);
        taken = end;
        lastCandidate = table[(end - 2) * 4]!;
      }
      return { records: out, lastCandidate };
    },
    async close() {
      await worker.terminate();
    },
  };
}
