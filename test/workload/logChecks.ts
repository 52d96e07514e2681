/**
 * Independent checks of a certification log, written against the wire format and the
 * certification rules of the reference page, not against the simulator's internals.
 * Used by the workload tests (and usable by anyone who wants to validate a log).
 */
import assert from 'node:assert/strict';
import type { RawRecord } from '../../machines/domain.js';

export interface Candidate {
  readonly offset: number;
  readonly xid: string;
  readonly snapshot: number;
  readonly readset: readonly string[];
  readonly readvers: readonly number[];
  readonly writeset: readonly string[];
  readonly transfer: { readonly from: string; readonly to: string; readonly amount: string } | null;
  readonly text: string;
}

export interface Decision {
  readonly offset: number;
  readonly xid: string;
  readonly decision: 'committed' | 'aborted';
  readonly version: number;
  readonly safepoint: number | undefined;
  readonly suffixStart: number;
  readonly duplicateVersion: number | null;
  readonly conflictVersion: number | null;
}

export interface ParsedLog {
  readonly firstOffset: number;
  readonly lastOffset: number;
  /** By offset. */
  readonly candidates: ReadonlyMap<number, Candidate>;
  /** By the candidate offset they decide (the decision's `version`). */
  readonly decisions: ReadonlyMap<number, Decision>;
  /** Decision offsets in log order, as candidate versions: lets tests look at ordering. */
  readonly decisionOrder: readonly number[];
}

