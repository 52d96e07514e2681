/**
 * A deterministic simulated Talos certifier: it invents a bank-transfer workload, certifies
 * every candidate with the STRIDE rules R1-R4 and writes the certification log exactly as it
 * appears on the Talos certification topic (header `messageType`, JSON value, offset =
 * version). Decisions follow their candidates a few records later, sometimes out of order,
 * and some candidates are re-sent (duplicates).
 *
 * Everything is generated lazily and in bounded memory: the certifier keeps per account a
 * short history of committed writers, a ring of the last `suffixSize` certified versions,
 * the candidates whose decisions are not yet published and the last 64 decided candidates
 * (to re-send as duplicates), nothing that grows with the log. JSON is built with string
 * templates. The same options (seed included) always give the same log, byte for byte.
 *
 * The cohort model behind readvers and snapshots: a cohort reads rows from its replicated
 * database, which holds the committed versions whose decisions are already published. So
 * readvers are usually the latest committed writer of each key, and the snapshot is a recent
 * committed version (up to `snapshotLag` commits back) below the published prefix. A key
 * whose latest commit is not yet published is read stale: R3 aborts the candidate (the
 * fewer the accounts and the longer the decision delay, the more often). On top of that,
 * with `staleReadRate` the cohort's view is cut just below the latest visible writer of an
 * account of a recent commit (R3 abort with `conflictVersion` = that writer, or R2 when the
 * missed write has already left the suffix), and with `oldSnapshotRate` the snapshot falls
 * below the certifier's suffix (R2 abort). A committed transfer therefore always read the
 * current balance, and the cohort only proposes amounts it saw covered: committed balances
 * never go negative.
 */
import type { RawRecord, Version } from '../../machines/domain.js';
import { Random, normalizeSeed, type Seed } from './random.js';

/** Knobs of the simulated workload. Every field is optional; see {@link DEFAULT_CERTIFIER_OPTIONS}. */
export interface CertifierOptions {
  /** Seed of the pseudo-random generator; the whole log is a function of the options. */
  readonly seed?: Seed;
  /** Number of distinct transactions (original candidates). Duplicates and the genesis record come on top. */
  readonly transactions?: number;
  /** Number of bank accounts (`acc-00001` ... ), at least 2. */
  readonly accounts?: number;
  /** Share of candidates whose cohort read a stale row (aborted by R3). */
  readonly staleReadRate?: number;
  /** Share of candidates whose snapshot is far behind the certifier's suffix (aborted by R2). */
  readonly oldSnapshotRate?: number;
  /** Share of candidate slots used to re-send an already decided candidate (same xid). */
  readonly duplicateRate?: number;
  /**
   * A decision is due 1 to `maxDecisionDelay + 1` record slots after its candidate (0: the
   * very next slot); decisions due at the same slot go out one after the other, in candidate order.
   */
  readonly maxDecisionDelay?: number;
  /** How many commits the cohort's snapshot may lag behind the latest commit (0..63). */
  readonly snapshotLag?: number;
  /** Number of certified candidates the certifier keeps in its suffix; the suffix head moves with it. */
  readonly suffixSize?: number;
  /** Offset of the first record: 1 by default. With 0, offset 0 holds a no-op "genesis" candidate (see {@link generateCertificationLog}). */
  readonly startOffset?: number;
  /** Initial balance of every account, a decimal string with at most 2 places. */
  readonly initialBalance?: string;
  /** Largest transfer amount, a decimal string with at most 2 places. */
  readonly maxAmount?: string;
  /** `agent` field of every message. */
  readonly agent?: string;
  /** `cohort` field of every message. */
  readonly cohort?: string;
  /** Epoch milliseconds of the simulated clock at offset 0 (timestamps grow by 1 ms per offset). */
  readonly baseTime?: number;
}

/** The options with every default filled in. */
export type ResolvedCertifierOptions = Required<CertifierOptions>;

