/**
 * An in-memory cohort for tests of the whole pipeline: a database with the Talos banking
 * convention (every row carries the version that last wrote it; a statemap entry touches a row
 * only `WHERE version < $installVersion`, so a re-delivered version is a no-op), an installer
 * and a snapshot store on top of it, and a harness that runs replicators over it, one after the
 * other, with abrupt "crashes" or graceful stops in between.
 *
 * Everything is recorded on one global sequence (`seq`), so invariants can be checked after the
 * fact in happened-before terms: every install call (run, version, statemaps), every settled
 * install, the first time each version's transaction was committed to the database, every
 * snapshot read and write, every offset commit, every root snapshot the replicator exposed.
 *
 * Randomness (latency, injected failures, what a crash keeps) comes from one seeded generator,
 * so a fast-check counterexample replays the same decisions (timing itself is not replayable).
 */
import type { Subscription } from 'xstate';
import {
  createCohortReplicator,
  createMemorySource,
  silentLogger,
  type CohortReplicator,
  type CohortReplicatorEffects,
  type InstallJob,
  type Installer,
  type Logger,
  type MemorySource,
  type MessageSource,
  type RawRecord,
  type ReplicatorConfigInput,
  type SnapshotStore,
  type StatemapItem,
  type Version,
} from '../../index.js';
import { Random } from '../../adapters/workload/random.js';

// ---------------------------------------------------------------------------------------------
// The database

export interface Row {
  value: number | string | null;
  /** The version that last wrote the row (0: never written). */
  version: Version;
}

/**
 * Applies one statemap item to the rows, obeying the version guard. Returns how many rows it
 * changed (0: the version was already applied to every row it touches, or is older than them).
 */
export type StatemapApplier = (rows: Map<string, Row>, item: StatemapItem) => number;

function guardedWrite(rows: Map<string, Row>, key: string, version: Version, change: (row: Row) => void): number {
  let row = rows.get(key);
  if (!row) rows.set(key, (row = { value: null, version: 0 }));
  if (!(row.version < version)) return 0;
  change(row);
  row.version = version;
  return 1;
}

/** Parses a decimal amount ("10.00", "7") to cents. */
export function cents(amount: unknown): number {
  if (typeof amount === 'number') return Math.round(amount * 100);
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(amount));
  if (!match) throw new Error(`bad amount ${JSON.stringify(amount)}`);
  const value = Number(match[2]) * 100 + Number((match[3] ?? '0').padEnd(2, '0'));
  return match[1] ? -value : value;
}

/**
 * The actions tests use: `SET {key, value}`, `ADD {key, amount}`, and the banking example's
 * `TRANSFER {from, to, amount}` (amounts as decimal strings, balances kept in cents). Any other
 * action writes a row of its own (`<action>@<version>#<index>`), so it is still counted.
 */
export const defaultApplier: StatemapApplier = (rows, item) => {
  const payload = (item.payload ?? {}) as Record<string, unknown>;
  switch (item.action) {
    case 'SET':
      return guardedWrite(rows, String(payload.key), item.version, (row) => {
        row.value = (payload.value ?? null) as Row['value'];
      });
    case 'ADD':
      return guardedWrite(rows, String(payload.key), item.version, (row) => {
        row.value = Number(row.value ?? 0) + Number(payload.amount);
      });
    case 'TRANSFER': {
      const amount = cents(payload.amount);
      return (
        guardedWrite(rows, String(payload.from), item.version, (row) => {
          row.value = Number(row.value ?? 0) - amount;
        }) +
        guardedWrite(rows, String(payload.to), item.version, (row) => {
          row.value = Number(row.value ?? 0) + amount;
        })
      );
    }
    default:
      return guardedWrite(rows, `${item.action}@${item.version}`, item.version, (row) => {
        row.value = JSON.stringify(item.payload ?? null);
      });
  }
};

// ---------------------------------------------------------------------------------------------
// What is recorded

export type InstallOutcome =
  | 'pending'
  /** Applied and reported success. */
  | 'ok'
  /** Rolled back and reported failure. */
  | 'failed'
  /** Applied, but reported failure (a lost acknowledgement): the replicator must retry, idempotently. */
  | 'ambiguous'
  /** In flight when its process crashed: committed anyway, or rolled back. */
  | 'crash-applied'
  | 'crash-dropped';