const CANDIDATE_KEYS = [
  'xid', 'agent', 'cohort', 'snapshot', 'readset', 'readvers', 'writeset', 'statemap',
  'onCommit', 'metadata', 'publishedAt', 'certificationStartedAt', 'requestCreatedAt',
];
const DECISION_KEYS = [
  'xid', 'agent', 'cohort', 'decision', 'version', 'safepoint', 'suffixStart',
  'duplicateVersion', 'conflictVersion', 'time', 'metrics',
];
const METRIC_KEYS = [
  'candidatePublished', 'candidateReceived', 'candidateProcessingStarted', 'decisionCreatedAt', 'dbSaveStarted', 'dbSaveEnded',
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const AMOUNT = /^\d+\.\d{2}$/;

const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function keysInOrder(obj: object, expected: readonly string[], what: string): void {
  const keys = Object.keys(obj);
  assert.deepEqual(keys, expected.filter((k) => keys.includes(k)), `${what}: unexpected key order or extra keys ${JSON.stringify(keys)}`);
}

/**
 * Checks the wire format of every record and the candidate/decision pairing, and returns
 * the parsed log. Throws an AssertionError at the first violation.
 */
export function checkWireFormat(records: Iterable<RawRecord>, startOffset: number): ParsedLog {
  const candidates = new Map<number, Candidate>();
  const decisions = new Map<number, Decision>();
  const decisionOrder: number[] = [];
  let expected = startOffset;
  for (const r of records) {
    const at = `record at offset ${String(r.offset)}`;
    assert.equal(r.offset, expected, `${at}: offsets must be contiguous from ${startOffset}`);
    expected++;
    const offset = r.offset as number;
    assert.deepEqual(Object.keys(r.headers), ['messageType'], `${at}: headers`);
    assert.equal(typeof r.value, 'string', `${at}: value must be a string`);
    const v = JSON.parse(r.value as string) as Record<string, unknown>;
    const type = r.headers['messageType'];
    assert.equal(v['agent'], 'bank-agent');
    assert.equal(v['cohort'], 'bank-cohort');
    assert.match(String(v['xid']), UUID, `${at}: xid`);
    if (type === 'Candidate') {
      keysInOrder(v, CANDIDATE_KEYS, at);
      for (const k of CANDIDATE_KEYS) if (k !== 'statemap') assert.ok(k in v, `${at}: candidate lacks ${k}`);
      assert.ok(!('version' in v), `${at}: a candidate's version is its offset, not a field`);
      assert.ok(isNat(v['snapshot']), `${at}: snapshot`);
      const readset = v['readset'] as unknown[];
      const readvers = v['readvers'] as unknown[];
      const writeset = v['writeset'] as unknown[];
      assert.ok(Array.isArray(readset) && readset.every((k) => typeof k === 'string'), `${at}: readset`);
      assert.ok(Array.isArray(writeset) && writeset.every((k) => typeof k === 'string'), `${at}: writeset`);
      assert.ok(Array.isArray(readvers) && readvers.every(isNat), `${at}: readvers`);
      assert.equal(readvers.length, readset.length, `${at}: one readvers per read key`);
      for (const rv of readvers as number[]) assert.ok(rv < offset, `${at}: readvers ${rv} is not an earlier version`);
      for (const k of ['publishedAt', 'certificationStartedAt', 'requestCreatedAt']) assert.ok(isNat(v[k]), `${at}: ${k}`);
      assert.deepEqual(v['onCommit'], {});
      assert.deepEqual(v['metadata'], {});
      let transfer: Candidate['transfer'] = null;
      if ('statemap' in v) {
        const sm = v['statemap'] as unknown[];
        assert.ok(Array.isArray(sm) && sm.length === 1, `${at}: one statemap entry`);
        const entry = sm[0] as Record<string, unknown>;
        assert.deepEqual(Object.keys(entry), ['TRANSFER'], `${at}: statemap action`);
        const p = entry['TRANSFER'] as Record<string, unknown>;
        assert.deepEqual(Object.keys(p), ['from', 'to', 'amount'], `${at}: TRANSFER payload`);
        assert.match(String(p['amount']), AMOUNT, `${at}: amount`);
        assert.match(String(p['from']), /^acc-\d{5,}$/);
        assert.match(String(p['to']), /^acc-\d{5,}$/);
        assert.notEqual(p['from'], p['to'], `${at}: transfer to itself`);
        transfer = { from: p['from'] as string, to: p['to'] as string, amount: p['amount'] as string };
        assert.deepEqual(readset, [transfer.from, transfer.to], `${at}: readset = the two accounts`);
        assert.deepEqual(writeset, readset, `${at}: writeset = readset`);
      } else {
        assert.equal(offset, 0, `${at}: only the genesis candidate at offset 0 lacks a statemap`);
        assert.deepEqual(readset, []);
        assert.deepEqual(writeset, []);
      }
      candidates.set(offset, {
        offset,
        xid: v['xid'] as string,
        snapshot: v['snapshot'] as number,
        readset: readset as string[],
        readvers: readvers as number[],
        writeset: writeset as string[],
        transfer,
        text: r.value as string,
      });
    } else {
      assert.equal(type, 'Decision', `${at}: messageType`);
      keysInOrder(v, DECISION_KEYS, at);
      for (const k of DECISION_KEYS) if (k !== 'safepoint') assert.ok(k in v, `${at}: decision lacks ${k}`);
      assert.ok(v['decision'] === 'committed' || v['decision'] === 'aborted', `${at}: decision`);
      assert.ok(isNat(v['version']), `${at}: version`);
      assert.ok(isNat(v['suffixStart']), `${at}: suffixStart`);
      assert.ok(v['duplicateVersion'] === null || isNat(v['duplicateVersion']), `${at}: duplicateVersion`);
      assert.ok(v['conflictVersion'] === null || isNat(v['conflictVersion']), `${at}: conflictVersion`);
      assert.match(String(v['time']), RFC3339, `${at}: time`);
      const metrics = v['metrics'] as Record<string, unknown>;
      assert.deepEqual(Object.keys(metrics), METRIC_KEYS, `${at}: metrics`);
      for (const k of METRIC_KEYS) assert.ok(isNat(metrics[k]), `${at}: metrics.${k}`);
      const version = v['version'] as number;
      const cand = candidates.get(version);
      assert.ok(cand, `${at}: decision for version ${version} comes before (or without) its candidate`);
      assert.equal(v['xid'], cand.xid, `${at}: decision xid differs from its candidate's`);
      assert.ok(!decisions.has(version), `${at}: second decision for version ${version}`);
      const committed = v['decision'] === 'committed';
      if (committed) {
        if (version === 0) assert.ok(!('safepoint' in v), `${at}: the genesis commit has no safepoint`);
        else {
          assert.ok(isNat(v['safepoint']), `${at}: a commit has a safepoint`);
          assert.ok((v['safepoint'] as number) < version, `${at}: safepoint must be below the version`);
        }
        assert.equal(v['conflictVersion'], null, `${at}: a commit has no conflictVersion`);
      } else {
        assert.ok(!('safepoint' in v), `${at}: an abort has no safepoint`);
      }
      const d: Decision = {
        offset,
        xid: v['xid'] as string,
        decision: v['decision'] as 'committed' | 'aborted',
        version,
        safepoint: v['safepoint'] as number | undefined,
        suffixStart: v['suffixStart'] as number,
        duplicateVersion: v['duplicateVersion'] as number | null,
        conflictVersion: v['conflictVersion'] as number | null,
      };
      if (d.duplicateVersion !== null) {
        const original = candidates.get(d.duplicateVersion);
        assert.ok(original && d.duplicateVersion < version, `${at}: duplicateVersion must name an earlier candidate`);
        assert.equal(original.xid, cand.xid, `${at}: a duplicate repeats the original's xid`);
        const od = decisions.get(d.duplicateVersion);
        assert.ok(od, `${at}: the original of a duplicate is decided first`);
        assert.equal(od.duplicateVersion, null, `${at}: a duplicate refers to an original`);
        assert.equal(d.decision, od.decision, `${at}: a duplicate has its original's outcome`);
        assert.equal(d.safepoint, od.safepoint, `${at}: a duplicate has its original's safepoint`);
      }
      decisions.set(version, d);
      decisionOrder.push(version);
    }
  }
  for (const v of candidates.keys()) assert.ok(decisions.has(v), `candidate ${v} has no decision`);
  // xids of originals are unique; a repeated xid is always a duplicate.
  const byXid = new Map<string, number>();
  for (const [v, c] of candidates) {
    const d = decisions.get(v)!;
    if (d.duplicateVersion === null) {
      assert.ok(!byXid.has(c.xid), `xid ${c.xid} of candidate ${v} already used by ${byXid.get(c.xid)}`);
      byXid.set(c.xid, v);
    } else {
      assert.equal(byXid.get(c.xid), d.duplicateVersion, `duplicate ${v} refers to the candidate with its xid`);
    }
  }
  return { firstOffset: startOffset, lastOffset: expected - 1, candidates, decisions, decisionOrder };
}

function cents(amount: string): number {
  const [whole, frac] = amount.split('.');
  return Number(whole) * 100 + Number(frac);
}

export interface ReplayResult {
  /** name -> { balanceCents, version } for every account touched or initially present. */
  readonly accounts: Map<string, { balanceCents: number; version: number }>;
  readonly committed: { version: number; safepoint: number | null }[];
  readonly duplicates: { version: number; duplicateVersion: number; outcome: string }[];
  readonly aborts: { R2: number; R3: number };
}

/**
 * Replays the log serially in candidate order and checks the certification rules on the
 * way: R2 (snapshot not below the suffix boundary by more than one), R3 (no committed
 * candidate read a stale version: every read key's readvers is the latest committed writer
 * of that key before it, so no committed writer lies unread between its snapshot and its
 * version), R4 safepoints, and that every abort is justified by R2 or R3.
 */
export function replayAndCheckRules(log: ParsedLog, accountNames: readonly string[], initialCents: number): ReplayResult {
  const accounts = new Map(accountNames.map((n) => [n, { balanceCents: initialCents, version: 0 }]));
  const committed: ReplayResult['committed'] = [];
  const duplicates: ReplayResult['duplicates'] = [];
  const aborts = { R2: 0, R3: 0 };
  const writer = (k: string): number => accounts.get(k)?.version ?? 0;
  const versions = [...log.candidates.keys()].sort((a, b) => a - b);
  for (const v of versions) {
    const c = log.candidates.get(v)!;
    const d = log.decisions.get(v)!;
    if (d.duplicateVersion !== null) {
      const original = log.candidates.get(d.duplicateVersion)!;
      assert.equal(c.text.replace(/"certificationStartedAt":\d+/, ''), original.text.replace(/"certificationStartedAt":\d+/, ''), `duplicate ${v} re-sends its original`);
      duplicates.push({ version: v, duplicateVersion: d.duplicateVersion, outcome: d.decision });
      continue;
    }
    if (c.transfer === null) continue; // genesis
    const latest = c.readset.map(writer);
    const r2 = c.snapshot < d.suffixStart - 1;
    if (d.decision === 'committed') {
      assert.ok(!r2, `committed ${v}: snapshot ${c.snapshot} below suffix boundary ${d.suffixStart} by more than one (R2)`);
      c.readset.forEach((k, i) => {
        assert.equal(c.readvers[i], latest[i], `committed ${v} read ${k} at version ${c.readvers[i]} but ${latest[i]} had committed a write to it (R3)`);
      });
      const expectedSafepoint = Math.max(...latest, d.suffixStart - 1);
      assert.equal(d.safepoint, expectedSafepoint, `committed ${v}: safepoint`);
      const amount = cents(c.transfer.amount);
      const from = accounts.get(c.transfer.from)!;
      const to = accounts.get(c.transfer.to)!;
      assert.ok(from.balanceCents >= amount, `committed ${v} overdraws ${c.transfer.from}`);
      from.balanceCents -= amount;
      to.balanceCents += amount;
      from.version = v;
      to.version = v;
      committed.push({ version: v, safepoint: d.safepoint ?? null });
    } else if (d.conflictVersion === null) {
      assert.ok(r2, `aborted ${v} without conflictVersion must be an R2 abort (snapshot ${c.snapshot}, suffixStart ${d.suffixStart})`);
      aborts.R2++;
    } else {
      const j = d.conflictVersion;
      assert.ok(!r2, `aborted ${v}: R2 applies first`);
      assert.ok(j > c.snapshot && j < v, `aborted ${v}: conflictVersion ${j} not between snapshot ${c.snapshot} and the version`);
      assert.ok(!c.readvers.includes(j), `aborted ${v}: conflictVersion ${j} was read`);
      assert.ok(latest.includes(j), `aborted ${v}: conflictVersion ${j} is not the latest committed writer of a read key`);
      aborts.R3++;
    }
  }
  return { accounts, committed, duplicates, aborts };
}
