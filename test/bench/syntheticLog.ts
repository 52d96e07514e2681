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
  readonly lastCandidate: number;
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
  const now = 1_764_000_000_000_000_000;
  return {
    get lastCandidate() {
      return lastCandidate;
    },
    next(count, out) {
      for (let i = 0; i < count; i++) {
        const version = ++offset;
        const fromIndex = rand(accounts);
        const toIndex = (fromIndex + 1 + rand(accounts - 1)) % accounts;
        const from = `acc-${String(fromIndex).padStart(5, '0')}`;
        const to = `acc-${String(toIndex).padStart(5, '0')}`;
        const xid = `8d4f3c2a-1b2c-4d5e-8f90-${String(version).padStart(12, '0')}`;
        out.push({
          offset: version,
          headers: CANDIDATE,
          value: Buffer.from(`{"xid":"${xid}","agent":"bench-agent","cohort":"banking","snapshot":${Math.max(0, version - 50)},"readset":["${from}","${to}"],"readvers":[${Math.max(0, version - 7)},${Math.max(0, version - 3)}],"writeset":["${from}","${to}"],"statemap":[{"TRANSFER":{"from":"${from}","to":"${to}","amount":"${rand(10_000) / 100}"}}],"onCommit":{},"metadata":{},"publishedAt":${now},"certificationStartedAt":${now},"requestCreatedAt":${now}}`),
        });
        const decisionOffset = ++offset;
        const aborted = rand(10) === 0;
        const safepoint = Math.max(lastWriter[fromIndex]!, lastWriter[toIndex]!, version - suffixSize - 1, 0);
        if (!aborted) lastWriter[fromIndex] = lastWriter[toIndex] = version;
        out.push({
          offset: decisionOffset,
          headers: DECISION,
          value: Buffer.from(`{"xid":"${xid}","agent":"bench-agent","cohort":"banking","decision":"${aborted ? 'aborted' : 'committed'}","version":${version},${aborted ? '' : `"safepoint":${safepoint},`}"suffixStart":${Math.max(0, version - 1000)},"duplicateVersion":null,"conflictVersion":${aborted ? Math.max(0, version - 1) : 'null'},"time":"2026-11-25T12:00:00.000Z","metrics":{"candidatePublished":${now},"candidateReceived":${now},"candidateProcessingStarted":${now},"decisionCreatedAt":${now},"dbSaveStarted":${now},"dbSaveEnded":${now}}}`),
        });
        lastCandidate = version;
      }
      return lastCandidate;
    },
  };
}