export const DEFAULT_CERTIFIER_OPTIONS: ResolvedCertifierOptions = Object.freeze({
  seed: 1,
  transactions: 1000,
  accounts: 100,
  staleReadRate: 0.05,
  oldSnapshotRate: 0.002,
  duplicateRate: 0.01,
  maxDecisionDelay: 8,
  snapshotLag: 8,
  suffixSize: 1000,
  startOffset: 1,
  initialBalance: '1000.00',
  maxAmount: '100.00',
  agent: 'bank-agent',
  cohort: 'bank-cohort',
  baseTime: 1_700_000_000_000,
});

/** Header object of every candidate record (shared, frozen). */
export const CANDIDATE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ messageType: 'Candidate' });
/** Header object of every decision record (shared, frozen). */
export const DECISION_HEADERS: Readonly<Record<string, string>> = Object.freeze({ messageType: 'Decision' });

/** Value of `origin` on generated records. */
export const SIMULATED_ORIGIN = 'simulated-certifier';

/** Why a candidate was decided the way it was. */
export type CertificationRule = 'R1' | 'R2' | 'R3' | 'R4';

/** One account's state. */
export interface AccountState {
  readonly name: string;
  /** Balance as a decimal string with 2 places, e.g. `"1000.00"` or `"-0.50"`. */
  readonly balance: string;
  /** Balance in cents. */
  readonly balanceCents: number;
  /** The version of the last committed transfer that wrote the account, 0 if none. */
  readonly version: Version;
}

export interface CommittedVersion {
  readonly version: Version;
  readonly safepoint: Version | null;
}

export interface DuplicateCandidate {
  /** Offset of the re-sent candidate. */
  readonly version: Version;
  /** Offset of the original candidate it repeats. */
  readonly duplicateVersion: Version;
  readonly outcome: 'committed' | 'aborted';
}

export interface ExpectedEndState {
  /** Every account, in name order, after serially applying the committed transfers. */
  readonly accounts: ReadonlyMap<string, AccountState>;
  /** Committed original candidates in version order, with their safepoints (version 0 excluded: it is never installed). Empty when `collectCommitted` is false. */
  readonly committed: readonly CommittedVersion[];
  /** Re-sent candidates, in offset order. */
  readonly duplicates: readonly DuplicateCandidate[];
  readonly firstOffset: Version;
  /** Offset of the last record of the log (`firstOffset - 1` for an empty log). */
  readonly lastOffset: Version;
  readonly records: number;
  readonly candidates: number;
  readonly decisions: number;
  readonly committedCount: number;
  readonly abortedCount: number;
  /** Aborts of original candidates per rule. */
  readonly abortedByRule: { readonly R2: number; readonly R3: number };
  /** Sum of all balances in cents (constant: transfers move money). */
  readonly totalCents: number;
}

/** What the simulator knows about one candidate (also used for its decision). */
interface Tx {
  version: number;
  xid: string;
  from: number;
  to: number;
  amountCents: number;
  snapshot: number;
  readversFrom: number;
  readversTo: number;
  committed: boolean;
  rule: CertificationRule;
  safepoint: number; // -1 = none
  conflictVersion: number; // -1 = null
  suffixStart: number;
  /** -1 for an original, else the original's version. */
  duplicateOf: number;
  /** True for the no-op candidate at offset 0. */
  genesis: boolean;
  /** Set once the decision is published. */
  published: boolean;
}

const HISTORY = 8; // committed writers remembered per account
const RECENT = 64; // recent committed versions remembered for snapshots
const NONE = -1;

function parseCents(text: string, what: string): number {
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(text);
  if (!m) throw new RangeError(`${what} must be a non-negative decimal with at most 2 places, got ${JSON.stringify(text)}`);
  const cents = Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
  if (!Number.isSafeInteger(cents)) throw new RangeError(`${what} is too large`);
  return cents;
}

