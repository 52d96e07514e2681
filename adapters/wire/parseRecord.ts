/**
 * The Talos wire format: a record's `messageType` header says Candidate or Decision, its value
 * is camelCase JSON, its offset is its version. Every way a record can be unusable becomes a
 * `RejectedRecord` naming the offset and the reason; nothing here throws on bad input.
 */
import type { RawRecord, StatemapEntry, Version } from '../../machines/domain.js';
import type { CertificationMessage, DecisionOutcome, ParsedBatch, RejectedRecord } from '../../machines/messages.js';
import { CANDIDATE, DECISION, decisionOfRow, NO_STATEMAP, ROW_CANDIDATE, ROW_STRIDE, scanMessage } from './fastPath.js';
import { addStatemap, beginStatemaps, discardStatemaps, finishStatemaps, STATEMAP_PENDING, type PendingCandidate } from './statemapChunks.js';

export type ParseResult = { readonly ok: true; readonly message: CertificationMessage } | { readonly ok: false; readonly reject: RejectedRecord };

class Malformed extends Error {}

export function parseOffset(offset: RawRecord['offset']): Version | null {
  const value = typeof offset === 'number' ? offset : typeof offset === 'bigint' ? Number(offset) : typeof offset === 'string' && /^\d+$/.test(offset) ? Number(offset) : NaN;
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function headerText(value: string | Buffer | undefined): string | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? value : value.toString('utf8');
}