export interface InstallCall {
  readonly seq: number;
  readonly run: number;
  readonly version: Version;
  readonly statemaps: readonly StatemapItem[];
  /** Calls of one `installBatch` share an id; null for `install`. */
  readonly batch: number | null;
  outcome: InstallOutcome;
  settledSeq: number | null;
}

export interface SnapshotWrite {
  readonly seq: number;
  readonly run: number;
  readonly version: Version;
  /** The store's value when the call started. */
  readonly storeBefore: Version;
  outcome: 'pending' | 'ok' | 'failed' | 'crash-applied' | 'crash-dropped';
  /** When the write took effect in the store (null: it did not). */
  appliedSeq: number | null;
}

export interface SnapshotChange {
  readonly seq: number;
  readonly version: Version;
  readonly by: 'write' | 'external' | 'crash';
}

export interface CommitRecord {
  readonly seq: number;
  readonly run: number;
  readonly version: Version;
  /** The store's persisted snapshot at the moment of the commit. */
  readonly persistedAtCommit: Version;
  /** False for an injected failure (the source did not commit). */
  readonly ok: boolean;
}

export interface Observation {
  readonly seq: number;
  readonly snapshot: Version | null;
  readonly persisted: Version | null;
  readonly committed: Version | null;
  readonly state: string;
}

export type RunEnd =
  | { readonly kind: 'done'; readonly outcome: 'stopped' | 'failed'; readonly output: ReplicatorOutput }
  | { readonly kind: 'crashed' }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'timeout'; readonly state: string; readonly detail: string };

export interface ReplicatorOutput {
  readonly outcome: 'stopped' | 'failed';
  readonly snapshot: Version | null;
  readonly persisted: Version | null;
  readonly committed: Version | null;
  readonly error: Error | null;
}

// ---------------------------------------------------------------------------------------------
// Options

export type InjectedOutcome = 'ok' | 'fail' | 'ambiguous';

export interface InstallContext {
  readonly version: Version;
  readonly run: number;
  /** 1 for the first call of this version in this run. */
  readonly attempt: number;
  readonly random: Random;
}

export interface MemoryCohortOptions {
  readonly seed?: number;
  /** The persisted snapshot before the first run. */
  readonly initialSnapshot?: Version;
  /** Rows before the first run (already containing every version up to `initialSnapshot`). */
  readonly initialRows?: ReadonlyMap<string, Row>;
  /** Versions whose installation completed before the first run (their completion is recorded at seq 0). */
  readonly preinstalled?: Iterable<Version>;
  readonly applier?: StatemapApplier;
  /** Milliseconds an install takes (0: settles on a microtask). Default 0. */
  readonly installLatency?: (context: InstallContext) => number;
  /** Decides whether an install call succeeds. Default: always. */
  readonly installOutcome?: (context: InstallContext) => InjectedOutcome;
  /** Awaited before an install does anything (scenarios use it to hold installs back). */
  readonly installGate?: (version: Version, run: number) => Promise<void> | undefined;
  /** Give the installer an `installBatch` method (needed for `installBatchSize` > 1). */
  readonly batch?: boolean;
  /** Milliseconds a getSnapshot or updateSnapshot call takes (0: a microtask). Default 0. */
  readonly snapshotLatency?: (random: Random) => number;
  /** Decides whether the n-th `getSnapshot` call (1-based, over all runs) fails. */
  readonly getSnapshotFails?: (call: number) => boolean;
  /** Decides whether the n-th `updateSnapshot` call (1-based, over all runs) fails. */
  readonly updateSnapshotFails?: (call: number, version: Version, random: Random) => boolean;
  /** Decides whether an offset commit fails. */
  readonly commitFails?: (version: Version, random: Random) => boolean;
  /** Chance that an operation in flight when its process crashes is committed anyway. Default 0.5. */
  readonly crashApplyChance?: number;
}