/** Formats cents as a decimal string with 2 places. */
export function formatCents(cents: number): string {
  const neg = cents < 0;
  const abs = neg ? -cents : cents;
  const whole = Math.floor(abs / 100);
  const frac = abs - whole * 100;
  return (neg ? '-' : '') + whole + (frac < 10 ? '.0' : '.') + frac;
}

/** Width of the zero-padded number in account names: at least 5 digits. */
function accountWidth(accounts: number): number {
  return Math.max(5, String(accounts).length);
}

/** Name of account `index` (0-based): `acc-00001` for index 0. */
export function accountName(index: number, accounts: number = DEFAULT_CERTIFIER_OPTIONS.accounts): string {
  return 'acc-' + String(index + 1).padStart(accountWidth(accounts), '0');
}

/** Fills defaults and validates. Throws a RangeError on an unusable option. */
export function resolveCertifierOptions(options: CertifierOptions = {}): ResolvedCertifierOptions {
  const o: ResolvedCertifierOptions = { ...DEFAULT_CERTIFIER_OPTIONS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  const int = (name: keyof CertifierOptions, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
    }
  };
  const rate = (name: keyof CertifierOptions, max: number): void => {
    const v = o[name];
    if (typeof v !== 'number' || !(v >= 0 && v <= max)) throw new RangeError(`${name} must be in [0, ${max}], got ${String(v)}`);
  };
  int('transactions', 0);
  int('accounts', 2, 100_000_000);
  int('maxDecisionDelay', 0, 1_000_000);
  int('snapshotLag', 0, RECENT - 1);
  int('suffixSize', 1, 100_000_000);
  int('startOffset', 0);
  int('baseTime', 0);
  rate('staleReadRate', 1);
  rate('oldSnapshotRate', 1);
  rate('duplicateRate', 0.9);
  normalizeSeed(o.seed);
  if (typeof o.agent !== 'string' || typeof o.cohort !== 'string') throw new RangeError('agent and cohort must be strings');
  parseCents(o.initialBalance, 'initialBalance');
  if (parseCents(o.maxAmount, 'maxAmount') < 1) throw new RangeError('maxAmount must be at least 0.01');
  return o;
}

/** The accounts before any transfer: every one at the initial balance and version 0. */
export function initialAccounts(options: CertifierOptions = {}): AccountState[] {
  const o = resolveCertifierOptions(options);
  const cents = parseCents(o.initialBalance, 'initialBalance');
  const balance = formatCents(cents);
  return Array.from({ length: o.accounts }, (_, i) => ({ name: accountName(i, o.accounts), balance, balanceCents: cents, version: 0 }));
}

const EVENT_DONE = 0;
const EVENT_CANDIDATE = 1;
const EVENT_DECISION = 2;
type EventKind = typeof EVENT_DONE | typeof EVENT_CANDIDATE | typeof EVENT_DECISION;

/**
 * The simulation proper. `step()` produces the next record's event: the offset in
 * `offset`, the candidate or decision in `tx`. Text formatting lives outside, so the
 * expected end state can be computed from the very same sequence of draws.
 */
class Simulation {
  readonly o: ResolvedCertifierOptions;
  private readonly rng: Random;
  private readonly accounts: number;
  readonly names: string[];
  readonly quotedNames: string[];
  /** Balance per account in cents. */
  readonly balance: Float64Array;
  /** Committed writers per account, newest first; NONE marks the end of what is known. */
  private readonly hist: Float64Array;
  private readonly recent = new Float64Array(RECENT);
  private readonly recentFrom = new Int32Array(RECENT);
  private readonly recentTo = new Int32Array(RECENT);
  private recentCount = 0;
  private readonly suffix: Float64Array;
  private suffixCount = 0;
  private readonly maxAmountCents: number;
  private readonly initialSnapshot: number;
  /** Committed versions whose decision is not yet published: invisible to cohorts. */
  private readonly unpublished = new Set<number>();
  /** Candidates in offset order whose decision may not be published yet. */
  private inFlight: Tx[] = [];
  private inFlightHead = 0;
  /** The published prefix at the current certification (every version up to it is published). */
  private prefix = -1;

