/**
 * A `BatchParser` that parses on worker threads, with exactly `parseBatch`'s results: the main
 * thread only packs each batch (its values copied back to back into one buffer, plus a table of
 * offsets and types) and builds the messages from the worker's answer, which is numbers only:
 * candidates' statemaps, checked by the worker, are read from the batch's bytes a chunk of
 * statemaps at a time (statemapChunks.ts).
 *
 * Records the worker cannot take or answer for exactly (a bad offset or header, no value, a string
 * value with lone surrogates, anything its scanner is unsure of and JSON.parse accepts) are parsed
 * on the main thread with `parseRecord`, so every result is `parseRecord`'s.
 *
 * Results resolve in the order the batches were submitted. Idle workers do not keep the process
 * alive. If a worker dies, its pending batches reject with the reason and the next batch starts a
 * new worker. `close()` terminates the workers and rejects whatever is still pending.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { RawRecord, Version } from '../../machines/domain.js';
import type { CertificationMessage, ParsedBatch, RejectedRecord } from '../../machines/messages.js';
import { decisionOfRow } from './fastPath.js';
import { collectParseResult, headerIs, parseOffset, parseRecord, sharedOrigin } from './parseRecord.js';
import { addStatemap, beginStatemaps, finishStatemaps, STATEMAP_PENDING, type PendingCandidate } from './statemapChunks.js';
import {
  IN_CANDIDATE,
  IN_DECISION,
  IN_LOCAL,
  META_STRIDE,
  NO_STATEMAP,
  OUT_CANDIDATE,
  OUT_LOCAL,
  OUT_REJECT,
  RESULT_STRIDE,
  type ParseRequest,
  type ParseResponse,
} from './workerProtocol.js';

export interface WorkerParserOptions {
  /** Worker threads to spread batches over (default 1: the main thread keeps the other core). */
  readonly workers?: number;
  /** Passed to each `Worker` (for example to cap its heap). */
  readonly resourceLimits?: ResourceLimits;
  /** Leave statemaps deferred, as `parsePipelineBatch` does (the replicator's parser), instead of built, as `parseBatch` does. */
  readonly deferStatemaps?: boolean;
}

export interface WorkerParser {
  /** Parses one batch off the main thread; resolves with what `parseBatch(records)` (or `parsePipelineBatch`) returns. */
  readonly parse: (records: readonly RawRecord[]) => Promise<ParsedBatch>;
  /** Terminates the workers; batches still pending reject. Later `parse` calls reject. */
  close(): Promise<void>;
}

interface Slot {
  readonly worker: Worker;
  readonly index: number;
  inFlight: number;
  error: unknown;
  closing: boolean;
}

interface Pending {
  readonly id: number;
  readonly records: readonly RawRecord[];
  slot: Slot | null;
  settled: boolean;
  result: ParsedBatch | null;
  error: unknown;
  readonly resolve: (batch: ParsedBatch) => void;
  readonly reject: (error: unknown) => void;
}

const WORKER_URL = new URL('./parseWorker.js', import.meta.url);
const CANDIDATE = 'Candidate';
const DECISION = 'Decision';
const MIN_BYTES = 64 * 1024;
const MIN_RECORDS = 512;

const isWellFormed = (String.prototype as unknown as { isWellFormed?: () => boolean }).isWellFormed;
/** False for strings with lone surrogates, which do not survive a trip through UTF-8. */
function wellFormed(text: string): boolean {
  if (isWellFormed) return isWellFormed.call(text);
  return !/[\uD800-\uDFFF]/.test(text) || Buffer.from(text, 'utf8').toString('utf8') === text;
}

/**
 * A worker inherits the process's flags, V8's (`--max-old-space-size`, `--expose-gc`) quietly
 * skipped, unless they are listed explicitly, when those are refused. Only `--input-type` (from
 * `node --input-type=module -e`) must go, since it would stop this worker's module loading, so the
 * list is only spelled out then, without the flags a worker may not take.
 */
