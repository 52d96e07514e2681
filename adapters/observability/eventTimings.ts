/**
 * Talos's per-candidate event timings, kept for every version while metrics are on, and turned
 * into latencies when the version's install completes.
 *
 * The eight moments of the reference, and where they fall in this design:
 *
 * | Talos event          | here                                                                 |
 * | -------------------- | -------------------------------------------------------------------- |
 * | candidate received   | the parsed batch holding the candidate reaches the root (SOURCE.RECORDS) |
 * | decision received    | the parsed batch holding its decision reaches the root               |
 * | statemap picked      | the replicator service hands the version to the queue ┐ one moment:  |
 * | queue received       | the queue accepts it (STATEMAPS)                      ┘ see below    |
 * | queue sent           | the queue dispatches it to the installer (INSTALL)    ┐ one moment   |
 * | installer received   | the installer machine puts it in its backlog          ┘              |
 * | install begin        | the install pool calls `install`/`installBatch` (RUN)                |
 * | install complete     | the call's outcome reaches the installer (POOL.SETTLED, one microtask after the promise settles) |
 *
 * Statemap picked and queue received coincide because the replicator service's STATEMAPS report
 * is routed by the root to the queue within the same synchronous run of the actor system as
 * the RECORDS event that completed the run (no channel in between). For a version whose own
 * decision completes a contiguous run, decision received, statemap picked and queue received
 * all fall in that one turn; it is picked later only when an earlier version was still
 * undecided. Queue sent and installer received are the same `sendTo` too. Candidates and
 * decisions of one batch share the batch's timestamp: they arrived together.
 *
 * Storage is a ring indexed by `version % capacity` with the version as key, allocated once:
 * no allocation per version, nothing to prune (versions covered by a refreshed snapshot, or
 * duplicates that never reach the queue, are simply overwritten later). A version whose slot
 * was taken over by one `capacity` offsets later loses its timings; its latencies are not
 * recorded rather than recorded wrong.
 */
import type { Version } from '../../machines/domain.js';

/** Latencies of one installed version, in milliseconds (null when a moment was not seen, e.g. a candidate read before a restart). */
export interface VersionLatencies {
  readonly version: Version;
  readonly candidateToInstall: number | null;
  readonly decisionToInstall: number | null;
  /** Queue received → install complete (Talos's repl_statemap_queue_latency). */
  readonly queueToInstall: number | null;
  /** Queue received → install begin: waiting for the safepoint, for a free install slot, and for retries. */
  readonly queueWait: number | null;
  /** Install begin → install complete (the attempt that succeeded). */
  readonly install: number | null;
}

/** All eight moments of one version (performance.now() milliseconds; NaN when not seen). */
export interface CandidateEventTimings {
  readonly version: Version;
  readonly candidateReceived: number;
  readonly decisionReceived: number;
  readonly statemapPicked: number;
  readonly queueReceived: number;
  readonly queueSent: number;
  readonly installerReceived: number;
  readonly installBegin: number;
  readonly installComplete: number;
}

const CANDIDATE = 0;
const DECISION = 1;
const QUEUED = 2;
const SENT = 3;
const BEGIN = 4;
const FIELDS = 5;

const delta = (from: number, to: number): number | null => (Number.isNaN(from) ? null : Math.max(0, to - from));

export class EventTimings {
  readonly #capacity: number;
  readonly #keys: Float64Array;
  /** FIELDS timestamps per slot, NaN when not seen. */
  readonly #times: Float64Array;
  readonly #onTimings: ((timings: CandidateEventTimings) => void) | null;

  /**
   * `capacity`: versions (offsets) tracked at once; round it well above the offsets between a
   * candidate and its install (twice the suffix capacity plus a source batch is plenty).
   */
  constructor(capacity: number, onTimings?: (timings: CandidateEventTimings) => void) {
    this.#capacity = Math.max(1024, Math.ceil(capacity));
    this.#keys = new Float64Array(this.#capacity).fill(-1);
    this.#times = new Float64Array(this.#capacity * FIELDS).fill(Number.NaN);
    this.#onTimings = onTimings ?? null;
  }

  /** The slot of `version`, claimed for it (and cleared) if another version held it. */
  #claim(version: Version): number {
    const slot = version % this.#capacity;
    if (this.#keys[slot] !== version) {
      this.#keys[slot] = version;
      this.#times.fill(Number.NaN, slot * FIELDS, slot * FIELDS + FIELDS);
    }
    return slot;
  }

  #set(version: Version, field: number, at: number): void {
    this.#times[this.#claim(version) * FIELDS + field] = at;
  }

  candidateReceived(version: Version, at: number): void {
    this.#set(version, CANDIDATE, at);
  }

  decisionReceived(version: Version, at: number): void {
    this.#set(version, DECISION, at);
  }

  /** Statemap picked = queue received. */
  queued(version: Version, at: number): void {
    this.#set(version, QUEUED, at);
  }

  /** Queue sent = installer received. */
  sent(version: Version, at: number): void {
    this.#set(version, SENT, at);
  }

  installBegun(version: Version, at: number): void {
    this.#set(version, BEGIN, at);
  }

  /** The install of `version` succeeded at `at`: its latencies, or null when its slot no longer holds it. */
  installed(version: Version, at: number): VersionLatencies | null {
    const slot = version % this.#capacity;
    if (this.#keys[slot] !== version) return null;
    const base = slot * FIELDS;
    const t = this.#times;
    const begin = t[base + BEGIN]!;
    const queued = t[base + QUEUED]!;
    if (this.#onTimings) {
      this.#onTimings({
        version,
        candidateReceived: t[base + CANDIDATE]!,
        decisionReceived: t[base + DECISION]!,
        statemapPicked: queued,
        queueReceived: queued,
        queueSent: t[base + SENT]!,
        installerReceived: t[base + SENT]!,
        installBegin: begin,
        installComplete: at,
      });
    }
    // Done with this version: a later one may take the slot without being mistaken for it.
    this.#keys[slot] = -1;
    return {
      version,
      candidateToInstall: delta(t[base + CANDIDATE]!, at),
      decisionToInstall: delta(t[base + DECISION]!, at),
      queueToInstall: delta(queued, at),
      queueWait: Number.isNaN(begin) ? null : delta(queued, begin),
      install: delta(begin, at),
    };
  }
}
