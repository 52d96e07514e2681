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
  // Converted to text once, not on every record.
  const now = String(1_764_000_000_000_000_000);
  const accountNames = Array.from({ length: accounts }, (_, index) => `acc-${padded(index, 5)}`);
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
      const xid = `8d4f3c2a-1b2c-4d5e-8f90-${padded(version, 12)}`;
      let start = end;
      end += bytes.write(`{"xid":"${xid}","agent":"bench-agent","cohort":"banking","snapshot":${Math.max(0, version - 50)},"readset":["${from}","${to}"],"readvers":[${Math.max(0, version - 7)},${Math.max(0, version - 3)}],"writeset":["${from}","${to}"],"statemap":[{"TRANSFER":{"from":"${from}","to":"${to}","amount":"${rand(10_000) / 100}"}}],"onCommit":{},"metadata":{},"publishedAt":${now},"certificationStartedAt":${now},"requestCreatedAt":${now}}`, end, 'latin1');
      table[i * 8] = version;
      table[i * 8 + 1] = start;
      table[i * 8 + 2] = end;
      table[i * 8 + 3] = 1;
      const decisionOffset = ++offset;
      const aborted = rand(10) === 0;
      const safepoint = Math.max(lastWriter[fromIndex]!, lastWriter[toIndex]!, version - suffixSize - 1, 0);
      if (!aborted) lastWriter[fromIndex] = lastWriter[toIndex] = version;
      start = end;
      end += bytes.write(`{"xid":"${xid}","agent":"bench-agent","cohort":"banking","decision":"${aborted ? 'aborted' : 'committed'}","version":${version},${aborted ? '' : `"safepoint":${safepoint},`}"suffixStart":${Math.max(0, version - 1000)},"duplicateVersion":null,"conflictVersion":${aborted ? Math.max(0, version - 1) : 'null'},"time":"2026-11-25T12:00:00.000Z","metrics":{"candidatePublished":${now},"candidateReceived":${now},"candidateProcessingStarted":${now},"decisionCreatedAt":${now},"dbSaveStarted":${now},"dbSaveEnded":${now}}}`, end, 'latin1');
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
