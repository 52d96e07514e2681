/**
 * The vocabulary shared by every machine, actor and adapter: versions, statemaps,
 * the user's callbacks and the shape of a message source. Nothing here does I/O.
 */
import type { Observable } from 'rxjs';

/** A position in the certification log (the Kafka offset of a record). */
export type Version = number;

/** One entry of a candidate's statemap: exactly one key, the action, whose value is the payload. */
export type StatemapEntry = Readonly<Record<string, unknown>>;

/**
 * Statemaps that are not built yet: the parser has checked their text, and `entries(version)`
 * builds the one of the candidate at `version` (pure: every call gives an equal value). The
 * parser leaves statemaps this way, and they are built only when an install call for their
 * version starts (`installJob`).
 *
 * One is shared by the candidates of a whole chunk of a batch (hence the version): a deep queue
 * holds a statemap per waiting version, and an object each would be one more that every
 * young-generation collection it lives through copies (40 bytes per version, 9 % of the
 * throughput at 1 000 000 outstanding).
 */
export interface DeferredStatemap {
  entries(version: Version): readonly StatemapEntry[];
  /**
   * Optional: the installer's items for the candidate at `version`, built straight from the
   * text; must equal `statemapItems(entries(version), version, safepoint)`.
   */
  items?(version: Version, safepoint: Version | null): StatemapItem[];
}

/** A candidate's statemap, built or deferred. */
export type Statemap = readonly StatemapEntry[] | DeferredStatemap;

export function isDeferred(statemap: Statemap): statemap is DeferredStatemap {
  return !Array.isArray(statemap);
}

/** The entries of the statemap of the candidate at `version`. */
export function statemapEntries(statemap: Statemap, version: Version): readonly StatemapEntry[] {
  return isDeferred(statemap) ? statemap.entries(version) : statemap;
}

/** What an installer receives for each statemap entry (Talos's `StatemapItem`). */
export interface StatemapItem {
  readonly action: string;
  readonly version: Version;
  /** The version whose installation this one waits for; null for items that wait for nothing. */
  readonly safepoint: Version | null;
  readonly payload: unknown;
}

/** The user's install callback: apply every statemap of one version. Must be idempotent per version or run inside the adapter's exactly-once transaction. */
export interface Installer {
  install(statemaps: readonly StatemapItem[], version: Version): Promise<void>;
  /**
   * Optional: apply several independent versions in one go (for example one database
   * transaction). Jobs arrive in the order they became eligible, which is mostly but not
   * always version order (a version that waited for nothing can overtake one released by an
   * install), and every one of them was eligible on its own: none waits for another in the
   * same call, so applying them in any order keeps the serial order.
   */
  installBatch?(jobs: readonly InstallJob[]): Promise<void>;
}

/** Where the snapshot lives between runs. `updateSnapshot` is only ever called with a higher version than before. */
export interface SnapshotStore {
  getSnapshot(): Promise<Version>;
  updateSnapshot(version: Version): Promise<void>;
}

/** A record exactly as Kafka hands it over: its offset is the version. */
export interface RawRecord {
  readonly offset: number | string | bigint;
  readonly headers: Readonly<Record<string, string | Buffer | undefined>>;
  readonly value: string | Buffer | null;
  /** Where the record came from, for error messages (a topic, a file and line, ...). */
  readonly origin?: string;
}

/**
 * A stream of certification records plus the few controls the replicator needs.
 * `commit(version)` means: every record at or below `version` is done with and need not be
 * read again; a source never receives a version above the persisted snapshot.
 */
export interface MessageSource {
  readonly batches: Observable<readonly RawRecord[]>;
  commit(version: Version): Promise<void>;
  pause(): void;
  resume(): void;
  /** Optional backpressure short of a pause: wait `delayMs` after each batch before reading the next (0: no wait). */
  throttle?(delayMs: number): void;
  /**
   * Told once, before `batches` is subscribed: the replicator needs every record from this
   * offset on (the persisted snapshot + 1). A source that would start past it (Kafka: a group
   * offset moved forward, or a database restored from an older backup) starts there instead, and
   * fails when it cannot (retention deleted those records). Sources that always start at or
   * below it may leave this out.
   */
  readFrom?(offset: Version): void;
  /** Release the source (leave a consumer group, close a file). Called once, after the final commit. */
  close?(): Promise<void>;
  /**
   * The last offset the log holds, as far as the source knows (Kafka: the high watermark of the
   * latest fetch, minus one); null before it knows. Shown in the status and metrics as how far
   * reading is behind the log; nothing is decided on it.
   */
  endOffset?(): Version | null;
}

/** The installer's items for a version's statemap entries, one per entry (an entry has one key, its action). */
export function statemapItems(entries: readonly StatemapEntry[], version: Version, safepoint: Version | null): StatemapItem[] {
  // Sized up front: a pushed-to empty array reserves 17 slots, and most statemaps hold one entry.
  let count = 0;
  for (const entry of entries) for (const _ in entry) count += 1;
  const items = new Array<StatemapItem>(count);
  let at = 0;
  for (const entry of entries) {
    for (const action in entry) items[at++] = { action, version, safepoint, payload: entry[action] };
  }
  return items;
}

/** One version handed to the installer. */
export interface InstallJob {
  readonly version: Version;
  readonly statemaps: readonly StatemapItem[];
}

/**
 * A version as the queue dispatches it: its statemap as the parser left it. The installer's
 * backlog holds these, and `installJob` builds the installer's items only when the version's
 * install call starts. Behind a slow database the backlog is where a deep queue's versions wait
 * (eligible, dispatched, and not yet started), and built items there are six objects per version
 * that every young-generation collection they live through copies.
 */
export interface DispatchedVersion {
  readonly version: Version;
  /** As the decision gave it (the queue clamps it below the version only to schedule). */
  readonly safepoint: Version | null;
  readonly statemap: Statemap;
}

/** The installer's items for a dispatched version: built afresh on every attempt. */
export function installItems(dispatched: DispatchedVersion): StatemapItem[] {
  const { statemap, version, safepoint } = dispatched;
  if (isDeferred(statemap) && statemap.items !== undefined) return statemap.items(version, safepoint);
  return statemapItems(statemapEntries(statemap, version), version, safepoint);
}

/** What `installBatch` receives for a dispatched version. */
export function installJob(dispatched: DispatchedVersion): InstallJob {
  return { version: dispatched.version, statemaps: installItems(dispatched) };
}

export type InstallOutcome =
  | { readonly version: Version; readonly ok: true }
  | { readonly version: Version; readonly ok: false; readonly error: unknown };
