/**
 * Candidates' statemaps read one chunk of about `STATEMAP_CHUNK_BYTES` at a time
 * (`[text,text,...]`) rather than one call each: a call costs more than the few dozen bytes a
 * Talos statemap holds, and a chunk this size still decodes into an ordinary young string. The
 * chunk is built by `parseCheckedJson` (checkedJson.ts), since every byte of it was checked
 * already. Used by `parseBatch` (parseRecord.ts) and the worker parser's main-thread side
 * (workerParser.ts).
 *
 * Only for statemap bytes the fast path has checked: a JSON array (starting with '[' and ending
 * with ']', so no UTF-8 sequence runs across two of them), nested no deeper than the scanner
 * allows. Each array then decodes and builds to exactly what `JSON.parse` gives for it alone.
 *
 * Deferring (`beginStatemaps(true)`, the pipeline's parser): a chunk the walk can read keeps its
 * bytes in a buffer of its own, off the heap, and its candidates share a `DeferredStatemap` that
 * decodes and walks the statemap of a version when an install call for the version starts; a
 * version waiting in the queue or the installer's backlog then holds a share of the chunk (its
 * bytes and eight bytes of places) instead of its built statemap. A chunk the walk cannot read
 * (a backslash, `__proto__`, characters beyond ASCII, whose positions in the text would differ
 * from those in the bytes) is built at once, as without deferring.
 *
 * Synchronous use only: `add` candidates of one batch, then `finish()` before anything else can
 * use the module's scratch buffer.
 */
import type { DeferredStatemap, StatemapEntry, StatemapItem, Version } from '../../machines/domain.js';
import type { CandidateMessage } from '../../machines/messages.js';
import { parseCheckedJson, valuesCopiedByLastWalk, walkableAsciiBytes, walkFrom, walkStatemapItems } from './checkedJson.js';

export const STATEMAP_CHUNK_BYTES = 32 * 1024;
/** The most a chunk's versions may span (`ChunkStatemaps` keeps them as 32-bit offsets from its first). */
const MAX_SPAN = 0xffff_ffff;
let scratch = Buffer.allocUnsafeSlow(STATEMAP_CHUNK_BYTES * 2);
/** Candidates whose statemaps are in `scratch[1..at)`, in order; `scratch[0]` is left for '['. */
const owners: PendingCandidate[] = [];
/** Where each owner's statemap starts in `scratch`. */
const starts: number[] = [];
let at = 1;
/**
 * The versions the chunk's next candidate may have: above its last one, and at most `MAX_SPAN`
 * past its first. A chunk's candidates rise strictly in version, no further apart than its places
 * can say (a batch is read in offset order, so this only ends a chunk early for a record read twice).
 */
let lastVersion = -Infinity;
let spanEnd = Infinity;
/** Whether this batch's statemaps are deferred (see above). */
let deferring = false;

/** Chunks made so far: a chunk's serial number tells how long ago it was parsed (see `YOUNG_CHUNKS`). */
let chunksMade = 0;

/**
 * A chunk whose first statemap is read while fewer than this many chunks were made after it
 * (about 5 000 statemaps, 512 KiB of text) is read soon after it was parsed, as behind a database
 * that keeps up: its reads come in a burst, and it is decoded whole at the first (one decode of 32
 * KiB costs 3.5-7 ns per statemap, one per statemap 50-75 ns). Read later, it sits behind a deep
 * queue, where its versions' installs spread out (they become eligible by safepoint, not in
 * order) over several young-generation collections; a whole-chunk text would survive them and be
 * copied twice, into the survivor space and into the old generation, so each statemap is decoded
 * alone and its text dies with its install call. At 1 000 000 versions outstanding that took the
 * bytes those collections promote from about 150 to 66-91 MB per 1 000 000 transactions
 * (`--trace-gc-nvp`, several runs).
 */
const YOUNG_CHUNKS = 16;

