/**
 * Random certification histories for property tests, and the model of what a correct replicator
 * must do with them.
 *
 * A history is built from a `HistorySpec` (which fast-check generates and shrinks): a list of
 * transactions in candidate order, each with a kind (committed with or without statemap,
 * aborted, a re-sent duplicate of an earlier one), its statemap, when its decision comes (a
 * few records later, so decisions overtake each other), how its safepoint is written, and
 * optionally a repeated copy of its decision; plus malformed records and stray decisions for
 * offsets that hold no candidate, at most one candidate whose decision never comes, an optional
 * version-0 candidate, and an optional persisted snapshot to start from.
 *
 * Safepoints are those of a correct certifier (the highest earlier committed version sharing a
 * key, possibly raised, or written in a form the parser must clamp), so the serial replay of the
 * committed versions is the one end state every correct installation order reaches.
 */
import fc from 'fast-check';
import type { RawRecord, StatemapEntry, StatemapItem, Version } from '../../index.js';
import { defaultApplier, type Row } from './memoryCohort.js';
import { candidateRecord, decisionRecord } from './records.js';

export type TxKind = 'commit' | 'commitNoStatemap' | 'abort' | 'duplicate';
export type SafepointForm = 'conflict' | 'raised' | 'missing' | 'above';

export interface OpSpec {
  readonly action: 'SET' | 'ADD';
  readonly key: number;
  readonly amount: number;
}

export interface TxSpec {
  readonly kind: TxKind;
  readonly ops: readonly OpSpec[];
  /** The decision comes `delay` candidate slots after the candidate. */
  readonly delay: number;
  readonly safepoint: SafepointForm;
  readonly raise: number;
  /** Which earlier transaction a duplicate re-sends (modulo their number). */
  readonly dupOf: number;
  /** A second copy of the decision, later in the log. */
  readonly repeatDecision: boolean;
  /** For commitNoStatemap: `"statemap": []` instead of no field. */
  readonly emptyArray: boolean;
}

export interface HistorySpec {
  readonly txs: readonly TxSpec[];
  /** Offset 0 holds a committed candidate with a statemap, which must never be installed. */
  readonly versionZero: boolean;
  /** Malformed records: position (candidate slot) and kind. */
  readonly garbage: ReadonlyArray<{ readonly slot: number; readonly kind: number }>;
  /** Decisions for offsets that hold no candidate. */
  readonly strays: ReadonlyArray<{ readonly slot: number; readonly pick: number }>;
  /** This transaction (modulo their number) never gets a decision. */
  readonly undecided: number | null;
  /** Start from a persisted snapshot: this committed-or-aborted version (modulo their number). */
  readonly initialSnapshot: number | null;
}

export interface ModelTx {
  readonly version: Version;
  readonly kind: TxKind | 'undecided';
  readonly xid: string;
  /** null: the candidate has no statemap field. */
  readonly statemap: readonly StatemapEntry[] | null;
  /** The safepoint the certifier computed (before any rewriting), for commits. */
  readonly conflictSafepoint: Version | null;
  /** What the installer must see on its items (after the parser clamps). */
  readonly effectiveSafepoint: Version | null;
  readonly duplicateOf: Version | null;
  readonly decisionOffset: Version | null;
  readonly keys: readonly string[];
}

export interface History {
  readonly spec: HistorySpec;
  readonly records: readonly RawRecord[];
  readonly txs: readonly ModelTx[];
  readonly byVersion: ReadonlyMap<Version, ModelTx>;
  readonly firstOffset: Version;
  readonly lastOffset: Version;
  /** The persisted snapshot before the first run. */
  readonly initialSnapshot: Version;
  /** Offsets of malformed records. */
  readonly garbageOffsets: readonly Version[];
  /** Offsets of stray decisions (for versions that hold no candidate). */
  readonly strayOffsets: readonly Version[];
}

// ---------------------------------------------------------------------------------------------
// fast-check arbitraries

export const opArb: fc.Arbitrary<OpSpec> = fc.record({
  action: fc.constantFrom<'SET' | 'ADD'>('ADD', 'SET'),
  key: fc.integer({ min: 0, max: 4 }),
  amount: fc.integer({ min: 1, max: 9 }),
});

