/**
 * A fast generator of realistic certification records for benchmarks: bank transfers with
 * Talos-sized candidate and decision JSON (about 430 and 500 bytes) as Buffers (as Kafka hands
 * them over), the decision right after its candidate, one in ten aborted, and commits whose
 * safepoint follows Talos's rule: the last committed writer of either account, and at least the
 * certifier's suffix head - 1 (a suffix of `suffixSize` versions).
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
   */
  nextBytes(count: number): { readonly bytes: Buffer; readonly table: Float64Array };
  readonly lastCandidate: number;
}

/**
 * The records a `nextBytes` chunk holds, each value a view into `bytes` (as kafkajs slices a
 * fetch response), appended to `out`.
 */
export function recordsOf(bytes: Buffer, table: Float64Array, out: RawRecord[] = []): RawRecord[] {
  for (let i = 0; i < table.length; i += 4) {
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

export function syntheticLog(accounts = 10_000, seed = 1, suffixSize = 10_000): SyntheticLog {
  const lastWriter = new Float64Array(accounts);
  let state = seed >>> 0 || 1;
  const rand = (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  let offset = 0;
  let lastCandidate = 0;
  const now = String(1_764_000_000_000_000_000);
  // Every record is these parts with its numbers and names in between: building a record copies
  // bytes instead of formatting text, so the producer stays cheap next to the replicator it feeds.
  const accountNames = Array.from({ length: accounts }, (_, index) => bytesOf(`acc-${padded(index, 5)}`));
  const amounts = Array.from({ length: 10_000 }, (_, cents) => bytesOf(String(cents / 100)));
  const XID = bytesOf('{"xid":"8d4f3c2a-1b2c-4d5e-8f90-');
  const CANDIDATE_SNAPSHOT = bytesOf('","agent":"bench-agent","cohort":"banking","snapshot":');
  const READSET = bytesOf(',"readset":["');
  const BETWEEN_NAMES = bytesOf('","');
  const READVERS = bytesOf('"],"readvers":[');
  const COMMA = bytesOf(',');
  const WRITESET = bytesOf('],"writeset":["');
  const STATEMAP_FROM = bytesOf('"],"statemap":[{"TRANSFER":{"from":"');
  const STATEMAP_TO = bytesOf('","to":"');
  const STATEMAP_AMOUNT = bytesOf('","amount":"');
  const CANDIDATE_END = bytesOf(`"}}],"onCommit":{},"metadata":{},"publishedAt":${now},"certificationStartedAt":${now},"requestCreatedAt":${now}}`);
  const COMMITTED = bytesOf('","agent":"bench-agent","cohort":"banking","decision":"committed","version":');
  const ABORTED = bytesOf('","agent":"bench-agent","cohort":"banking","decision":"aborted","version":');
  const SAFEPOINT = bytesOf(',"safepoint":');
  const SUFFIX_START = bytesOf(',"suffixStart":');
  const CONFLICT = bytesOf(',"duplicateVersion":null,"conflictVersion":');
  const NO_CONFLICT = bytesOf(',"duplicateVersion":null,"conflictVersion":null');
  const DECISION_END = bytesOf(
    `,"time":"2026-11-25T12:00:00.000Z","metrics":{"candidatePublished":${now},"candidateReceived":${now},"candidateProcessingStarted":${now},"decisionCreatedAt":${now},"dbSaveStarted":${now},"dbSaveEnded":${now}}}`,
  );
  const nextBytes = (count: number) => {
    const table = new Float64Array(count * 8);
    // Records are ASCII and under 1 000 bytes each.
    const bytes = Buffer.allocUnsafeSlow(count * 2_000);
    let end = 0;
    for (let i = 0; i < count; i++) {
      const version = ++offset;
      const fromIndex = rand(accounts);
      const toIndex = (fromIndex + 1 + rand(accounts - 1)) % accounts;
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
      end = put(bytes, end, amounts[rand(10_000)]!);
      end = put(bytes, end, CANDIDATE_END);
      table[i * 8] = version;
      table[i * 8 + 1] = start;
      table[i * 8 + 2] = end;
      table[i * 8 + 3] = 1;
      const decisionOffset = ++offset;
      const aborted = rand(10) === 0;
      const safepoint = Math.max(lastWriter[fromIndex]!, lastWriter[toIndex]!, version - suffixSize - 1, 0);
      if (!aborted) lastWriter[fromIndex] = lastWriter[toIndex] = version;
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
      lastCandidate = version;
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