/**
 * The statemaps of one chunk's candidates, each decoded and walked from its place in the chunk's
 * bytes when asked for. Shared by them all: a version waiting in a deep queue then holds no object of its
 * own for its statemap, only a share of this one.
 */
class ChunkStatemaps implements DeferredStatemap {
  /**
   * The chunk's bytes, off the heap: a collection neither visits nor copies them, however long
   * the chunk's versions wait.
   */
  readonly #bytes: Buffer;
  /** Undefined until the first read; then the whole chunk's text if it was read young (see `YOUNG_CHUNKS`), else null: each statemap is decoded alone. */
  #text: string | null | undefined = undefined;
  readonly #serial = chunksMade++;
  readonly #firstVersion: Version;
  /** Per candidate, in version order: its version minus `firstVersion`, then where its statemap starts in the bytes (off the heap: nothing for a collection to visit). */
  readonly #places: Uint32Array;
  /** The candidate looked up last: installs mostly go in version order, so the next one is usually the one after it. */
  #last = -1;
  constructor(bytes: Buffer, candidates: readonly PendingCandidate[], starts: readonly number[]) {
    this.#bytes = bytes;
    this.#firstVersion = candidates[0]!.version;
    this.#places = new Uint32Array(candidates.length * 2);
    for (let k = 0; k < candidates.length; k++) {
      this.#places[2 * k] = candidates[k]!.version - this.#firstVersion;
      this.#places[2 * k + 1] = starts[k]!;
    }
  }
  entries(version: Version): readonly StatemapEntry[] {
    const start = this.#start(version);
    const text = this.#wholeText();
    return (text !== null ? walkFrom(text, start) : walkFrom(this.#textAlone(start), 0)) as StatemapEntry[];
  }
  items(version: Version, safepoint: Version | null): StatemapItem[] {
    const start = this.#start(version);
    const text = this.#wholeText();
    return text !== null ? walkStatemapItems(text, start, version, safepoint) : walkStatemapItems(this.#textAlone(start), 0, version, safepoint);
  }
  /** At the first read, decides (see `YOUNG_CHUNKS`): the whole chunk's text, or null for a statemap at a time. */
  #wholeText(): string | null {
    if (this.#text === undefined) this.#text = chunksMade - this.#serial <= YOUNG_CHUNKS ? this.#bytes.toString('latin1') : null;
    return this.#text;
  }
  /**
   * The text of the statemap at `start` alone: up to the comma before the next one, or the
   * closing bracket. `start` must be what `#start` just returned (it leaves `#last` at that candidate).
   */
  #textAlone(start: number): string {
    const next = this.#last + 1;
    const end = 2 * next < this.#places.length ? this.#places[2 * next + 1]! - 1 : this.#bytes.length - 1;
    return this.#bytes.toString('latin1', start, end);
  }
  /** Where the statemap of the candidate at `version` starts in the bytes (and in the whole text: ASCII). */
  #start(version: Version): number {
    const offset = version - this.#firstVersion;
    const places = this.#places;
    const next = this.#last + 1;
    if (2 * next < places.length && places[2 * next] === offset) {
      this.#last = next;
      return places[2 * next + 1]!;
    }
    // Binary search among the chunk's candidates (a few hundred), whose versions rise strictly.
    let low = 0;
    let high = places.length / 2 - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = places[2 * mid]!;
      if (at === offset) {
        this.#last = mid;
        return places[2 * mid + 1]!;
      }
      if (at < offset) low = mid + 1;
      else high = mid - 1;
    }
    throw new RangeError(`no statemap for version ${version} in this chunk (versions ${this.#firstVersion} to ${this.#firstVersion + places[places.length - 2]!})`);
  }
}

/** A candidate message whose statemap is filled in by the next `finishStatemaps()`. */
export type PendingCandidate = { kind: 'candidate'; version: Version; statemap: CandidateMessage['statemap'] };

/** Placeholder for a statemap not read yet (never left in a message after `finishStatemaps`). */
export const STATEMAP_PENDING: readonly StatemapEntry[] = Object.freeze([]);