  /** Decisions by due step, ring of `delaySlots` buckets. */
  private readonly buckets: Tx[][];
  private readonly delaySlots: number;
  private ready: Tx[] = [];
  private readyHead = 0;
  private pending = 0;
  /** Originals whose decision was already published, candidates for re-sending. */
  private readonly decided: Tx[] = [];
  private decidedNext = 0;

  private stepNo = 0;
  private originals = 0;
  private nextOffset: number;
  private genesisDue: boolean;

  offset = 0;
  tx: Tx | null = null;

  constructor(options: CertifierOptions) {
    this.o = resolveCertifierOptions(options);
    const o = this.o;
    this.rng = new Random(o.seed);
    this.accounts = o.accounts;
    this.names = Array.from({ length: o.accounts }, (_, i) => accountName(i, o.accounts));
    this.quotedNames = this.names.map((n) => '"' + n + '"');
    this.balance = new Float64Array(o.accounts).fill(parseCents(o.initialBalance, 'initialBalance'));
    this.hist = new Float64Array(o.accounts * HISTORY).fill(NONE);
    for (let i = 0; i < o.accounts; i++) this.hist[i * HISTORY] = 0; // every account starts at version 0
    this.suffix = new Float64Array(o.suffixSize);
    this.maxAmountCents = parseCents(o.maxAmount, 'maxAmount');
    this.initialSnapshot = Math.max(0, o.startOffset - 1);
    this.delaySlots = o.maxDecisionDelay + 2;
    this.buckets = Array.from({ length: this.delaySlots }, () => []);
    this.nextOffset = o.startOffset;
    this.genesisDue = o.startOffset === 0;
  }

  /**
   * Latest committed writer of `a` whose decision is published and that is at or below
   * `cut`, or 0 when the remembered history does not reach that far.
   */
  private visibleWriter(a: number, cut: number): number {
    const base = a * HISTORY;
    for (let i = 0; i < HISTORY; i++) {
      const v = this.hist[base + i]!;
      if (v === NONE) break;
      if (v <= cut && (v <= this.prefix || !this.unpublished.has(v))) return v;
    }
    return 0;
  }

  private recordWrite(a: number, version: number): void {
    const base = a * HISTORY;
    const h = this.hist;
    for (let i = base + HISTORY - 1; i > base; i--) h[i] = h[i - 1]!;
    h[base] = version;
  }

  /**
   * The committed version `skip` commits back among those at or below `cut` (within the
   * last RECENT commits), or `fallback` when there is none.
   */
  private recentCommitted(cut: number, skip: number, fallback: number): number {
    const n = Math.min(this.recentCount, RECENT);
    let left = skip;
    for (let lag = 0; lag < n; lag++) {
      const v = this.recent[(this.recentCount - 1 - lag) % RECENT]!;
      if (v > cut) continue;
      if (left === 0) return v;
      left--;
    }
    return fallback;
  }

  /** The highest offset p such that every candidate at or below p has its decision published. */
  private publishedPrefix(): number {
    const q = this.inFlight;
    while (this.inFlightHead < q.length && q[this.inFlightHead]!.published) this.inFlightHead++;
    if (this.inFlightHead === q.length) {
      q.length = 0;
      this.inFlightHead = 0;
      return this.nextOffset - 1;
    }
    if (this.inFlightHead > 1024) {
      this.inFlight = q.slice(this.inFlightHead);
      this.inFlightHead = 0;
    }
    return this.inFlight[this.inFlightHead]!.version - 1;
  }

  private suffixHead(version: number): number {
    if (this.suffixCount === 0) return version;
    if (this.suffixCount < this.suffix.length) return this.suffix[0]!;
    return this.suffix[this.suffixCount % this.suffix.length]!;
  }

  private schedule(tx: Tx): void {
    const delay = 1 + (this.o.maxDecisionDelay > 0 ? this.rng.int(this.o.maxDecisionDelay + 1) : 0);
    this.buckets[(this.stepNo + delay) % this.delaySlots]!.push(tx);
    this.pending++;
  }