export interface StartRunOptions {
  /** Records to feed this run's memory source (typically the log from some offset on). */
  readonly records: readonly RawRecord[];
  readonly config?: ReplicatorConfigInput;
  readonly logger?: Logger;
  /** Records per delivered batch of the memory source. */
  readonly maxBatch?: number;
  /**
   * How the records are pushed: all at once (default), or in chunks of up to `chunk` records
   * with a pause of up to `pauseMs` (0: a macrotask turn) between chunks.
   */
  readonly feed?: { readonly chunk: number; readonly pauseMs?: number };
  /** The replicator's batch parser (default: parseBatch on the main thread). */
  readonly parse?: CohortReplicatorEffects['parse'];
  /** Call `source.end()` after the last record (default true). */
  readonly end?: boolean;
  /** Crash this run once it has made this many install calls (0: right after it starts). */
  readonly crashAfterInstallCalls?: number;
  /** Send this run a graceful STOP once it has made this many install calls (0: right after it starts). */
  readonly stopAfterInstallCalls?: number;
  /** Called (synchronously, inside the install call) with the number of install calls this run made so far. */
  readonly onInstallCall?: (count: number, run: CohortRun) => void;
  /** Safety net: resolve `ended` with a timeout after this many ms. Default 5000. */
  readonly timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// One run: one replicator process

interface PendingOp {
  readonly apply: () => void;
  readonly drop: () => void;
}

export class CohortRun {
  readonly observations: Observation[] = [];
  readonly commits: CommitRecord[] = [];
  /** The snapshot `getSnapshot` returned to this run (the last successful read at start). */
  loaded: Version | null = null;
  pauses = 0;
  resumes = 0;
  installCalls = 0;
  crashed = false;
  feedDone = false;
  /** Crash once this many install calls were made (0: right after the start). */
  crashAt: number | undefined = undefined;
  /** Send STOP once this many install calls were made (0: right after the start). */
  stopAt: number | undefined = undefined;
  /** The seq at which STOP was sent, if it was. */
  stopSeq: number | null = null;
  onInstallCall: ((count: number, run: CohortRun) => void) | undefined = undefined;
  /** Settles when the run reaches a final state, crashes, errors or times out. */
  readonly ended: Promise<RunEnd>;
  readonly pending = new Set<PendingOp>();
  actor!: CohortReplicator;
  #resolve!: (end: RunEnd) => void;
  #settled = false;
  #subscription: Subscription | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly index: number,
    readonly source: MemorySource,
    readonly firstOffset: Version | null,
  ) {
    this.ended = new Promise<RunEnd>((resolve) => (this.#resolve = resolve));
  }

  /** The memory source as the replicator sees it: every commit, pause and resume is recorded. */
  wrapSource(cohort: MemoryCohort): MessageSource {
    const source = this.source;
    return {
      batches: source.batches,
      commit: async (version) => {
        const ok = !cohort.commitFails(version);
        this.commits.push({ seq: cohort.tick(), run: this.index, version, persistedAtCommit: cohort.persisted, ok });
        if (!ok) throw new Error(`injected commit failure of offset ${version}`);
        await source.commit(version);
      },
      pause: () => {
        this.pauses += 1;
        source.pause();
      },
      resume: () => {
        this.resumes += 1;
        source.resume();
      },
      throttle: (delayMs) => source.throttle?.(delayMs),
      close: async () => {
        await source.close?.();
      },
    };
  }

  attach(cohort: MemoryCohort, actor: CohortReplicator, timeoutMs: number): void {
    this.actor = actor;
    let last = '';
    this.#subscription = actor.subscribe({
      next: (snapshot) => {
        const context = snapshot.context;
        const state = typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value);
        const key = `${context.snapshot}|${context.persisted}|${context.committed}|${state}`;
        if (key !== last) {
          last = key;
          this.observations.push({ seq: cohort.tick(), snapshot: context.snapshot, persisted: context.persisted, committed: context.committed, state });
        }
        if (snapshot.status === 'done') {
          const output = snapshot.output as ReplicatorOutput;
          this.settle({ kind: 'done', outcome: output.outcome, output });
        }
      },
      error: (error) => this.settle({ kind: 'error', error }),
    });
    this.#timer = setTimeout(() => {
      const snapshot = actor.getSnapshot();
      const detail = `source paused=${this.source.paused} buffered=${this.source.buffered}; pending ops=${this.pending.size}; ` + `context=${JSON.stringify({ ...snapshot.context, config: undefined })}`;
      this.settle({ kind: 'timeout', state: JSON.stringify(snapshot.value), detail });
      actor.stop();
    }, timeoutMs);
  }

  settle(end: RunEnd): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#subscription?.unsubscribe();
    this.#resolve(end);
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** The root actor's in-memory snapshot as last observed, or null. */
  get lastObservedSnapshot(): Version | null {
    return this.observations.at(-1)?.snapshot ?? null;
  }
}

// ---------------------------------------------------------------------------------------------
// The cohort