/**
 * The walk copies every long string value out, and that costs it its lead: statemaps full of ids
 * and UUIDs (more than one long value per `BYTES_PER_COPY` bytes of text) build faster with
 * `JSON.parse`, which copies as it reads (3 UUIDs per statemap: 422 against 629 ns per statemap
 * for the walk). After a walk finds that many, the next `JSON_PARSE_RUN` chunks go straight to
 * `JSON.parse`; then one is walked again, to see whether they still are.
 */
const BYTES_PER_COPY = 64;
const JSON_PARSE_RUN = 64;
let jsonParseRun = 0;

function decodeChunk(text: string): unknown {
  if (jsonParseRun > 0) {
    jsonParseRun -= 1;
    return JSON.parse(text);
  }
  const value = parseCheckedJson(text);
  if (valuesCopiedByLastWalk() * BYTES_PER_COPY > text.length) jsonParseRun = JSON_PARSE_RUN;
  return value;
}

/** Parses the statemaps copied into `scratch[1..at)` (each followed by a comma) and hands them to their candidates. */
function parseChunk(): void {
  if (owners.length === 0) return;
  scratch[0] = 0x5b; // '['
  scratch[at - 1] = 0x5d; // the last comma becomes ']'
  if (deferring && jsonParseRun === 0 && walkableAsciiBytes(scratch.subarray(0, at))) {
    // Copied out of the scratch buffer to a buffer of its own, exactly as long.
    const bytes = Buffer.allocUnsafeSlow(at);
    scratch.copy(bytes, 0, 0, at);
    const statemaps = new ChunkStatemaps(bytes, owners, starts);
    for (let k = 0; k < owners.length; k++) owners[k]!.statemap = statemaps;
  } else {
    const statemaps = decodeChunk(scratch.toString('utf8', 0, at)) as StatemapEntry[][];
    for (let k = 0; k < owners.length; k++) owners[k]!.statemap = statemaps[k]!;
  }
  emptyChunk();
  // Grown for one huge statemap: not kept at that size.
  if (scratch.length > STATEMAP_CHUNK_BYTES * 2) scratch = Buffer.allocUnsafeSlow(STATEMAP_CHUNK_BYTES * 2);
}

/** Queues `bytes[start..end)`, a checked statemap array, to become `candidate.statemap`. */
export function addStatemap(candidate: PendingCandidate, bytes: Uint8Array, start: number, end: number): void {
  const length = end - start;
  if (candidate.version <= lastVersion || candidate.version > spanEnd) parseChunk();
  if (at + length + 1 > scratch.length) {
    parseChunk();
    if (length + 2 > scratch.length) scratch = Buffer.allocUnsafeSlow(length + 2);
  }
  starts.push(at);
  // A native copy through a view: the view is allocated per candidate and dies at once, but a
  // JavaScript loop over the bytes took four times as long (about 220 against 50 ns for a
  // 93-byte statemap).
  scratch.set(bytes.subarray(start, end), at);
  at += length;
  scratch[at++] = 0x2c; // ','
  if (owners.length === 0) spanEnd = candidate.version + MAX_SPAN;
  lastVersion = candidate.version;
  owners.push(candidate);
  if (at >= STATEMAP_CHUNK_BYTES) parseChunk();
}

/** Reads every statemap queued so far into its candidate. */
export function finishStatemaps(): void {
  parseChunk();
}

/** Drops whatever was queued (after an exception left a batch half-read); what is queued next is built, not deferred. */
export function discardStatemaps(): void {
  emptyChunk();
  deferring = false;
}

function emptyChunk(): void {
  owners.length = 0;
  starts.length = 0;
  at = 1;
  lastVersion = -Infinity;
  spanEnd = Infinity;
}

/** Starts a batch: its statemaps are deferred when `defer` (see above), else built. */
export function beginStatemaps(defer: boolean): void {
  discardStatemaps();
  deferring = defer;
}