  /** Certifies a new original candidate at `version` and updates the certifier's state. */
  private certify(version: number): Tx {
    const rng = this.rng;
    // A stale read targets an account of a recent commit (so the missed write is usually
    // still in the certifier's suffix, and R3 rather than R2 aborts the candidate).
    const staleDraw = rng.chance(this.o.staleReadRate) && this.recentCount > 0;
    let from: number;
    let to: number;
    if (staleDraw) {
      const k = (this.recentCount - 1 - rng.int(Math.min(this.recentCount, RECENT))) % RECENT;
      const hot = rng.chance(0.5) ? this.recentFrom[k]! : this.recentTo[k]!;
      let other = rng.int(this.accounts - 1);
      if (other >= hot) other++;
      if (rng.chance(0.5)) {
        from = hot;
        to = other;
      } else {
        from = other;
        to = hot;
      }
    } else {
      from = rng.int(this.accounts);
      to = rng.int(this.accounts - 1);
      if (to >= from) to++;
    }
    const xid = rng.uuid();

    this.prefix = this.publishedPrefix();
    const wFrom = this.hist[from * HISTORY]!; // latest committed writers
    const wTo = this.hist[to * HISTORY]!;
    const head = this.suffixHead(version);

    // The cohort's view: committed versions whose decision is published (all of them, or,
    // for a stale read, those below the latest visible writer of one of the keys). Its
    // snapshot is a committed version at or below both the view and the published prefix.
    let cut = Number.POSITIVE_INFINITY;
    let stale = false;
    if (staleDraw) {
      const vFrom = this.visibleWriter(from, cut);
      const vTo = this.visibleWriter(to, cut);
      if (vFrom > 0 || vTo > 0) {
        cut = (vFrom >= vTo ? vFrom : vTo) - 1;
        stale = true;
      }
    }
    const readversFrom = this.visibleWriter(from, cut);
    const readversTo = this.visibleWriter(to, cut);
    const seen = Math.min(cut, this.prefix);
    const lag = this.o.snapshotLag > 0 ? rng.int(this.o.snapshotLag + 1) : 0;
    // A stale view's snapshot stays below the version it missed, at worst right below it.
    let snapshot = this.recentCommitted(seen, lag, stale ? Math.max(0, seen) : this.initialSnapshot);
    if (rng.chance(this.o.oldSnapshotRate) && head >= 2) {
      // The cohort's replicator is stuck far behind: the snapshot falls below the suffix.
      snapshot = Math.max(0, head - 2 - rng.int(Math.min(head - 1, 100)));
    }

    // The amount: the cohort proposes what it saw covered (its view is current unless stale).
    let f = from;
    let t = to;
    let rf = readversFrom;
    let rt = readversTo;
    if (this.balance[f]! < 1 && this.balance[t]! >= 1) {
      f = to;
      t = from;
      rf = readversTo;
      rt = readversFrom;
    }
    const available = this.balance[f]!;
    const amountCents = available >= 1 ? 1 + rng.int(Math.min(this.maxAmountCents, available)) : 0;

    // Certification (R1 does not apply: a transfer always reads its two accounts).
    let committed: boolean;
    let rule: CertificationRule;
    let safepoint = NONE;
    let conflictVersion = NONE;
    if (snapshot < head - 1) {
      committed = false;
      rule = 'R2';
    } else if (wFrom > snapshot && wFrom !== readversFrom && wFrom !== readversTo) {
      committed = false;
      rule = 'R3';
      conflictVersion = wFrom;
    } else if (wTo > snapshot && wTo !== readversFrom && wTo !== readversTo) {
      committed = false;
      rule = 'R3';
      conflictVersion = wTo;
    } else {
      committed = true;
      rule = 'R4';
      safepoint = Math.max(wFrom, wTo, head - 1);
    }
    if (committed && (stale || readversFrom !== wFrom || readversTo !== wTo)) {
      throw new Error(`simulator bug: candidate ${version} committed after a stale read`);
    }

    if (committed) {
      this.balance[f] = this.balance[f]! - amountCents;
      this.balance[t] = this.balance[t]! + amountCents;
      this.recordWrite(from, version);
      this.recordWrite(to, version);
      this.recent[this.recentCount % RECENT] = version;
      this.recentFrom[this.recentCount % RECENT] = from;
      this.recentTo[this.recentCount % RECENT] = to;
      this.recentCount++;
      this.unpublished.add(version);
    }
    this.suffix[this.suffixCount % this.suffix.length] = version;
    this.suffixCount++;

    return {
      version,
      xid,
      from: f,
      to: t,
      amountCents,
      snapshot,
      readversFrom: rf,
      readversTo: rt,
      committed,
      rule,
      safepoint,
      conflictVersion,
      suffixStart: head,
      duplicateOf: NONE,
      genesis: false,
      published: false,
    };
  }