function workerExecArgv(): { execArgv?: string[] } {
  if (!process.execArgv.some((flag) => flag.startsWith('--input-type'))) return {};
  return { execArgv: process.execArgv.filter((flag) => !flag.startsWith('--input-type') && !V8_ONLY_FLAG.test(flag)) };
}
const V8_ONLY_FLAG = /^--(max-old-space-size|max-semi-space-size|max-young-generation-size|stack-size|expose[-_]gc)\b/;

function fail(message: string, cause?: unknown): Error {
  return cause === undefined ? new Error(message) : new Error(message, { cause });
}

export function createWorkerParser(options: WorkerParserOptions = {}): WorkerParser {
  const size = options.workers ?? 1;
  if (!Number.isSafeInteger(size) || size < 1) throw new TypeError(`createWorkerParser: "workers" must be a positive integer, got ${String(options.workers)}`);
  const defer = options.deferStatemaps === true;
  const slots: (Slot | null)[] = new Array<Slot | null>(size).fill(null);
  // Pending batches in submission order; the head settles first.
  const queue: Pending[] = [];
  let head = 0;
  const byId = new Map<number, Pending>();
  // Buffers handed back by the workers, kept for later batches (see workerProtocol.ts).
  const spareLimit = 2 + 2 * size;
  const spareBytes: ArrayBuffer[] = [];
  const spareMeta: ArrayBuffer[] = [];
  const spareNums: ArrayBuffer[] = [];
  const keep = (pool: ArrayBuffer[], buffer: ArrayBuffer) => {
    if (pool.length < spareLimit) pool.push(buffer);
  };
  let nextId = 1;
  let closed = false;

  const flush = () => {
    while (head < queue.length && queue[head]!.settled) {
      const entry = queue[head]!;
      queue[head++] = undefined as unknown as Pending;
      if (entry.result !== null) entry.resolve(entry.result);
      else entry.reject(entry.error);
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
  };

  const settle = (entry: Pending, result: ParsedBatch | null, error: unknown) => {
    if (entry.settled) return;
    entry.settled = true;
    entry.result = result;
    entry.error = error;
    byId.delete(entry.id);
    if (entry.slot !== null) {
      const slot = entry.slot;
      entry.slot = null;
      if (--slot.inFlight === 0) slot.worker.unref();
    }
  };

  const failSlot = (slot: Slot, error: Error) => {
    if (slots[slot.index] === slot) slots[slot.index] = null;
    for (const entry of byId.values()) if (entry.slot === slot) settle(entry, null, error);
    flush();
  };

  const spawn = (index: number): Slot => {
    const worker = new Worker(WORKER_URL, {
      ...workerExecArgv(),
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    const slot: Slot = { worker, index, inFlight: 0, error: null, closing: false };
    worker.unref();
    worker.on('message', (response: ParseResponse) => {
      const entry = byId.get(response.id);
      let result: ParsedBatch | null = null;
      let error: unknown = null;
      if (entry) {
        try {
          result = rebuild(entry.records, response, defer);
        } catch (thrown) {
          error = thrown;
        }
      }
      keep(spareBytes, response.bytes);
      keep(spareMeta, response.meta);
      keep(spareNums, response.nums);
      if (!entry) return;
      settle(entry, result, error);
      flush();
    });
    worker.on('messageerror', (error) => {
      slot.error = error;
      void worker.terminate();
    });
    worker.on('error', (error) => {
      slot.error = error;
    });
    worker.on('exit', (code) => {
      if (slot.closing) return;
      const why = slot.error instanceof Error ? slot.error.message : slot.error !== null ? String(slot.error) : `exit code ${code}`;
      failSlot(slot, fail(`worker parser: parse worker ${index} stopped (${why}); the batches it was parsing are lost`, slot.error ?? undefined));
    });
    slots[index] = slot;
    return slot;
  };

  const pick = (): Slot => {
    let best: Slot | null = null;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] ?? spawn(i);
      if (best === null || slot.inFlight < best.inFlight) best = slot;
      if (slot.inFlight === 0) break;
    }
    return best!;
  };

  /** A spare buffer of at least `bytes` bytes, or a new one with some room to grow. */
  const acquire = (pool: ArrayBuffer[], bytes: number, minimum: number): ArrayBuffer => {
    for (let i = 0; i < pool.length; i++) {
      const buffer = pool[i]!;
      if (buffer.byteLength >= bytes) {
        pool[i] = pool[pool.length - 1]!;
        pool.pop();
        return buffer;
      }
    }
    // A multiple of 8, so that it can back a Float64Array.
    return Buffer.allocUnsafeSlow(Math.max(minimum, Math.ceil((bytes * 1.25) / 8) * 8)).buffer as ArrayBuffer;
  };

  const parse = (records: readonly RawRecord[]): Promise<ParsedBatch> => {
    if (closed) return Promise.reject(fail('worker parser: parse() called after close()'));
    const count = records.length;
    const metaBuffer = acquire(spareMeta, count * META_STRIDE * 8, MIN_RECORDS * META_STRIDE * 8);
    const meta = new Float64Array(metaBuffer);
    let length = 0;
    let remote = 0;
    try {
      // Pass 1: what goes to the worker and where its bytes will be.
      for (let i = 0; i < count; i++) {
        const record = records[i]!;
        const m = i * META_STRIDE;
        const offset = parseOffset(record.offset);
        let bytes = -1;
        let type = IN_LOCAL;
        if (offset !== null) {
          // In parseRecord's order: the header is only looked at once the offset is good.
          const header = record.headers.messageType;
          type = headerIs(header, CANDIDATE) ? IN_CANDIDATE : headerIs(header, DECISION) ? IN_DECISION : IN_LOCAL;
        }
        const value = type === IN_LOCAL ? null : record.value;
        if (type !== IN_LOCAL) {
          if (Buffer.isBuffer(value)) bytes = value.length;
          else if (typeof value === 'string' && wellFormed(value)) bytes = Buffer.byteLength(value, 'utf8');
        }
        if (bytes < 0) {
          meta[m] = IN_LOCAL;
          continue;
        }
        meta[m] = type;
        meta[m + 1] = offset!;
        meta[m + 2] = length;
        length += bytes;
        meta[m + 3] = length;
        remote += 1;
      }
    } catch (error) {
      keep(spareMeta, metaBuffer);
      return Promise.reject(error);
    }
    const entry: Pending = { id: nextId++, records: records.slice(), slot: null, settled: false, result: null, error: null, resolve: null!, reject: null! };
    const promise = new Promise<ParsedBatch>((resolve, reject) => {
      (entry as { resolve: Pending['resolve'] }).resolve = resolve;
      (entry as { reject: Pending['reject'] }).reject = reject;
    });
    queue.push(entry);
    if (remote === 0) {
      // Nothing for a worker (an empty batch, or only records the main thread parses anyway).
      keep(spareMeta, metaBuffer);
      let result: ParsedBatch | null = null;
      let error: unknown = null;
      try {
        result = rebuild(entry.records, null, defer);
      } catch (thrown) {
        error = thrown;
      }
      settle(entry, result, error);
      flush();
      return promise;
    }
    // Pass 2: copy the values into one buffer and hand it over without copying it again. Values
    // that lie back to back in one source buffer (as a fetch response is sliced) go in one copy.
    const bytes = acquire(spareBytes, length, MIN_BYTES);
    const target = Buffer.from(bytes, 0, length);
    let run: Buffer | null = null;
    let runStart = 0;
    let runEnd = 0;
    let runAt = 0;
    const copyRun = () => {
      if (run !== null) target.set(new Uint8Array(run.buffer, runStart, runEnd - runStart), runAt);
      run = null;
    };
    for (let i = 0; i < count; i++) {
      const m = i * META_STRIDE;
      if (meta[m] === IN_LOCAL) continue;
      const value = records[i]!.value!;
      if (typeof value === 'string') {
        copyRun();
        target.write(value, meta[m + 2]!, 'utf8');
      } else if (run !== null && value.buffer === run.buffer && value.byteOffset === runEnd && meta[m + 2] === runAt + (runEnd - runStart)) {
        runEnd += value.length;
      } else {
        copyRun();
        run = value;
        runStart = value.byteOffset;
        runEnd = value.byteOffset + value.length;
        runAt = meta[m + 2]!;
      }
    }
    copyRun();
    const nums = acquire(spareNums, count * RESULT_STRIDE * 8, MIN_RECORDS * RESULT_STRIDE * 8);
    try {
      const slot = pick();
      entry.slot = slot;
      byId.set(entry.id, entry);
      if (slot.inFlight++ === 0) slot.worker.ref();
      const request: ParseRequest = { id: entry.id, count, bytes, length, meta: metaBuffer, nums };
      slot.worker.postMessage(request, [bytes, metaBuffer, nums]);
    } catch (error) {
      // A worker that cannot even be started: this batch fails, later ones try again.
      settle(entry, null, error);
      flush();
    }
    return promise;
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    const error = fail('worker parser: closed before the batch was parsed');
    const stopping: Promise<number>[] = [];
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      if (!slot) continue;
      slot.closing = true;
      slots[i] = null;
      // Keep the loop alive until the worker has really stopped, or `await close()` never returns.
      slot.worker.ref();
      stopping.push(slot.worker.terminate());
    }
    for (const entry of byId.values()) {
      entry.slot = null;
      settle(entry, null, error);
    }
    flush();
    spareBytes.length = spareMeta.length = spareNums.length = 0;
    await Promise.all(stopping);
  };

  return { parse, close };
}

