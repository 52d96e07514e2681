/**
 * The messages between the main thread and a parse worker (`parseWorker.ts`). A batch goes out as
 * one byte buffer holding every value back to back plus a table of numbers; it comes back as a
 * table of numbers that says, per record, what it is and where in those same bytes its statemap
 * lies, so the main thread builds no more than the messages and one small string per statemap.
 * All three buffers are transferred (never copied) both ways and reused for later batches: on
 * some hosts (virtual machines that hand freed memory back) touching fresh memory is far more
 * expensive than parsing, so nothing large is allocated per batch, on either side.
 */

/** Numbers per record in the request's `meta`: type, offset, value start, value end (bytes). */
export const META_STRIDE = 4;
/** Request type: the worker skips the record, the main thread parses it itself. */
export const IN_LOCAL = 0;
export const IN_CANDIDATE = 1;
export const IN_DECISION = 2;

/**
 * Numbers per record in the response's `nums`:
 * - candidate: code, statemap start and end in the request's bytes (`NO_STATEMAP` when it has none
 *   or an empty one);
 * - committed or aborted decision: code, version, safepoint, duplicate version (`NaN` for null);
 * - reject: code (the reason is the next of `reasons`);
 * - local: code (the main thread parses the record with `parseRecord`).
 */
export const RESULT_STRIDE = 4;
export const OUT_LOCAL = 0;
export const OUT_CANDIDATE = 1;
export const OUT_COMMITTED = 2;
export const OUT_ABORTED = 3;
export const OUT_REJECT = 4;
export const NO_STATEMAP = -1;

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