  private genesis(version: number): Tx {
    return {
      version,
      xid: this.rng.uuid(),
      from: 0,
      to: 0,
      amountCents: 0,
      snapshot: 0,
      readversFrom: 0,
      readversTo: 0,
      committed: true,
      rule: 'R1',
      safepoint: NONE,
      conflictVersion: NONE,
      suffixStart: version,
      duplicateOf: NONE,
      genesis: true,
      published: false,
    };
  }

  /** Advances to the next record. Returns its kind; `offset` and `tx` describe it. */
  step(): EventKind {
    for (;;) {
      const slot = this.stepNo % this.delaySlots;
      const bucket = this.buckets[slot]!;
      if (bucket.length > 0) {
        for (let i = 0; i < bucket.length; i++) this.ready.push(bucket[i]!);
        bucket.length = 0;
      }
      if (this.readyHead < this.ready.length) {
        const tx = this.ready[this.readyHead++]!;
        if (this.readyHead === this.ready.length) {
          this.ready.length = 0;
          this.readyHead = 0;
        } else if (this.readyHead > 1024) {
          this.ready = this.ready.slice(this.readyHead);
          this.readyHead = 0;
        }
        this.pending--;
        tx.published = true;
        if (tx.committed) this.unpublished.delete(tx.version);
        if (tx.duplicateOf === NONE && !tx.genesis) {
          if (this.decided.length < RECENT) this.decided.push(tx);
          else this.decided[this.decidedNext++ % RECENT] = tx;
        }
        this.stepNo++;
        this.offset = this.nextOffset++;
        this.tx = tx;
        return EVENT_DECISION;
      }
      if (this.genesisDue || this.originals < this.o.transactions) {
        const version = this.nextOffset++;
        let tx: Tx;
        if (this.genesisDue) {
          this.genesisDue = false;
          tx = this.genesis(version);
        } else if (this.o.duplicateRate > 0 && this.decided.length > 0 && this.rng.chance(this.o.duplicateRate)) {
          const orig = this.rng.pick(this.decided);
          tx = { ...orig, version, duplicateOf: orig.version, published: false };
        } else {
          this.originals++;
          tx = this.certify(version);
        }
        this.schedule(tx);
        this.inFlight.push(tx);
        this.stepNo++;
        this.offset = version;
        this.tx = tx;
        return EVENT_CANDIDATE;
      }
      if (this.pending === 0) {
        this.tx = null;
        return EVENT_DONE;
      }
      this.stepNo++; // nothing due yet: let time pass
    }
  }
}

/** Builds candidate and decision JSON text with string templates. */
class Formatter {
  private readonly agentCohort: string;
  private readonly baseTime: number;
  private timeSecond = -1;
  private timePrefix = '';

  constructor(private readonly sim: Simulation) {
    const o = sim.o;
    this.agentCohort = '"agent":' + JSON.stringify(o.agent) + ',"cohort":' + JSON.stringify(o.cohort);
    this.baseTime = o.baseTime;
  }