/** Builds `parseBatch(records)`'s result (`parsePipelineBatch`'s when deferring) from a worker's answer (`null`: every record is local). */
function rebuild(records: readonly RawRecord[], response: ParseResponse | null, deferStatemaps: boolean): ParsedBatch {
  const messages: CertificationMessage[] = [];
  const rejects: RejectedRecord[] = [];
  let lastOffset: Version | null = null;
  const nums = response === null ? null : new Float64Array(response.nums);
  const meta = response === null ? null : new Float64Array(response.meta);
  const bytes = response === null ? null : new Uint8Array(response.bytes);
  const reasons = response?.reasons ?? [];
  let reason = 0;
  beginStatemaps(deferStatemaps);
  for (let i = 0; i < records.length; i++) {
    const r = i * RESULT_STRIDE;
    const code = nums === null ? OUT_LOCAL : nums[r]!;
    if (code === OUT_LOCAL) {
      lastOffset = collectParseResult(parseRecord(records[i]!), messages, rejects, lastOffset);
      continue;
    }
    const offset = meta![i * META_STRIDE + 1]!;
    lastOffset = Math.max(lastOffset ?? 0, offset);
    if (code === OUT_REJECT) {
      rejects.push({ offset, origin: records[i]!.origin ?? null, reason: reasons[reason++]! });
    } else if (code === OUT_CANDIDATE) {
      const start = nums![r + 1]!;
      if (start === NO_STATEMAP) {
        messages.push({ kind: 'candidate', version: offset, statemap: [] });
        continue;
      }
      const candidate: PendingCandidate = { kind: 'candidate', version: offset, statemap: STATEMAP_PENDING };
      messages.push(candidate);
      addStatemap(candidate, bytes!, start, nums![r + 2]!);
    } else {
      messages.push(decisionOfRow(nums!, r, offset));
    }
  }
  finishStatemaps();
  return { messages, rejects, lastOffset, origin: sharedOrigin(records) };
}
