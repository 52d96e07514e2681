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
import { BYTES_PER_TRANSACTION, recordsOf, syntheticLog } from './syntheticLog.js';

interface Chunk {
  readonly buffer: ArrayBuffer;
  /** Per record: offset, start, end, type (1 candidate, 2 decision). */
  readonly table: Float64Array;
  readonly lastCandidate: number;
}

interface Request {
  readonly count: number;
  /** Buffers of earlier blocks the replicator is done with, to write later blocks into. */
  readonly spares: readonly ArrayBuffer[];
}

/** The first candidate's version; a replicator of this log starts from snapshot `FIRST_VERSION - 1`. */
export const FIRST_VERSION = 20_000_000;
/** Spare block buffers the worker keeps. */
const SPARES = 4;

if (!isMainThread && parentPort) {
  const port = parentPort;
  const log = syntheticLog(undefined, undefined, undefined, { firstVersion: FIRST_VERSION });
  const spares: ArrayBuffer[] = [];
  port.on('message', ({ count, spares: returned }: Request) => {
    for (const spare of returned) if (spares.length < SPARES) spares.push(spare);
    let into: Buffer | undefined;
    for (let i = 0; i < spares.length && into === undefined; i++) {
      if (spares[i]!.byteLength >= count * BYTES_PER_TRANSACTION) into = Buffer.from(spares.splice(i, 1)[0]!);
    }
    const { bytes, table } = log.nextBytes(count, into);
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
  /**
   * Says that the replicator has read every record up to the candidate of `version` (parsed it,
   * or copied it for its parse worker), so the blocks that end there are done with and their
   * buffers go back to the worker for later blocks (writing into fresh memory cost the worker
   * more than making the records).
   */
  read(version: number): void;
  close(): Promise<void>;
}

/** Transactions per block the worker makes (about 4.6 MB, as a large Kafka fetch response). */
const BLOCK = 5_000;

export function startLogProducer(): LogProducer {
  const worker = new Worker(new URL(import.meta.url));
  const pending: Array<(chunk: Chunk) => void> = [];
  worker.on('message', (chunk: Chunk) => pending.shift()?.(chunk));
  // Blocks handed out, oldest first, with their last candidate's version.
  const outstanding: Array<{ readonly buffer: ArrayBuffer; readonly lastCandidate: number }> = [];
  let readUpTo = 0;
  const request = (count: number) => {
    const promise = new Promise<Chunk>((resolve) => pending.push(resolve));
    const spares: ArrayBuffer[] = [];
    // At most what the worker keeps: the rest are left to this thread's collector (a worker that
    // allocates next to nothing on its heap seldom collects, and would hold them).
    while (outstanding.length > 0 && outstanding[0]!.lastCandidate <= readUpTo) {
      const done = outstanding.shift()!.buffer;
      if (spares.length < SPARES) spares.push(done);
    }
    const message: Request = { count, spares };
    worker.postMessage(message, spares);
    return promise;
  };
  let prefetched: Promise<Chunk> | null = null;
  // The current block (`taken` of its records handed out). Its records are made as they are
  // handed out, not all at once: a block's worth kept alive would survive young-generation
  // collections and be copied and promoted, which is not the replicator's cost.
  let bytes: Buffer = Buffer.alloc(0);
  let table: Float64Array = new Float64Array(0);
  let recordCount = 0;
  let taken = 0;
  return {
    async next(count) {
      const out: RawRecord[] = [];
      let lastCandidate = 0;
      // Two records per transaction: a candidate and its decision.
      while (out.length < count * 2) {
        if (taken === recordCount) {
          const chunk = await (prefetched ?? request(Math.max(BLOCK, count)));
          prefetched = request(Math.max(BLOCK, count));
          // Its bytes only (the table is dropped once the block is handed out).
          outstanding.push({ buffer: chunk.buffer, lastCandidate: chunk.lastCandidate });
          table = chunk.table;
          bytes = Buffer.from(chunk.buffer);
          recordCount = table.length / 4;
          taken = 0;
        }
        const end = Math.min(recordCount, taken + (count * 2 - out.length));
        recordsOf(bytes, table, out, taken, end);
        taken = end;
        lastCandidate = table[(end - 2) * 4]!;
      }
      return { records: out, lastCandidate };
    },
    read(version) {
      if (version > readUpTo) readUpTo = version;
    },
    async close() {
      await worker.terminate();
    },
  };
}