function version(value: unknown, field: string): Version {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Malformed(`${field} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return value;
}

function optionalVersion(value: unknown, field: string): Version | null {
  return value === null || value === undefined ? null : version(value, field);
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new Malformed(`${field} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function statemap(value: unknown): readonly StatemapEntry[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw new Malformed('statemap must be an array');
  for (let i = 0; i < value.length; i++) {
    const entry: unknown = value[i];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Malformed(`statemap[${i}] must be an object with one action key`);
    let keys = 0;
    for (const _ in entry) keys += 1;
    if (keys !== 1) throw new Malformed(`statemap[${i}] must have exactly one action key, has ${keys}`);
  }
  return value as StatemapEntry[];
}

function candidate(body: Record<string, unknown>, offset: Version): CertificationMessage {
  // The xid must be there (it is part of the wire format), but nothing downstream reads it.
  text(body.xid, 'xid');
  return { kind: 'candidate', version: offset, statemap: statemap(body.statemap) };
}

function decision(body: Record<string, unknown>, offset: Version): CertificationMessage {
  const outcome = body.decision;
  if (outcome !== 'committed' && outcome !== 'aborted') throw new Malformed(`decision must be "committed" or "aborted", got ${JSON.stringify(outcome)}`);
  const candidateVersion = version(body.version, 'version');
  if (candidateVersion >= offset) throw new Malformed(`decision at offset ${offset} is for version ${candidateVersion}, which is not before it`);
  const duplicateVersion = optionalVersion(body.duplicateVersion, 'duplicateVersion');
  let safepoint: Version | null = null;
  if (outcome === 'committed') {
    // A commit whose safepoint is missing waits for every earlier version: always safe, never out of order.
    const given = optionalVersion(body.safepoint, 'safepoint');
    safepoint = given === null || given >= candidateVersion ? candidateVersion - 1 : given;
  }
  text(body.xid, 'xid');
  return { kind: 'decision', decisionVersion: offset, version: candidateVersion, outcome: outcome as DecisionOutcome, safepoint, duplicateVersion };
}

/** The two record kinds the `messageType` header may name. */
export type RecordType = 'Candidate' | 'Decision';

/** The reason a record whose value `JSON.parse` refused is rejected. */
export function invalidJsonReason(type: RecordType, error: unknown): string {
  return `${type} value is not valid JSON: ${(error as Error).message}`;
}

/**
 * Validates a value already parsed from a `type` record at `offset`: the message, or (a string) the
 * reason the record is rejected. Shared by `parseRecord` and the worker-thread parser.
 */
export function validateBody(type: RecordType, body: unknown, offset: Version): CertificationMessage | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return `${type} value must be a JSON object`;
  try {
    return type === 'Candidate' ? candidate(body as Record<string, unknown>, offset) : decision(body as Record<string, unknown>, offset);
  } catch (error) {
    if (error instanceof Malformed) return `${type}: ${error.message}`;
    throw error;
  }
}

const ROW = new Float64Array(ROW_STRIDE);

/**
 * The message the fast path read into ROW from `value`. With `deferStatemap`, a candidate's
 * statemap is queued (statemapChunks.ts) and filled in by the batch's `finishStatemaps()`.
 */
function messageOfRow(value: Buffer, offset: Version, deferStatemap: boolean): CertificationMessage {
  if (ROW[0] === ROW_CANDIDATE) {
    const start = ROW[1]!;
    if (start === NO_STATEMAP) return { kind: 'candidate', version: offset, statemap: [] };
    if (!deferStatemap) return { kind: 'candidate', version: offset, statemap: JSON.parse(value.toString('utf8', start, ROW[2]!)) as StatemapEntry[] };
    const candidate: PendingCandidate = { kind: 'candidate', version: offset, statemap: STATEMAP_PENDING };
    addStatemap(candidate, value, start, ROW[2]!);
    return candidate;
  }
  return decisionOfRow(ROW, 0, offset);
}

export function parseRecord(record: RawRecord): ParseResult {
  return parseOne(record, false);
}

/**
 * The message the fast path reads from a byte value (as Kafka hands them over), reading only what
 * the messages need; null for every record it does not answer for, which `parseSlowly` then
 * gives the result or the reason for. No result object around the message: `parseBatch` takes
 * most records this way.
 */
function fastMessage(record: RawRecord, deferStatemap: boolean): CertificationMessage | null {
  const value = record.value;
  if (value === null || value === undefined || typeof value === 'string') return null;
  const offset = parseOffset(record.offset);
  if (offset === null) return null;
  const type = record.headers.messageType;
  const kind = headerIs(type, 'Candidate') ? CANDIDATE : headerIs(type, 'Decision') ? DECISION : 0;
  if (kind === 0 || !scanMessage(value, 0, value.length, kind, offset, ROW, 0)) return null;
  return messageOfRow(value, offset, deferStatemap);
}

/** The same as `headerText(header) === text` for an ASCII `text`, without decoding a Buffer header. */
export function headerIs(header: string | Buffer | undefined, text: string): boolean {
  if (typeof header === 'string') return header === text;
  if (!Buffer.isBuffer(header) || header.length !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (header[i] !== text.charCodeAt(i)) return false;
  return true;
}

function parseOne(record: RawRecord, deferStatemap: boolean): ParseResult {
  const message = fastMessage(record, deferStatemap);
  return message === null ? parseSlowly(record) : { ok: true, message };
}

/**
 * A record the fast path did not answer for: `JSON.parse`, the authority on errors, and the wire
 * rules on what it gives; every way the record is unusable becomes a reject with its reason.
 */
function parseSlowly(record: RawRecord): ParseResult {
  const origin = record.origin ?? null;
  const offset = parseOffset(record.offset);
  const reject = (reason: string): ParseResult => ({ ok: false, reject: { offset, origin, reason } });
  if (offset === null) return reject(`offset must be a non-negative integer, got ${String(record.offset)}`);
  const type = headerText(record.headers.messageType);
  if (type !== 'Candidate' && type !== 'Decision') {
    return reject(type === undefined ? 'missing messageType header' : `unknown messageType header ${JSON.stringify(type)}`);
  }
  if (record.value === null || record.value === undefined) return reject(`${type} record has no value`);
  let body: unknown;
  try {
    body = JSON.parse(typeof record.value === 'string' ? record.value : record.value.toString('utf8'));
  } catch (error) {
    return reject(invalidJsonReason(type, error));
  }
  const result = validateBody(type, body, offset);
  return typeof result === 'string' ? reject(result) : { ok: true, message: result };
}

/** Adds one record's result to a batch being built; returns the batch's new last offset. */
export function collectParseResult(result: ParseResult, messages: CertificationMessage[], rejects: RejectedRecord[], lastOffset: Version | null): Version | null {
  if (result.ok) return collectMessage(result.message, messages, lastOffset);
  rejects.push(result.reject);
  return result.reject.offset === null ? lastOffset : Math.max(lastOffset ?? 0, result.reject.offset);
}

/** Adds one message to a batch being built; returns the batch's new last offset. */
function collectMessage(message: CertificationMessage, messages: CertificationMessage[], lastOffset: Version | null): Version {
  messages.push(message);
  const offset = message.kind === 'candidate' ? message.version : message.decisionVersion;
  return lastOffset === null || offset > lastOffset ? offset : lastOffset;
}

/** The origin every record of a batch shares (a Kafka batch: its topic partition), or null. */
export function sharedOrigin(records: readonly RawRecord[]): string | null {
  const origin = records[0]?.origin;
  if (origin === undefined) return null;
  for (let i = 1; i < records.length; i++) if (records[i]!.origin !== origin) return null;
  return origin;
}

/**
 * Every record's `parseRecord` result, in one batch. Statemaps the fast path checked are read a
 * chunk of them at a time (statemapChunks.ts) instead of one `JSON.parse` per candidate: the same
 * values, for a fraction of the cost. With `deferStatemaps` (the pipeline's parser), most
 * statemaps are left to be built when an install call for their version starts (`DeferredStatemap`).
 */
export function parseBatch(records: readonly RawRecord[], options: { readonly deferStatemaps?: boolean } = {}): ParsedBatch {
  const messages: CertificationMessage[] = [];
  const rejects: RejectedRecord[] = [];
  let lastOffset: Version | null = null;
  beginStatemaps(options.deferStatemaps === true);
  try {
    for (const record of records) {
      const message = fastMessage(record, true);
      lastOffset = message === null ? collectParseResult(parseSlowly(record), messages, rejects, lastOffset) : collectMessage(message, messages, lastOffset);
    }
    finishStatemaps();
  } catch (error) {
    discardStatemaps();
    throw error;
  }
  return { messages, rejects, lastOffset, origin: sharedOrigin(records) };
}

/** The replicator's parser: `parseBatch` with statemaps deferred until their versions' install calls start. */
export function parsePipelineBatch(records: readonly RawRecord[]): ParsedBatch {
  return parseBatch(records, { deferStatemaps: true });
}

export function describeReject(reject: RejectedRecord): string {
  const where = [reject.origin, reject.offset === null ? null : `offset ${reject.offset}`].filter(Boolean).join(', ');
  return `malformed record${where ? ` (${where})` : ''}: ${reject.reason}`;
}
