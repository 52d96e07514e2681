/** Builders for certification records in the Talos wire format, for tests. */
import type { RawRecord, StatemapEntry, Version } from '../../machines/domain.js';

export function candidateRecord(offset: Version, statemap: readonly StatemapEntry[] | null = [{ SET: { key: `k${offset}` } }], xid = `xid-${offset}`): RawRecord {
  const body: Record<string, unknown> = { xid, agent: 'a', cohort: 'c', snapshot: 0, readset: [], readvers: [], writeset: [], onCommit: {}, metadata: {}, publishedAt: 0 };
  if (statemap !== null) body.statemap = statemap;
  return { offset, headers: { messageType: 'Candidate' }, value: JSON.stringify(body) };
}

export interface DecisionOptions {
  readonly outcome?: 'committed' | 'aborted';
  readonly safepoint?: Version | null;
  readonly duplicateVersion?: Version | null;
  readonly xid?: string;
}

export function decisionRecord(offset: Version, version: Version, options: DecisionOptions = {}): RawRecord {
  const outcome = options.outcome ?? 'committed';
  const body: Record<string, unknown> = {
    xid: options.xid ?? `xid-${version}`,
    agent: 'a',
    cohort: 'c',
    decision: outcome,
    version,
    suffixStart: 0,
    duplicateVersion: options.duplicateVersion ?? null,
    conflictVersion: null,
    time: '2026-01-01T00:00:00Z',
    metrics: {},
  };
  if (outcome === 'committed') body.safepoint = options.safepoint === undefined ? Math.max(0, version - 1) : options.safepoint;
  return { offset, headers: { messageType: 'Decision' }, value: JSON.stringify(body) };
}