  candidate(tx: Tx): string {
    const t = this.baseTime + tx.version;
    if (tx.genesis) {
      return (
        '{"xid":"' + tx.xid + '",' + this.agentCohort + ',"snapshot":0,"readset":[],"readvers":[],"writeset":[],' +
        '"onCommit":{},"metadata":{},"publishedAt":' + t + ',"certificationStartedAt":' + t + ',"requestCreatedAt":' + t + '}'
      );
    }
    const from = this.sim.quotedNames[tx.from]!;
    const to = this.sim.quotedNames[tx.to]!;
    const keys = '[' + from + ',' + to + ']';
    const origin = tx.duplicateOf === NONE ? tx.version : tx.duplicateOf;
    const created = this.baseTime + origin - 1;
    return (
      '{"xid":"' + tx.xid + '",' + this.agentCohort + ',"snapshot":' + tx.snapshot +
      ',"readset":' + keys + ',"readvers":[' + tx.readversFrom + ',' + tx.readversTo + '],"writeset":' + keys +
      ',"statemap":[{"TRANSFER":{"from":' + from + ',"to":' + to + ',"amount":"' + formatCents(tx.amountCents) + '"}}]' +
      ',"onCommit":{},"metadata":{},"publishedAt":' + created + ',"certificationStartedAt":' + t + ',"requestCreatedAt":' + created + '}'
    );
  }

  decision(tx: Tx, offset: number): string {
    const ms = this.baseTime + offset;
    const candidateAt = this.baseTime + tx.version;
    return (
      '{"xid":"' + tx.xid + '",' + this.agentCohort +
      (tx.committed ? ',"decision":"committed","version":' : ',"decision":"aborted","version":') + tx.version +
      (tx.safepoint !== NONE ? ',"safepoint":' + tx.safepoint : '') +
      ',"suffixStart":' + tx.suffixStart +
      ',"duplicateVersion":' + (tx.duplicateOf === NONE ? 'null' : tx.duplicateOf) +
      ',"conflictVersion":' + (tx.conflictVersion === NONE ? 'null' : tx.conflictVersion) +
      ',"time":"' + this.time(ms) + '","metrics":{"candidatePublished":' + (candidateAt - 1) +
      ',"candidateReceived":' + candidateAt + ',"candidateProcessingStarted":' + candidateAt +
      ',"decisionCreatedAt":' + (ms - 1) + ',"dbSaveStarted":' + (ms - 1) + ',"dbSaveEnded":' + ms + '}}'
    );
  }

  /** RFC 3339 UTC time with milliseconds; the per-second prefix is cached. */
  private time(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.timeSecond) {
      this.timeSecond = second;
      this.timePrefix = new Date(second * 1000).toISOString().slice(0, 20); // "YYYY-MM-DDTHH:MM:SS."
    }
    const frac = ms - second * 1000;
    return this.timePrefix + (frac < 10 ? '00' : frac < 100 ? '0' : '') + frac + 'Z';
  }
}

/**
 * The certification log as a lazy sequence of records, in offset order, offsets contiguous
 * from `startOffset`. Each record: `offset` (a number), `headers` = `{ messageType:
 * 'Candidate' | 'Decision' }` (shared frozen objects), `value` = the JSON text, `origin` =
 * {@link SIMULATED_ORIGIN}.
 *
 * Every candidate gets exactly one decision, due 1 to `maxDecisionDelay + 1` record slots
 * later (decisions due at the same slot go out one after the other in candidate order, so
 * a decision may come a little later than due; a later candidate's decision may overtake
 * an earlier one's).
 * With `startOffset: 0` the record at offset 0 is a "genesis" candidate with empty
 * readset/writeset and no statemap, committed (R1) without safepoint: the replicator never
 * installs version 0, and this candidate would install nothing anyway.
 */