export class MemoryCohort {
  readonly rows: Map<string, Row>;
  readonly random: Random;
  readonly installCalls: InstallCall[] = [];
  /** First seq at which each version's transaction was committed to the database. */
  readonly completedAt = new Map<Version, number>();
  /** Per `version#entryIndex`: how many times the entry changed at least one row. */
  readonly entryApplications = new Map<string, number>();
  readonly snapshotWrites: SnapshotWrite[] = [];
  readonly snapshotChanges: SnapshotChange[] = [];
  readonly snapshotReads: Array<{ seq: number; run: number; ok: boolean; value: Version | null }> = [];
  readonly runs: CohortRun[] = [];
  #seq = 0;
  #persisted: Version;
  #getCalls = 0;
  #updateCalls = 0;
  #batches = 0;
  readonly #options: MemoryCohortOptions;
  readonly #applier: StatemapApplier;

  constructor(options: MemoryCohortOptions = {}) {
    this.#options = options;
    this.random = new Random(options.seed ?? 1);
    this.#persisted = options.initialSnapshot ?? 0;
    this.rows = new Map([...(options.initialRows ?? new Map<string, Row>())].map(([key, row]) => [key, { ...row }]));
    for (const version of options.preinstalled ?? []) this.completedAt.set(version, 0);
    this.#applier = options.applier ?? defaultApplier;
  }

  /** The next number of the global sequence. */
  tick(): number {
    this.#seq += 1;
    return this.#seq;
  }

  /** The store's persisted snapshot. */
  get persisted(): Version {
    return this.#persisted;
  }

