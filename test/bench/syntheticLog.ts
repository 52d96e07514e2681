/**
 * A fast generator of realistic certification records for benchmarks: bank transfers with
 * Talos-sized candidate and decision JSON (about 430 and 500 bytes) as Buffers (as Kafka hands
 * them over), the decision right after its candidate, one in ten aborted, and commits whose
 * safepoint follows Talos's rule: the last committed writer of either account, and at least the
 * certifier's suffix head - 1 (a suffix of `suffixSize` versions), and never below the snapshot
 * before the log's first version. Amounts are "NN.NN" (10.00 to 99.99). Where every number of a
 * transaction has the version's digit count (a log started at a high version, as
 * `firstVersion: 20_000_000` does), a transaction is one copied template with its digits patched in
 * place; elsewhere it is written part by part, byte-identical to what the template would give.
 */
import type { RawRecord } from '../../machines/domain.js';

const CANDIDATE = { messageType: 'Candidate' } as const;
const DECISION = { messageType: 'Decision' } as const;

export interface SyntheticLog {
  /** Appends the records of `count` more transactions to `out`; returns the last candidate version. */
  next(count: number, out: RawRecord[]): number;
  /**
   * The next `count` transactions written back to back into one fresh buffer and, per record,
   * offset, start, end and type (1 candidate, 2 decision): what a fetch response holds, made
   * without a Buffer per record so the producer stays cheap next to the replicator it feeds.
   * `into`, when at least `BYTES_PER_TRANSACTION * count` long, is written to (and `bytes` is a
   * view of it) instead of a fresh buffer: touching fresh memory can cost more than the records.
   */
  nextBytes(count: number, into?: Buffer): { readonly bytes: Buffer; readonly table: Float64Array };
  readonly lastCandidate: number;
}

/**
 * The records a `nextBytes` chunk holds (those from index `first` to before `end`), each value a
 * view into `bytes` (as kafkajs slices a fetch response), appended to `out`.
 */
export function recordsOf(bytes: Buffer, table: Float64Array, out: RawRecord[] = [], first = 0, end = table.length / 4): RawRecord[] {
  for (let i = first * 4; i < end * 4; i += 4) {
    out.push({ offset: table[i]!, headers: table[i + 3] === 1 ? CANDIDATE : DECISION, value: bytes.subarray(table[i + 1]!, table[i + 2]!) });
  }
  return out;
}

/** `value` as `width` decimal digits, zero-padded (value < 10 ** width). */
function padded(value: number, width: number): string {
  const digits = String(value);
  return digits.length >= width ? digits : '00000000000000'.slice(0, width - digits.length) + digits;
}

/** Text as bytes, once: the log is assembled from these parts and numbers written digit by digit. */
const bytesOf = (text: string) => Buffer.from(text, 'latin1');

/** Writes `value` (a non-negative integer) in decimal at `at`; returns the index after it. */
function writeInteger(bytes: Buffer, at: number, value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits += 1;
  for (let i = at + digits - 1, rest = value; i >= at; i--, rest = Math.floor(rest / 10)) bytes[i] = 0x30 + (rest % 10);
  return at + digits;
}

/** Writes `value` as exactly `width` decimal digits, zero-padded (value < 10 ** width). */
function writePadded(bytes: Buffer, at: number, value: number, width: number): number {
  for (let i = at + width - 1, rest = value; i >= at; i--, rest = Math.floor(rest / 10)) bytes[i] = 0x30 + (rest % 10);
  return at + width;
}

function put(bytes: Buffer, at: number, part: Buffer): number {
  bytes.set(part, at);
  return at + part.length;
}

export interface SyntheticLogOptions {
  /**
   * The first candidate's version (default 1: versions equal Kafka offsets from 1). The log's
   * offsets and versions start there; safepoints never go below `firstVersion - 1`, the snapshot a
   * replicator of this log starts from. Logs whose numbers all have as many digits as the version
   * (for example from 20 000 000, which holds about 40 million transactions) are made from
   * templates and cost far less to generate.
   */
  readonly firstVersion?: number;
}

/** Digits of a candidate-decision pair's numbers and names: fixed-width fields a template patches. */
const enum Field {
  Xid,
  Snapshot,
  ReadFrom,
  ReadTo,
  Readvers1,
  Readvers2,
  WriteFrom,
  WriteTo,
  MapFrom,
  MapTo,
  Amount,
  DecisionXid,
  Version,
  Safepoint,
  SuffixStart,
  Conflict,
  Count,
}