export const txArb: fc.Arbitrary<TxSpec> = fc.record({
  kind: fc.oneof(
    { weight: 12, arbitrary: fc.constant<TxKind>('commit') },
    { weight: 2, arbitrary: fc.constant<TxKind>('commitNoStatemap') },
    { weight: 4, arbitrary: fc.constant<TxKind>('abort') },
    { weight: 2, arbitrary: fc.constant<TxKind>('duplicate') },
  ),
  // One entry per key: the per-row version guard would (rightly) skip a second write of one row by the same version.
  ops: fc.uniqueArray(opArb, { minLength: 1, maxLength: 3, selector: (op) => op.key }),
  delay: fc.integer({ min: 0, max: 8 }),
  safepoint: fc.constantFrom<SafepointForm>('conflict', 'conflict', 'conflict', 'raised', 'missing', 'above'),
  raise: fc.nat({ max: 50 }),
  dupOf: fc.nat({ max: 50 }),
  repeatDecision: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
  emptyArray: fc.boolean(),
});

export interface HistoryArbOptions {
  readonly maxTxs?: number;
  readonly garbage?: boolean;
  readonly undecided?: boolean;
  readonly initialSnapshot?: boolean;
  readonly versionZero?: boolean;
  /** false: no re-sent duplicates (they become plain commits). */
  readonly duplicates?: boolean;
}

/** A value one time in `every`, otherwise null. */
function rarely<T>(arb: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}

export function historySpecArb(options: HistoryArbOptions = {}): fc.Arbitrary<HistorySpec> {
  const maybe = <T>(on: boolean | undefined, arb: fc.Arbitrary<T>, off: T): fc.Arbitrary<T> => (on === false ? fc.constant(off) : arb);
  return fc.record({
    txs: fc.array(options.duplicates === false ? txArb.map((tx) => (tx.kind === 'duplicate' ? { ...tx, kind: 'commit' as const } : tx)) : txArb, { minLength: 1, maxLength: options.maxTxs ?? 25 }),
    versionZero: maybe(options.versionZero, fc.boolean(), false),
    garbage: maybe(options.garbage, fc.array(fc.record({ slot: fc.nat({ max: 30 }), kind: fc.nat({ max: GARBAGE_KINDS - 1 }) }), { maxLength: 3 }), []),
    strays: maybe(options.garbage, fc.array(fc.record({ slot: fc.nat({ max: 30 }), pick: fc.nat({ max: 50 }) }), { maxLength: 2 }), []),
    undecided: maybe(options.undecided, rarely(fc.nat({ max: 30 }), 6), null),
    initialSnapshot: maybe(options.initialSnapshot, rarely(fc.nat({ max: 30 }), 3), null),
  });
}

// ---------------------------------------------------------------------------------------------
// Building the log

export const GARBAGE_KINDS = 10;

/** A record the parser must reject, at `offset`. */
export function garbageRecord(offset: Version, kind: number): RawRecord {
  const candidate = { messageType: 'Candidate' };
  const decision = { messageType: 'Decision' };
  switch (kind % GARBAGE_KINDS) {
    case 0:
      return { offset, headers: candidate, value: '{"xid": "broken", "statemap": [' };
    case 1:
      return { offset, headers: {}, value: JSON.stringify({ xid: `g${offset}`, statemap: [] }) };
    case 2:
      return { offset, headers: { messageType: 'Heartbeat' }, value: '{}' };
    case 3:
      return { offset, headers: decision, value: JSON.stringify({ xid: `g${offset}`, decision: 'maybe', version: 0 }) };
    case 4:
      return { offset, headers: candidate, value: JSON.stringify({ xid: `g${offset}`, statemap: { SET: { key: 'k0' } } }) };
    case 5:
      return { offset, headers: decision, value: JSON.stringify({ xid: `g${offset}`, decision: 'committed', version: '1', safepoint: 0 }) };
    case 6:
      return { offset, headers: candidate, value: JSON.stringify({ xid: 42, statemap: [] }) };
    case 7:
      return { offset, headers: candidate, value: null };
    case 8:
      return { offset, headers: decision, value: JSON.stringify({ xid: `g${offset}`, decision: 'committed', version: offset + 5, safepoint: 0 }) };
    default:
      return { offset, headers: candidate, value: JSON.stringify({ xid: `g${offset}`, statemap: [{ SET: { key: 'k0', value: 1 }, ADD: { key: 'k1', amount: 1 } }] }) };
  }
}