  /** Another process moved the snapshot (Talos's UpdateSnapshot): only ever raises it. */
  raiseSnapshot(version: Version): void {
    if (version <= this.#persisted) return;
    this.#persisted = version;
    this.snapshotChanges.push({ seq: this.tick(), version, by: 'external' });
  }

  /**
   * Another process installs `jobs` (in the given order, each its own transaction, under the
   * version guard): what a cohort sharing the database does before it raises the snapshot.
   */
  externalInstall(jobs: readonly InstallJob[]): void {
    for (const job of jobs) this.#apply([job]);
  }

  /** Whether an offset commit fails (the `commitFails` option). */
  commitFails(version: Version): boolean {
    return this.#options.commitFails?.(version, this.random) ?? false;
  }

  /** The highest offset committed (successfully) by any run, or null. */
  get lastCommitted(): Version | null {
    let max: Version | null = null;
    for (const run of this.runs) for (const commit of run.commits) if (commit.ok && (max === null || commit.version > max)) max = commit.version;
    return max;
  }

  get currentRun(): CohortRun | undefined {
    return this.runs.at(-1);
  }

  // -- effects bound to one run -----------------------------------------------------------------

  /** A fresh run record with its memory source, installer and snapshot store (not started). */
  openRun(options: { readonly maxBatch?: number; readonly firstOffset?: Version | null } = {}): { run: CohortRun; installer: Installer; snapshotStore: SnapshotStore; source: MessageSource } {
    const source = createMemorySource(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch });
    const run = new CohortRun(this.runs.length, source, options.firstOffset ?? null);
    this.runs.push(run);
    return { run, installer: this.#installerFor(run), snapshotStore: this.#storeFor(run), source: run.wrapSource(this) };
  }

  /** Creates, starts and feeds a replicator over this cohort. */
  startRun(options: StartRunOptions): CohortRun {
    const firstOffset = options.records.length > 0 ? Number(options.records[0]!.offset) : null;
    const { run, installer, snapshotStore, source } = this.openRun({ ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }), firstOffset });
    const actor = createCohortReplicator({
      source,
      installer,
      snapshotStore,
      logger: options.logger ?? silentLogger,
      ...(options.config ? { config: options.config } : {}),
      ...(options.parse ? { parse: options.parse } : {}),
    });
    run.attach(this, actor, options.timeoutMs ?? 5000);
    run.onInstallCall = options.onInstallCall;
    const crashAt = options.crashAfterInstallCalls;
    if (crashAt !== undefined) {
      run.crashAt = crashAt;
      if (crashAt === 0) setImmediate(() => this.crash(run));
    }
    const stopAt = options.stopAfterInstallCalls;
    if (stopAt !== undefined) {
      run.stopAt = stopAt;
      if (stopAt === 0) setImmediate(() => this.stop(run));
    }
    actor.start();
    void this.#feed(run, options);
    return run;
  }

  async #feed(run: CohortRun, options: StartRunOptions): Promise<void> {
    const records = options.records;
    const chunk = options.feed?.chunk ?? records.length;
    for (let start = 0; start < records.length; start += Math.max(1, chunk)) {
      if (run.crashed || run.settled) return;
      run.source.push(records.slice(start, start + Math.max(1, chunk)));
      if (options.feed && start + chunk < records.length) await pause(options.feed.pauseMs ?? 0);
    }
    if (run.crashed || run.settled) return;
    if (options.end ?? true) run.source.end();
    run.feedDone = true;
  }

  /**
   * Kills a run abruptly: the root actor is stopped (no drain, no final persist, no commit), the
   * memory source stops delivering, and every install or snapshot write still in flight is
   * either committed (with `crashApplyChance`) or rolled back, as a database would do with the
   * transactions of a dead client. The rows, the persisted snapshot and the commits stay.
   */
  crash(run: CohortRun): void {
    if (run.crashed || run.settled) return;
    run.crashed = true;
    run.actor.stop();
    const chance = this.#options.crashApplyChance ?? 0.5;
    for (const op of [...run.pending]) {
      if (this.random.chance(chance)) op.apply();
      else op.drop();
    }
    run.pending.clear();
    run.settle({ kind: 'crashed' });
  }

  /** Asks a run to stop gracefully (STOP), once. */
  stop(run: CohortRun): void {
    if (run.stopSeq !== null || run.crashed || run.settled) return;
    run.stopSeq = this.tick();
    run.actor.send({ type: 'STOP' });
  }

  #installerFor(run: CohortRun): Installer {
    const attempts = new Map<Version, number>();
    const contextOf = (version: Version): InstallContext => {
      const attempt = (attempts.get(version) ?? 0) + 1;
      attempts.set(version, attempt);
      return { version, run: run.index, attempt, random: this.random };
    };
    const perform = async (jobs: readonly InstallJob[], batch: number | null): Promise<void> => {
      const calls = jobs.map((job): InstallCall => ({ seq: this.tick(), run: run.index, version: job.version, statemaps: job.statemaps, batch, outcome: 'pending', settledSeq: null }));
      this.installCalls.push(...calls);
      const contexts = jobs.map((job) => contextOf(job.version));
      run.installCalls += jobs.length;
      const crashAt = run.crashAt;
      if (crashAt !== undefined && crashAt > 0 && run.installCalls >= crashAt) setImmediate(() => this.crash(run));
      const stopAt = run.stopAt;
      if (stopAt !== undefined && stopAt > 0 && run.installCalls >= stopAt) setImmediate(() => this.stop(run));
      run.onInstallCall?.(run.installCalls, run);

      let settledByCrash = false;
      const op: PendingOp = {
        apply: () => {
          settledByCrash = true;
          this.#apply(jobs);
          for (const call of calls) this.#settleCall(call, 'crash-applied');
        },
        drop: () => {
          settledByCrash = true;
          for (const call of calls) this.#settleCall(call, 'crash-dropped');
        },
      };
      run.pending.add(op);
      try {
        for (const job of jobs) await this.#options.installGate?.(job.version, run.index);
        const latency = this.#options.installLatency?.(contexts[0]!) ?? 0;
        await pause(latency);
      } finally {
        run.pending.delete(op);
      }
      if (settledByCrash || run.crashed) {
        // The process is gone: nobody is listening, and the crash already decided the fate of this transaction.
        if (!settledByCrash) op.drop();
        return;
      }
      const outcome = this.#options.installOutcome?.(contexts[0]!) ?? 'ok';
      if (outcome === 'fail') {
        for (const call of calls) this.#settleCall(call, 'failed');
        throw new Error(`injected install failure of version${jobs.length > 1 ? 's' : ''} ${jobs.map((job) => job.version).join(', ')}`);
      }
      this.#apply(jobs);
      if (outcome === 'ambiguous') {
        for (const call of calls) this.#settleCall(call, 'ambiguous');
        throw new Error(`injected lost acknowledgement of version${jobs.length > 1 ? 's' : ''} ${jobs.map((job) => job.version).join(', ')}`);
      }
      for (const call of calls) this.#settleCall(call, 'ok');
    };
    const installer: Installer = {
      install: (statemaps, version) => perform([{ version, statemaps }], null),
    };
    if (this.#options.batch) {
      (installer as { installBatch?: Installer['installBatch'] }).installBatch = (jobs) => {
        this.#batches += 1;
        return perform(jobs, this.#batches);
      };
    }
    return installer;
  }

  #settleCall(call: InstallCall, outcome: InstallOutcome): void {
    call.outcome = outcome;
    call.settledSeq = this.tick();
  }

  /** One database transaction: every entry of every job, with the version guard per row. */
  #apply(jobs: readonly InstallJob[]): void {
    const seq = this.tick();
    for (const job of jobs) {
      job.statemaps.forEach((item, index) => {
        if (this.#applier(this.rows, item) > 0) {
          const key = `${job.version}#${index}`;
          this.entryApplications.set(key, (this.entryApplications.get(key) ?? 0) + 1);
        }
      });
      if (!this.completedAt.has(job.version)) this.completedAt.set(job.version, seq);
    }
  }

  #storeFor(run: CohortRun): SnapshotStore {
    return {
      getSnapshot: async () => {
        this.#getCalls += 1;
        const call = this.#getCalls;
        await pause(this.#options.snapshotLatency?.(this.random) ?? 0);
        if (this.#options.getSnapshotFails?.(call)) {
          this.snapshotReads.push({ seq: this.tick(), run: run.index, ok: false, value: null });
          throw new Error(`injected getSnapshot failure (call ${call})`);
        }
        const value = this.#persisted;
        this.snapshotReads.push({ seq: this.tick(), run: run.index, ok: true, value });
        if (run.loaded === null) run.loaded = value;
        return value;
      },
      updateSnapshot: async (version) => {
        this.#updateCalls += 1;
        const call = this.#updateCalls;
        const write: SnapshotWrite = { seq: this.tick(), run: run.index, version, storeBefore: this.#persisted, outcome: 'pending', appliedSeq: null };
        this.snapshotWrites.push(write);
        let settledByCrash = false;
        const op: PendingOp = {
          apply: () => {
            settledByCrash = true;
            write.outcome = 'crash-applied';
            write.appliedSeq = this.tick();
            this.#store(version, 'crash');
          },
          drop: () => {
            settledByCrash = true;
            write.outcome = 'crash-dropped';
          },
        };
        run.pending.add(op);
        try {
          await pause(this.#options.snapshotLatency?.(this.random) ?? 0);
        } finally {
          run.pending.delete(op);
        }
        if (settledByCrash || run.crashed) {
          if (!settledByCrash) op.drop();
          return;
        }
        if (this.#options.updateSnapshotFails?.(call, version, this.random)) {
          write.outcome = 'failed';
          throw new Error(`injected updateSnapshot(${version}) failure`);
        }
        write.outcome = 'ok';
        write.appliedSeq = this.tick();
        this.#store(version, 'write');
      },
    };
  }

  /** `UPDATE cohort_snapshot SET version = $1 WHERE version < $1`. */
  #store(version: Version, by: SnapshotChange['by']): void {
    if (version <= this.#persisted) return;
    this.#persisted = version;
    this.snapshotChanges.push({ seq: this.tick(), version, by });
  }

  // -- queries ------------------------------------------------------------------------------------

  /** Install calls of one version, in call order. */
  callsOf(version: Version): InstallCall[] {
    return this.installCalls.filter((call) => call.version === version);
  }

  /** Versions install was called for, in call order (with repeats). */
  get calledVersions(): Version[] {
    return this.installCalls.map((call) => call.version);
  }

  /** Row values by key (for comparing with an expected end state). */
  values(): Map<string, Row['value']> {
    return new Map([...this.rows].map(([key, row]) => [key, row.value]));
  }
}

/** Waits `ms` milliseconds; 0 waits a microtask, -1 a macrotask turn. */
export function pause(ms: number): Promise<void> {
  if (ms > 0) return new Promise((resolve) => setTimeout(resolve, ms));
  if (ms < 0) return new Promise((resolve) => setImmediate(resolve));
  return Promise.resolve();
}

/** A promise with its resolver, for holding installs back in scenarios. */
export interface Gate {
  readonly promise: Promise<void>;
  open(): void;
  readonly opened: boolean;
}

export function gate(): Gate {
  let open!: () => void;
  let opened = false;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return {
    promise,
    open() {
      opened = true;
      open();
    },
    get opened() {
      return opened;
    },
  };
}

/** A logger that keeps every line (level, message, meta). */
export function recordingLogger(): Logger & { readonly lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push(meta === undefined ? { level, message } : { level, message, meta });
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
