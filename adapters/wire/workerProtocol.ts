/**
 * The messages between the main thread and a parse worker (`parseWorker.ts`). A batch goes out as
 * one byte buffer holding every value back to back plus a table of numbers; it comes back as a
 * table of numbers that says, per record, what it is and where in those same bytes its statemap
 * lies, so the main thread builds no more than the messages and one small string per statemap.
 * All three buffers are transferred (never copied) both ways and reused for later batches: on
 * some hosts (virtual machines that hand freed memory back) touching fresh memory is far more
 * expensive than parsing, so nothing large is allocated per batch, on either side.
 */
import { CANDIDATE, DECISION, NO_STATEMAP, ROW_ABORTED, ROW_CANDIDATE, ROW_COMMITTED, ROW_STRIDE } from './fastPath.js';

/** Numbers per record in the request's `meta`: type, offset, value start, value end (bytes). */
export const META_STRIDE = 4;
/** Request type: the worker skips the record, the main thread parses it itself. */
export const IN_LOCAL = 0;
export const IN_CANDIDATE = CANDIDATE;
export const IN_DECISION = DECISION;

/**
 * Numbers per record in the response's `nums`: the fast path's answer row (`fastPath.ts`:
 * candidate, committed or aborted decision), or
 * - reject: code (the reason is the next of `reasons`);
 * - local: code (the main thread parses the record with `parseRecord`).
 */
export const RESULT_STRIDE = ROW_STRIDE;
export const OUT_LOCAL = 0;
export const OUT_CANDIDATE = ROW_CANDIDATE;
export const OUT_COMMITTED = ROW_COMMITTED;
export const OUT_ABORTED = ROW_ABORTED;
export const OUT_REJECT = 4;
export { NO_STATEMAP };

export interface ParseRequest {
  readonly id: number;
  readonly count: number;
  /** Every value sent to the worker, as UTF-8, back to back; the first `length` bytes are used. */
  readonly bytes: ArrayBuffer;
  readonly length: number;
  /** Float64, `META_STRIDE` per record (at least `count` records long). */
  readonly meta: ArrayBuffer;
  /** Float64, `RESULT_STRIDE` per record, for the answer (at least `count` records long). */
  readonly nums: ArrayBuffer;
}

export interface ParseResponse {
  readonly id: number;
  /** The request's buffers, handed back: `bytes` unchanged, `nums` holding the answer. */
  readonly bytes: ArrayBuffer;
  readonly meta: ArrayBuffer;
  readonly nums: ArrayBuffer;
  readonly reasons: readonly string[];
}
