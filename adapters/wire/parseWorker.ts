/**
 * The parse worker behind `createWorkerParser`: reads each value of a packed batch (see
 * `workerProtocol.ts`) with the field scanner, which checks every byte against the JSON grammar
 * but builds nothing, and answers with numbers only: a decision's versions, or where a
 * candidate's statemap lies in the bytes it was sent.
 *
 * The fast path answers only for records it is certain `parseRecord` accepts, and with the same
 * values. Everything else is parsed here with `JSON.parse` and `validateBody`: a rejection comes
 * back with `parseRecord`'s reason; a record that turns out valid after all (escaped keys, a
 * duplicate key in a statemap entry, nesting too deep to scan) goes back to the main thread to
 * parse with `parseRecord` itself.
 */
import { parentPort } from 'node:worker_threads';
import { newSpans, numberAt, scanSpans, singleKeyEntries, SPAN } from './fieldScanner.js';
import { invalidJsonReason, validateBody, type RecordType } from './parseRecord.js';
import {
  IN_CANDIDATE,
  IN_DECISION,
  META_STRIDE,
  NO_STATEMAP,
  OUT_ABORTED,
  OUT_CANDIDATE,
  OUT_COMMITTED,
  OUT_LOCAL,
  OUT_REJECT,
  RESULT_STRIDE,
  type ParseRequest,
  type ParseResponse,
} from './workerProtocol.js';

if (!parentPort) throw new Error('parseWorker.js must be started as a worker thread (see createWorkerParser)');
const port = parentPort;

const QUOTE = 0x22;
const OPEN_BRACKET = 0x5b;
const NULL_START = 0x6e;
const COMMITTED = Buffer.from('"committed"', 'latin1');
const ABORTED = Buffer.from('"aborted"', 'latin1');
const spans = newSpans();

/** Nothing could be answered on the fast path. */
const UNSURE = -2;
/** A wanted key the value had no entry for (or null). */
const ABSENT = -1;

function spanEquals(b: Buffer, start: number, end: number, literal: Buffer): boolean {
  if (end - start !== literal.length) return false;
  for (let i = 0; i < literal.length; i++) if (b[start + i] !== literal[i]) return false;
  return true;
}

/** The version in the span at `key` (parseRecord's `version`), ABSENT for a missing or null one (when `optional`), or UNSURE. */
function versionAt(b: Buffer, key: number, optional: boolean): number {
  const start = spans[key]!;
  const end = spans[key + 1]!;
  if (end < 0 || b[start] === NULL_START) return optional ? ABSENT : UNSURE;
  if (b[start] === QUOTE || b[start] === OPEN_BRACKET || b[start] === 0x7b || b[start] === 0x74 || b[start] === 0x66) return UNSURE;
  const value = numberAt(b, start, end);
  return Number.isSafeInteger(value) && value >= 0 ? value : UNSURE;
}

/** Fills the answer for a record the scanner read; false when the fast path is not certain. */
function answerFast(b: Buffer, kind: number, offset: number, nums: Float64Array, r: number): boolean {
  const xidStart = spans[SPAN.xid]!;
  if (spans[SPAN.xid + 1]! < 0 || b[xidStart] !== QUOTE) return false;
  if (kind === IN_CANDIDATE) {
    const start = spans[SPAN.statemap]!;
    const end = spans[SPAN.statemap + 1]!;
    let entries = 0;
    if (end >= 0 && b[start] !== NULL_START) {
      if (b[start] !== OPEN_BRACKET) return false;
      entries = singleKeyEntries(b, start, end);
      if (entries < 0) return false;
    }
    nums[r] = OUT_CANDIDATE;
    nums[r + 1] = entries > 0 ? start : NO_STATEMAP;
    nums[r + 2] = entries > 0 ? end : NO_STATEMAP;
    return true;
  }
  const decisionStart = spans[SPAN.decision]!;
  const decisionEnd = spans[SPAN.decision + 1]!;
  const committed = decisionEnd >= 0 && spanEquals(b, decisionStart, decisionEnd, COMMITTED);
  if (!committed && !(decisionEnd >= 0 && spanEquals(b, decisionStart, decisionEnd, ABORTED))) return false;
  const version = versionAt(b, SPAN.version, false);
  if (version < 0 || version >= offset) return false;
  const duplicate = versionAt(b, SPAN.duplicateVersion, true);
  if (duplicate === UNSURE) return false;
  let safepoint = NaN;
  if (committed) {
    // As parseRecord: a missing safepoint, or one not below the version, waits for every earlier version.
    const given = versionAt(b, SPAN.safepoint, true);
    if (given === UNSURE) return false;
    safepoint = given === ABSENT || given >= version ? version - 1 : given;
  }
  nums[r] = committed ? OUT_COMMITTED : OUT_ABORTED;
  nums[r + 1] = version;
  nums[r + 2] = safepoint;
  nums[r + 3] = duplicate === ABSENT ? NaN : duplicate;
  return true;
}

function parse(request: ParseRequest): ParseResponse {
  const { count, length } = request;
  const meta = new Float64Array(request.meta);
  const nums = new Float64Array(request.nums);
  const bytes = Buffer.from(request.bytes, 0, length);
  const reasons: string[] = [];
  for (let i = 0; i < count; i++) {
    const m = i * META_STRIDE;
    const r = i * RESULT_STRIDE;
    const kind = meta[m]!;
    nums[r] = OUT_LOCAL;
    if (kind !== IN_CANDIDATE && kind !== IN_DECISION) continue;
    const offset = meta[m + 1]!;
    // Small integers (Smis) for the scanner's loops: indexes read from a Float64Array are doubles,
    // and every byte read through a double index costs a conversion.
    const start = meta[m + 2]! | 0;
    const end = meta[m + 3]! | 0;
    if (scanSpans(bytes, start, end, spans) && answerFast(bytes, kind, offset, nums, r)) continue;
    const type: RecordType = kind === IN_CANDIDATE ? 'Candidate' : 'Decision';
    try {
      let body: unknown;
      try {
        // Decoded on its own, exactly as `parseRecord` decodes a value.
        body = JSON.parse(bytes.toString('utf8', start, end));
      } catch (error) {
        nums[r] = OUT_REJECT;
        reasons.push(invalidJsonReason(type, error));
        continue;
      }
      const message = validateBody(type, body, offset);
      if (typeof message === 'string') {
        nums[r] = OUT_REJECT;
        reasons.push(message);
      }
      // A valid message the fast path could not vouch for: the main thread parses it (OUT_LOCAL).
    } catch {
      // Too deep to parse, or anything else unforeseen: the main thread parses this record itself
      // and so gets exactly `parseRecord`'s answer (or exception).
      nums[r] = OUT_LOCAL;
    }
  }
  return { id: request.id, bytes: request.bytes, meta: request.meta, nums: request.nums, reasons };
}

port.on('message', (request: ParseRequest) => {
  const response = parse(request);
  port.postMessage(response, [response.bytes, response.meta, response.nums]);
});