export function* generateCertificationLog(options: CertifierOptions = {}): Generator<RawRecord, void, undefined> {
  const sim = new Simulation(options);
  const fmt = new Formatter(sim);
  for (;;) {
    const kind = sim.step();
    if (kind === EVENT_DONE) return;
    const tx = sim.tx!;
    if (kind === EVENT_CANDIDATE) {
      yield { offset: sim.offset, headers: CANDIDATE_HEADERS, value: fmt.candidate(tx), origin: SIMULATED_ORIGIN };
    } else {
      yield { offset: sim.offset, headers: DECISION_HEADERS, value: fmt.decision(tx, sim.offset), origin: SIMULATED_ORIGIN };
    }
  }
}

/** The same log as {@link generateCertificationLog}, in arrays of up to `batchSize` records (a fresh array each time). */
export function* generateCertificationLogBatches(
  options: CertifierOptions = {},
  batchSize = 1000,
): Generator<RawRecord[], void, undefined> {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  let batch: RawRecord[] = [];
  for (const record of generateCertificationLog(options)) {
    batch.push(record);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

export interface ExpectedEndStateOptions {
  /** Collect the list of committed versions (one small object per commit). Default true. */
  readonly collectCommitted?: boolean;
}

/**
 * The state a correct replicator must reach after the whole log: the committed transfers
 * applied serially in candidate version order (duplicates applied once, aborted ones not
 * at all). Runs the same simulation as {@link generateCertificationLog} without formatting
 * any text, so it is cheaper than generating the log.
 */
export function expectedEndState(options: CertifierOptions = {}, opts: ExpectedEndStateOptions = {}): ExpectedEndState {
  const collect = opts.collectCommitted ?? true;
  const sim = new Simulation(options);
  const o = sim.o;
  const initial = parseCents(o.initialBalance, 'initialBalance');
  const balance = new Float64Array(o.accounts).fill(initial);
  const version = new Float64Array(o.accounts);
  const committed: CommittedVersion[] = [];
  const duplicates: DuplicateCandidate[] = [];
  let records = 0;
  let candidates = 0;
  let decisions = 0;
  let committedCount = 0;
  let abortedCount = 0;
  let r2 = 0;
  let r3 = 0;
  let lastOffset = o.startOffset - 1;
  for (;;) {
    const kind = sim.step();
    if (kind === EVENT_DONE) break;
    records++;
    lastOffset = sim.offset;
    if (kind === EVENT_DECISION) {
      decisions++;
      continue;
    }
    candidates++;
    const tx = sim.tx!;
    if (tx.duplicateOf !== NONE) {
      duplicates.push({ version: tx.version, duplicateVersion: tx.duplicateOf, outcome: tx.committed ? 'committed' : 'aborted' });
      continue;
    }
    if (tx.genesis) continue;
    if (!tx.committed) {
      abortedCount++;
      if (tx.rule === 'R2') r2++;
      else if (tx.rule === 'R3') r3++;
      continue;
    }
    committedCount++;
    if (collect) committed.push({ version: tx.version, safepoint: tx.safepoint === NONE ? null : tx.safepoint });
    balance[tx.from] = balance[tx.from]! - tx.amountCents;
    balance[tx.to] = balance[tx.to]! + tx.amountCents;
    version[tx.from] = tx.version;
    version[tx.to] = tx.version;
  }
  const accounts = new Map<string, AccountState>();
  let totalCents = 0;
  for (let i = 0; i < o.accounts; i++) {
    const cents = balance[i]!;
    if (cents !== sim.balance[i]) throw new Error(`simulator bug: replay of ${sim.names[i]} disagrees with the certifier`);
    totalCents += cents;
    const name = sim.names[i]!;
    accounts.set(name, { name, balance: formatCents(cents), balanceCents: cents, version: version[i]! });
  }
  return {
    accounts,
    committed,
    duplicates,
    firstOffset: o.startOffset,
    lastOffset,
    records,
    candidates,
    decisions,
    committedCount,
    abortedCount,
    abortedByRule: { R2: r2, R3: r3 },
    totalCents,
  };
}