function statemapOf(ops: readonly OpSpec[], version: Version): StatemapEntry[] {
  return ops.map((op) => (op.action === 'SET' ? { SET: { key: `k${op.key}`, value: version * 10 + op.amount } } : { ADD: { key: `k${op.key}`, amount: op.amount } }));
}

type Slot =
  | { readonly at: number; readonly order: number; readonly what: 'candidate'; readonly tx: number }
  | { readonly at: number; readonly order: number; readonly what: 'decision'; readonly tx: number; readonly repeat: boolean }
  | { readonly at: number; readonly order: number; readonly what: 'garbage'; readonly kind: number }
  | { readonly at: number; readonly order: number; readonly what: 'stray'; readonly pick: number };

export function buildHistory(spec: HistorySpec): History {
  const n = spec.txs.length;
  const undecided = spec.undecided === null ? -1 : spec.undecided % n;
  const slots: Slot[] = [];
  let order = 0;
  if (spec.versionZero) slots.push({ at: -1, order: order++, what: 'candidate', tx: -1 }, { at: -0.5, order: order++, what: 'decision', tx: -1, repeat: false });
  spec.txs.forEach((tx, i) => {
    slots.push({ at: i, order: order++, what: 'candidate', tx: i });
    if (i !== undecided) {
      slots.push({ at: i + tx.delay + 0.5, order: order++, what: 'decision', tx: i, repeat: false });
      if (tx.repeatDecision) slots.push({ at: i + tx.delay + 2.6, order: order++, what: 'decision', tx: i, repeat: true });
    }
  });
  for (const g of spec.garbage) slots.push({ at: (g.slot % (n + 1)) + 0.25, order: order++, what: 'garbage', kind: g.kind });
  for (const s of spec.strays) slots.push({ at: (s.slot % (n + 1)) + 0.75, order: order++, what: 'stray', pick: s.pick });
  slots.sort((a, b) => a.at - b.at || a.order - b.order);

  const firstOffset = spec.versionZero ? 0 : 1;
  const candidateOffset = new Map<number, Version>();
  const offsets = slots.map((slot, index) => {
    const offset = firstOffset + index;
    if (slot.what === 'candidate') candidateOffset.set(slot.tx, offset);
    return offset;
  });

  // The certifier's view: kinds, statemaps and safepoints, in candidate order.
  const txs: ModelTx[] = [];
  const byIndex = new Map<number, ModelTx>();
  const lastWriter = new Map<string, Version>();
  if (spec.versionZero) {
    const zero: ModelTx = { version: 0, kind: 'commit', xid: 'xid-0', statemap: [{ SET: { key: 'k0', value: -1 } }], conflictSafepoint: 0, effectiveSafepoint: null, duplicateOf: null, decisionOffset: null, keys: ['k0'] };
    byIndex.set(-1, zero);
    txs.push(zero);
    lastWriter.set('k0', 0);
  }
  spec.txs.forEach((tx, i) => {
    const version = candidateOffset.get(i)!;
    // The undecided one is an original whatever its spec says (its decision never comes).
    let kind: ModelTx['kind'] = i === undecided ? 'undecided' : tx.kind;
    let duplicateOf: Version | null = null;
    let statemap: StatemapEntry[] | null = statemapOf(tx.ops, version);
    let xid = `xid-${version}`;
    const originals = txs.filter((t) => t.duplicateOf === null && t.version > 0);
    if (kind === 'duplicate') {
      if (originals.length === 0) kind = 'abort';
      else {
        const original = originals[tx.dupOf % originals.length]!;
        duplicateOf = original.version;
        statemap = original.statemap === null ? null : [...original.statemap];
        xid = original.xid;
      }
    }
    if (kind === 'commitNoStatemap') statemap = tx.emptyArray ? [] : null;
    const keys = kind === 'commit' || kind === 'undecided' || kind === 'abort' ? [...new Set(tx.ops.map((op) => `k${op.key}`))] : [];
    let conflictSafepoint: Version | null = null;
    let effectiveSafepoint: Version | null = null;
    if (kind === 'commit' || kind === 'commitNoStatemap' || (kind === 'duplicate' && duplicateOf !== null)) {
      conflictSafepoint = Math.max(0, ...keys.map((key) => lastWriter.get(key) ?? 0));
      effectiveSafepoint = effectiveOf(tx, conflictSafepoint, version);
    }
    if (kind === 'commit') for (const key of keys) lastWriter.set(key, version);
    const model: ModelTx = { version, kind, xid, statemap, conflictSafepoint, effectiveSafepoint, duplicateOf, decisionOffset: null, keys };
    byIndex.set(i, model);
    txs.push(model);
  });
  // The undecided one never commits, so the safepoints above did not count it as a writer: fine.

  const records: RawRecord[] = [];
  const garbageOffsets: Version[] = [];
  const strayOffsets: Version[] = [];
  const candidates = new Set(candidateOffset.values());
  const decisionOffsets = new Map<number, Version>();
  slots.forEach((slot, index) => {
    const offset = offsets[index]!;
    switch (slot.what) {
      case 'candidate': {
        const tx = byIndex.get(slot.tx)!;
        records.push(candidateRecord(offset, tx.statemap, tx.xid));
        return;
      }
      case 'decision': {
        const tx = byIndex.get(slot.tx)!;
        const spec_ = slot.tx >= 0 ? spec.txs[slot.tx]! : null;
        if (!slot.repeat) decisionOffsets.set(slot.tx, offset);
        if (tx.kind === 'duplicate') {
          const original = txs.find((t) => t.version === tx.duplicateOf)!;
          const outcome = original.kind === 'abort' ? 'aborted' : 'committed';
          records.push(decisionRecord(offset, tx.version, { outcome, xid: tx.xid, duplicateVersion: tx.duplicateOf, safepoint: outcome === 'committed' ? (original.conflictSafepoint ?? 0) : null }));
          return;
        }
        if (tx.kind === 'abort') {
          records.push(decisionRecord(offset, tx.version, { outcome: 'aborted', xid: tx.xid }));
          return;
        }
        records.push(decisionRecord(offset, tx.version, { outcome: 'committed', xid: tx.xid, safepoint: writtenSafepoint(spec_, tx) }));
        return;
      }
      case 'garbage':
        garbageOffsets.push(offset);
        records.push(garbageRecord(offset, slot.kind));
        return;
      case 'stray': {
        const holes: Version[] = [];
        for (let o = firstOffset; o < offset; o++) if (!candidates.has(o)) holes.push(o);
        const target = holes.length > 0 ? holes[slot.pick % holes.length]! : 0;
        strayOffsets.push(offset);
        records.push(decisionRecord(offset, target, { outcome: 'committed', xid: `stray-${offset}`, safepoint: 0 }));
        return;
      }
    }
  });
  const finalTxs = txs.map((tx, i) => {
    const index = spec.versionZero ? i - 1 : i;
    return { ...tx, decisionOffset: decisionOffsets.get(index) ?? null };
  });
  const byVersion = new Map(finalTxs.map((tx) => [tx.version, tx]));

  // The starting snapshot: a version every candidate at or below which is decided (or 0).
  let initialSnapshot = 0;
  if (spec.initialSnapshot !== null) {
    const firstUndecided = finalTxs.find((tx) => tx.kind === 'undecided')?.version ?? Infinity;
    const eligible = finalTxs.filter((tx) => tx.version > 0 && tx.version < firstUndecided && (tx.kind === 'commit' || tx.kind === 'commitNoStatemap' || tx.kind === 'abort'));
    if (eligible.length > 0) initialSnapshot = eligible[spec.initialSnapshot % eligible.length]!.version;
  }
  return {
    spec,
    records,
    txs: finalTxs,
    byVersion,
    firstOffset,
    lastOffset: firstOffset + records.length - 1,
    initialSnapshot,
    garbageOffsets,
    strayOffsets,
  };
}