interface Template {
  /** A candidate and its decision back to back, every number and name digit a '0' to patch. */
  readonly bytes: Buffer;
  readonly candidateLength: number;
  /** Per `Field`, where its digits start in `bytes` (-1: not in this template). */
  readonly at: Int32Array;
}

/** Writes `value` (a non-negative integer below 2 ** 31) as exactly `width` digits ending before `end`. */
function patchDigits(bytes: Uint8Array, end: number, value: number, width: number): void {
  for (let i = end - 1, stop = end - width; i >= stop; i--) {
    const rest = (value / 10) | 0;
    bytes[i] = 0x30 + value - rest * 10;
    value = rest;
  }
}

/** Room per transaction in `nextBytes`'s buffer: records are ASCII, a candidate and its decision under 1 000 bytes each. */
export const BYTES_PER_TRANSACTION = 2_000;

const POWERS_OF_TEN = Array.from({ length: 11 }, (_, exponent) => 10 ** exponent);
/** At most this many accounts have 5-digit names ("acc-00042"), which templates require. */
const TEMPLATE_ACCOUNTS = 100_000;

export function syntheticLog(accounts = 10_000, seed = 1, suffixSize = 10_000, options: SyntheticLogOptions = {}): SyntheticLog {
  const firstVersion = options.firstVersion ?? 1;
  if (!Number.isSafeInteger(firstVersion) || firstVersion < 1) throw new RangeError(`syntheticLog: firstVersion must be a positive integer, got ${firstVersion}`);
  const lowestSafepoint = firstVersion - 1;
  const lastWriter = new Float64Array(accounts).fill(lowestSafepoint);
  let state = seed >>> 0 || 1;
  const rand = (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  let offset = firstVersion - 1;
  let lastCandidate = 0;
  const now = String(1_764_000_000_000_000_000);
  // Every record is these parts with its numbers and names in between: building a record copies
  // bytes instead of formatting text, so the producer stays cheap next to the replicator it feeds.
  const accountNames = Array.from({ length: accounts }, (_, index) => bytesOf(`acc-${padded(index, 5)}`));
  // Amounts from 10.00 to 99.99, always five characters.
  const AMOUNTS = 9_000;
  const amounts = Array.from({ length: AMOUNTS }, (_, index) => bytesOf(((1_000 + index) / 100).toFixed(2)));
  const XID_TEXT = '{"xid":"8d4f3c2a-1b2c-4d5e-8f90-';
  const CANDIDATE_SNAPSHOT_TEXT = '","agent":"bench-agent","cohort":"banking","snapshot":';
  const CANDIDATE_END_TEXT = `"}}],"onCommit":{},"metadata":{},"publishedAt":${now},"certificationStartedAt":${now},"requestCreatedAt":${now}}`;
  const COMMITTED_TEXT = '","agent":"bench-agent","cohort":"banking","decision":"committed","version":';
  const ABORTED_TEXT = '","agent":"bench-agent","cohort":"banking","decision":"aborted","version":';
  const CONFLICT_TEXT = ',"duplicateVersion":null,"conflictVersion":';
  const NO_CONFLICT_TEXT = ',"duplicateVersion":null,"conflictVersion":null';
  const DECISION_END_TEXT = `,"time":"2026-11-25T12:00:00.000Z","metrics":{"candidatePublished":${now},"candidateReceived":${now},"candidateProcessingStarted":${now},"decisionCreatedAt":${now},"dbSaveStarted":${now},"dbSaveEnded":${now}}}`;
  const XID = bytesOf(XID_TEXT);
  const CANDIDATE_SNAPSHOT = bytesOf(CANDIDATE_SNAPSHOT_TEXT);
  const READSET = bytesOf(',"readset":["');
  const BETWEEN_NAMES = bytesOf('","');
  const READVERS = bytesOf('"],"readvers":[');
  const COMMA = bytesOf(',');
  const WRITESET = bytesOf('],"writeset":["');
  const STATEMAP_FROM = bytesOf('"],"statemap":[{"TRANSFER":{"from":"');
  const STATEMAP_TO = bytesOf('","to":"');
  const STATEMAP_AMOUNT = bytesOf('","amount":"');
  const CANDIDATE_END = bytesOf(CANDIDATE_END_TEXT);
  const COMMITTED = bytesOf(COMMITTED_TEXT);
  const ABORTED = bytesOf(ABORTED_TEXT);
  const SAFEPOINT = bytesOf(',"safepoint":');
  const SUFFIX_START = bytesOf(',"suffixStart":');
  const CONFLICT = bytesOf(CONFLICT_TEXT);
  const NO_CONFLICT = bytesOf(NO_CONFLICT_TEXT);
  const DECISION_END = bytesOf(DECISION_END_TEXT);

  /**
   * The candidate and decision of a transaction whose numbers all have `width` digits, as the
   * part-by-part writer below would write them, with every digit to patch a '0'.
   */
  const template = (width: number, aborted: boolean): Template => {
    const at = new Int32Array(Field.Count).fill(-1);
    let text = '';
    const field = (which: Field, digits: number) => {
      at[which] = text.length;
      text += '0'.repeat(digits);
    };
    const name = (which: Field) => {
      text += 'acc-';
      field(which, 5);
    };
    text += XID_TEXT;
    field(Field.Xid, 12);
    text += CANDIDATE_SNAPSHOT_TEXT;
    field(Field.Snapshot, width);
    text += ',"readset":["';
    name(Field.ReadFrom);
    text += '","';
    name(Field.ReadTo);
    text += '"],"readvers":[';
    field(Field.Readvers1, width);
    text += ',';
    field(Field.Readvers2, width);
    text += '],"writeset":["';
    name(Field.WriteFrom);
    text += '","';
    name(Field.WriteTo);
    text += '"],"statemap":[{"TRANSFER":{"from":"';
    name(Field.MapFrom);
    text += '","to":"';
    name(Field.MapTo);
    text += '","amount":"';
    field(Field.Amount, 5);
    text += CANDIDATE_END_TEXT;
    const candidateLength = text.length;
    text += XID_TEXT;
    field(Field.DecisionXid, 12);
    text += aborted ? ABORTED_TEXT : COMMITTED_TEXT;
    field(Field.Version, width);
    if (!aborted) {
      text += ',"safepoint":';
      field(Field.Safepoint, width);
    }
    text += ',"suffixStart":';
    field(Field.SuffixStart, width);
    if (aborted) {
      text += CONFLICT_TEXT;
      field(Field.Conflict, width);
    } else {
      text += NO_CONFLICT_TEXT;
    }
    text += DECISION_END_TEXT;
    return { bytes: bytesOf(text), candidateLength, at };
  };
  // Per digit count, the committed and the aborted template, made when first needed.
  const templates: Array<readonly [Template, Template] | undefined> = [];
  // Each account's five name digits, back to back.
  const nameDigits = Buffer.from(accountNames.map((nameBytes) => nameBytes.subarray(4).toString('latin1')).join(''), 'latin1');
  const amountDigits = Buffer.from(amounts.map((amount) => amount.toString('latin1')).join(''), 'latin1');

  const nextBytes = (count: number, into?: Buffer) => {
    const table = new Float64Array(count * 8);
    const bytes = into !== undefined && into.length >= count * BYTES_PER_TRANSACTION ? into : Buffer.allocUnsafeSlow(count * BYTES_PER_TRANSACTION);
    let end = 0;
    for (let i = 0; i < count; i++) {
      const version = ++offset;
      const fromIndex = rand(accounts);
      const toIndex = (fromIndex + 1 + rand(accounts - 1)) % accounts;
      const amountIndex = rand(AMOUNTS);
      const decisionOffset = ++offset;
      const aborted = rand(10) === 0;
      const safepoint = Math.max(lastWriter[fromIndex]!, lastWriter[toIndex]!, version - suffixSize - 1, lowestSafepoint);
      if (!aborted) lastWriter[fromIndex] = lastWriter[toIndex] = version;
      lastCandidate = version;
      // The template writer, when every number has the version's digit count.
      let width = 1;
      while (width < 10 && version >= POWERS_OF_TEN[width]!) width++;
      if (width < 10 && accounts <= TEMPLATE_ACCOUNTS && Math.min(version - 1_000, safepoint) >= POWERS_OF_TEN[width - 1]!) {
        const pair = (templates[width] ??= [template(width, false), template(width, true)]);
        const { bytes: source, candidateLength, at } = pair[aborted ? 1 : 0];
        source.copy(bytes, end);
        patchDigits(bytes, end + at[Field.Xid]! + 12, version, 12);
        patchDigits(bytes, end + at[Field.DecisionXid]! + 12, version, 12);
        patchDigits(bytes, end + at[Field.Snapshot]! + width, version - 50, width);
        patchDigits(bytes, end + at[Field.Readvers1]! + width, version - 7, width);
        patchDigits(bytes, end + at[Field.Readvers2]! + width, version - 3, width);
        patchDigits(bytes, end + at[Field.Version]! + width, version, width);
        patchDigits(bytes, end + at[Field.SuffixStart]! + width, version - 1_000, width);
        if (aborted) patchDigits(bytes, end + at[Field.Conflict]! + width, version - 1, width);
        else patchDigits(bytes, end + at[Field.Safepoint]! + width, safepoint, width);
        const from = fromIndex * 5;
        const to = toIndex * 5;
        for (let k = 0; k < 5; k++) {
          const f = nameDigits[from + k]!;
          const t = nameDigits[to + k]!;
          bytes[end + at[Field.ReadFrom]! + k] = f;
          bytes[end + at[Field.WriteFrom]! + k] = f;
          bytes[end + at[Field.MapFrom]! + k] = f;
          bytes[end + at[Field.ReadTo]! + k] = t;
          bytes[end + at[Field.WriteTo]! + k] = t;
          bytes[end + at[Field.MapTo]! + k] = t;
          bytes[end + at[Field.Amount]! + k] = amountDigits[amountIndex * 5 + k]!;
        }
        table[i * 8] = version;
        table[i * 8 + 1] = end;
        table[i * 8 + 2] = end + candidateLength;
        table[i * 8 + 3] = 1;
        table[i * 8 + 4] = decisionOffset;
        table[i * 8 + 5] = end + candidateLength;
        end += source.length;
        table[i * 8 + 6] = end;
        table[i * 8 + 7] = 2;
        continue;
      }
      // Part by part, numbers written with as many digits as they have.
      const from = accountNames[fromIndex]!;
      const to = accountNames[toIndex]!;
      let start = end;
      end = put(bytes, end, XID);
      end = writePadded(bytes, end, version, 12);
      end = put(bytes, end, CANDIDATE_SNAPSHOT);
      end = writeInteger(bytes, end, Math.max(0, version - 50));
      end = put(bytes, end, READSET);
      end = put(bytes, end, from);
      end = put(bytes, end, BETWEEN_NAMES);
      end = put(bytes, end, to);
      end = put(bytes, end, READVERS);
      end = writeInteger(bytes, end, Math.max(0, version - 7));
      end = put(bytes, end, COMMA);
      end = writeInteger(bytes, end, Math.max(0, version - 3));
      end = put(bytes, end, WRITESET);
      end = put(bytes, end, from);
      end = put(bytes, end, BETWEEN_NAMES);
      end = put(bytes, end, to);
      end = put(bytes, end, STATEMAP_FROM);
      end = put(bytes, end, from);
      end = put(bytes, end, STATEMAP_TO);
      end = put(bytes, end, to);
      end = put(bytes, end, STATEMAP_AMOUNT);
      end = put(bytes, end, amounts[amountIndex]!);
      end = put(bytes, end, CANDIDATE_END);
      table[i * 8] = version;
      table[i * 8 + 1] = start;
      table[i * 8 + 2] = end;
      table[i * 8 + 3] = 1;
      start = end;
      end = put(bytes, end, XID);
      end = writePadded(bytes, end, version, 12);
      end = put(bytes, end, aborted ? ABORTED : COMMITTED);
      end = writeInteger(bytes, end, version);
      if (!aborted) {
        end = put(bytes, end, SAFEPOINT);
        end = writeInteger(bytes, end, safepoint);
      }
      end = put(bytes, end, SUFFIX_START);
      end = writeInteger(bytes, end, Math.max(0, version - 1000));
      if (aborted) {
        end = put(bytes, end, CONFLICT);
        end = writeInteger(bytes, end, Math.max(0, version - 1));
      } else {
        end = put(bytes, end, NO_CONFLICT);
      }
      end = put(bytes, end, DECISION_END);
      table[i * 8 + 4] = decisionOffset;
      table[i * 8 + 5] = start;
      table[i * 8 + 6] = end;
      table[i * 8 + 7] = 2;
    }
    return { bytes: bytes.subarray(0, end), table };
  };
  return {
    get lastCandidate() {
      return lastCandidate;
    },
    nextBytes,
    next(count, out) {
      const { bytes, table } = nextBytes(count);
      recordsOf(bytes, table, out);
      return lastCandidate;
    },
  };
}
