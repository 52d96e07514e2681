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
  /** The records of the next `count` transactions; the following chunk is prepared meanwhile. */
  next(count: number): Promise<{ records: RawRecord[]; lastCandidate: number }>;
  close(): Promise<void>;
}

export function startLogProducer(): LogProducer {
  const worker = new Worker(new URL(import.meta.url));
  const pending: Array<(chunk: Chunk) => void> = [];
  worker.on('message', (chunk: Chunk) => pending.shift()?.(chunk));
  const request = (count: number) => {
    const promise = new Promise<Chunk>((resolve) => pending.push(resolve));
    worker.postMessage(count);
    return promise;
  };
  let prefetched: { count: number; chunk: Promise<Chunk> } | null = null;
  return {
    async next(count) {
      const chunk = await (prefetched && prefetched.count === count ? prefetched.chunk : request(count));
      prefetched = { count, chunk: request(count) };
      return { records: recordsOf(Buffer.from(chunk.buffer), chunk.table), lastCandidate: chunk.lastCandidate };
    },
    async close() {
      await worker.terminate();
    },
  };
}