function effectiveOf(tx: TxSpec, conflict: Version, version: Version): Version {
  switch (tx.safepoint) {
    case 'conflict':
      return Math.min(conflict, version - 1);
    case 'raised':
      return Math.min(version - 1, conflict + (tx.raise % Math.max(1, version - conflict)));
    case 'missing':
    case 'above':
      return version - 1;
  }
}

/** The safepoint field as written in the decision (null: absent/null in the JSON). */
function writtenSafepoint(spec: TxSpec | null, tx: ModelTx): Version | null {
  if (!spec) return 0;
  switch (spec.safepoint) {
    case 'conflict':
    case 'raised':
      return tx.effectiveSafepoint;
    case 'missing':
      return null;
    case 'above':
      return tx.version + (spec.raise % 3);
  }
}

// ---------------------------------------------------------------------------------------------
// The model: what a correct replicator does with a history

export interface Expectation {
  /** Candidates at or above it are never handed to the queue (the first one never decided). */
  readonly firstUndecided: Version;
  /** Versions the queue receives (above the initial snapshot), in order. */
  readonly queueVersions: readonly Version[];
  readonly queueSet: ReadonlySet<Version>;
  /** The snapshot (in memory, persisted) once the log is consumed. */
  readonly finalSnapshot: Version;
  /** Committed versions with statemaps that must be installed, above the initial snapshot. */
  readonly mustInstall: readonly Version[];
  /** The statemap items the installer must receive for each queue version. */
  readonly items: ReadonlyMap<Version, readonly StatemapItem[]>;
}

