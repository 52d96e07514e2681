/**
 * The fast path of parsing, shared by `parseRecord` and the parse worker: the field scanner
 * checks a record's bytes against the JSON grammar and notes where the wanted values lie; this
 * module then decides, from those bytes alone, whether `validateBody` would accept the record,
 * and with which values, without building anything but numbers.
 *
 * It answers only when it is certain: a record it declines (any rule broken, an escaped key, a
 * statemap entry with two keys, anything the scanner is unsure of) goes to `JSON.parse` and
 * `validateBody`, which give the message or the exact reason. So the fast path can only ever
 * agree with them; the property tests in test/wire hold it to that.
 */
import type { Version } from '../../machines/domain.js';
import type { DecisionMessage } from '../../machines/messages.js';
import { newSpans, numberAt, scanSpans, SPAN, SPAN_STATEMAP_ENTRIES } from './fieldScanner.js';

/** Numbers per answer row: code, then the code's fields. */
export const ROW_STRIDE = 4;
/** Candidate: statemap start and end in the bytes (`NO_STATEMAP` when it has none or an empty one). */
export const ROW_CANDIDATE = 1;
/** Committed or aborted decision: version, safepoint, duplicate version (`NaN` for null). */
export const ROW_COMMITTED = 2;
export const ROW_ABORTED = 3;
export const NO_STATEMAP = -1;
/** What `scanMessage` is asked to read. */
export const CANDIDATE = 1;
export const DECISION = 2;

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

function spanEquals(b: Uint8Array, start: number, end: number, literal: Buffer): boolean {
  if (end - start !== literal.length) return false;
  for (let i = 0; i < literal.length; i++) if (b[start + i] !== literal[i]) return false;
  return true;
}

/** The version at `key` (parseRecord's `version` rule), ABSENT for a missing or null one (when `optional`), or UNSURE. */
function versionAt(b: Buffer, key: number, optional: boolean): number {
  const start = spans[key]!;
  const end = spans[key + 1]!;
  if (end < 0 || b[start] === NULL_START) return optional ? ABSENT : UNSURE;
  const c = b[start]!;
  if (c !== 0x2d && (c < 0x30 || c > 0x39)) return UNSURE;
  const value = numberAt(b, start, end);
  return Number.isSafeInteger(value) && value >= 0 ? value : UNSURE;
}

/**
 * Reads the record at `start..end` of `b` (a candidate or a decision at `offset`) into
 * `row[at..at + ROW_STRIDE)`; false when the fast path is not certain `validateBody` accepts it.
 */
export function scanMessage(b: Buffer, start: number, end: number, kind: number, offset: number, row: Float64Array, at: number): boolean {
  if (!scanSpans(b, start, end, spans)) return false;
  // The xid is required and must be a string; nothing reads its value.
  if (spans[SPAN.xid + 1]! < 0 || b[spans[SPAN.xid]!] !== QUOTE) return false;
  if (kind === CANDIDATE) {
    const statemapStart = spans[SPAN.statemap]!;
    const statemapEnd = spans[SPAN.statemap + 1]!;
    let entries = 0;
    if (statemapEnd >= 0 && b[statemapStart] !== NULL_START) {
      if (b[statemapStart] !== OPEN_BRACKET) return false;
      entries = spans[SPAN_STATEMAP_ENTRIES]!;
      if (entries < 0) return false;
    }
    row[at] = ROW_CANDIDATE;
    row[at + 1] = entries > 0 ? statemapStart : NO_STATEMAP;
    row[at + 2] = entries > 0 ? statemapEnd : NO_STATEMAP;
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
  row[at] = committed ? ROW_COMMITTED : ROW_ABORTED;
  row[at + 1] = version;
  row[at + 2] = safepoint;
  row[at + 3] = duplicate === ABSENT ? NaN : duplicate;
  return true;
}

/** The decision message of a committed or aborted answer row at `row[at..]`, for the decision record at `offset`. */
export function decisionOfRow(row: Float64Array, at: number, offset: Version): DecisionMessage {
  const safepoint = row[at + 2]!;
  const duplicateVersion = row[at + 3]!;
  return {
    kind: 'decision',
    decisionVersion: offset,
    version: row[at + 1]!,
    outcome: row[at] === ROW_COMMITTED ? 'committed' : 'aborted',
    safepoint: safepoint === safepoint ? safepoint : null,
    duplicateVersion: duplicateVersion === duplicateVersion ? duplicateVersion : null,
  };
}