export function expectationOf(history: History): Expectation {
  const s0 = history.initialSnapshot;
  const firstUndecided = history.txs.find((tx) => tx.kind === 'undecided' && tx.version > s0)?.version ?? Infinity;
  const queue = history.txs.filter(
    (tx) => tx.version > s0 && tx.version > 0 && tx.version < firstUndecided && (tx.kind === 'commit' || tx.kind === 'commitNoStatemap' || tx.kind === 'abort'),
  );
  const items = new Map<Version, readonly StatemapItem[]>();
  for (const tx of queue) items.set(tx.version, itemsOf(tx));
  return {
    firstUndecided,
    queueVersions: queue.map((tx) => tx.version),
    queueSet: new Set(queue.map((tx) => tx.version)),
    finalSnapshot: queue.length > 0 ? queue.at(-1)!.version : s0,
    mustInstall: queue.filter((tx) => tx.kind === 'commit' && (tx.statemap?.length ?? 0) > 0).map((tx) => tx.version),
    items,
  };
}

export function itemsOf(tx: ModelTx): StatemapItem[] {
  if (tx.kind !== 'commit' || !tx.statemap || tx.statemap.length === 0) return [];
  const items: StatemapItem[] = [];
  for (const entry of tx.statemap) for (const action in entry) items.push({ action, version: tx.version, safepoint: tx.effectiveSafepoint, payload: entry[action] });
  return items;
}

/** The rows after applying, in version order, every committed version in `[1, upTo]` below the first undecided one. */
export function serialRows(history: History, upTo: Version, firstUndecided: Version = Infinity): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const tx of [...history.txs].sort((a, b) => a.version - b.version)) {
    if (tx.version < 1 || tx.version > upTo || tx.version >= firstUndecided || tx.kind !== 'commit') continue;
    for (const item of itemsOf(tx)) defaultApplier(rows, item);
  }
  return rows;
}

/** Versions whose installation is complete before the first run: every queue-bound version up to the initial snapshot. */
export function preinstalledOf(history: History): Version[] {
  return history.txs
    .filter((tx) => tx.version > 0 && tx.version <= history.initialSnapshot && (tx.kind === 'commit' || tx.kind === 'commitNoStatemap' || tx.kind === 'abort'))
    .map((tx) => tx.version);
}

/** A compact one-line description of a history, for failure messages. */
export function describeHistory(history: History): string {
  const parts = history.records.map((record) => {
    const offset = Number(record.offset);
    const tx = history.byVersion.get(offset);
    if (tx) return `C${offset}${tx.kind === 'commit' ? '' : `(${tx.kind}${tx.duplicateOf !== null ? ` of ${tx.duplicateOf}` : ''})`}`;
    if (history.garbageOffsets.includes(offset)) return `G${offset}`;
    let body: { version?: unknown; decision?: unknown; safepoint?: unknown } = {};
    try {
      body = JSON.parse(String(record.value)) as typeof body;
    } catch {
      // not JSON
    }
    return `${history.strayOffsets.includes(offset) ? 'S' : 'D'}${offset}->${String(body.version)}${body.decision === 'aborted' ? 'a' : ''}${body.safepoint !== undefined && body.safepoint !== null ? `@${String(body.safepoint)}` : ''}`;
  });
  return `S0=${history.initialSnapshot} [${parts.join(' ')}]`;
}
