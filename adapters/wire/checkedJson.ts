/**
 * Builds the value of JSON text that is already known to be valid: statemaps the field scanner
 * has checked byte by byte (statemapChunks.ts). Checking nothing, it builds the same value as
 * `JSON.parse` in less time when its strings are short (a walk in JavaScript over the decoded
 * text, where `JSON.parse` re-validates every character: 300 against 380 ns for a Talos banking
 * statemap, and half the time within a batch); the statemaps were the largest single cost left
 * in the pipeline's main thread (profile in issue 3). Long string values must be copied out
 * (`SLICED_FROM`), which makes the walk the slower of the two for statemaps full of ids;
 * statemapChunks.ts then uses `JSON.parse`.
 *
 * Never hand it text that was not checked: it does not notice errors, it builds garbage.
 *
 * It leaves to `JSON.parse` whatever a plain walk would build differently:
 * - a backslash anywhere: escapes need decoding, and then the next quote may not close a string;
 * - the key `__proto__`: `JSON.parse` makes it an own property, an assignment would set the
 *   prototype;
 * - an `Object.prototype` with an accessor or a read-only property (frozen intrinsics, a
 *   hardened runtime): an assignment would call the setter or throw, where `JSON.parse` defines
 *   an own property.
 * Everything else (duplicate keys: the last value, in the first one's place; integer-like keys
 * first; numbers rounded as `Number` rounds them, which is what `JSON.parse` does) comes out
 * the same; test/wire/checkedJson.test.ts compares the two on random values.
 */
import { isAscii } from 'node:buffer';
import type { StatemapItem, Version } from '../../machines/domain.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const LETTER_T = 0x74;
const LETTER_F = 0x66;
const LETTER_N = 0x6e;

/** The text being walked and the index of the next character: module state, so the walk allocates only the values. */
let text = '';
let at = 0;

/** Skips JSON whitespace; returns the character code at the new position. */
function skipSpace(): number {
  let c = text.charCodeAt(at);
  // Compact JSON has none: anything above the space ends the run at the first test.
  while (c <= 0x20 && (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) c = text.charCodeAt(++at);
  return c;
}

/**
 * V8 makes a substring this long or longer a view into the whole text (a sliced string), which
 * would keep the chunk's 32 KiB alive for as long as anyone keeps the value: an installer that
 * caches one account id per statemap could pin a chunk per id. `JSON.parse` makes every value a
 * string of its own, and so does this module: longer values are copied out (`readString`).
 */
const SLICED_FROM = 13;

/** At a key's opening quote; with no backslash in the text, the next quote closes it. */
function readKey(): string {
  const end = text.indexOf('"', at + 1);
  // A property name is interned (copied into V8's string table) when it is used, never kept as a view.
  const key = text.slice(at + 1, end);
  at = end + 1;
  return key;
}

/** Values copied out in the current walk. */
let copiedValues = 0;

/** At a string value's opening quote. */
function readString(): string {
  const end = text.indexOf('"', at + 1);
  if (end - at - 1 < SLICED_FROM) {
    const value = text.slice(at + 1, end);
    at = end + 1;
    return value;
  }
  copiedValues += 1;
  const value = JSON.parse(text.slice(at, end + 1)) as string;
  at = end + 1;
  return value;
}

function readNumber(): number {
  const start = at;
  let c = text.charCodeAt(at);
  while (c !== COMMA && c !== CLOSE_BRACE && c !== CLOSE_BRACKET && c > 0x20) c = text.charCodeAt(++at);
  return Number(text.slice(start, at));
}

/**
 * Elements of the arrays being read, innermost last. An array is copied out at its exact length
 * once complete: pushing onto a fresh array would reserve room for 17 elements at the first push,
 * and a statemap is mostly an array of one.
 */
const elements: unknown[] = [];

function readArray(): unknown[] {
  at += 1;
  if (skipSpace() === CLOSE_BRACKET) {
    at += 1;
    return [];
  }
  const first = elements.length;
  for (;;) {
    elements.push(readValue());
    const c = skipSpace();
    at += 1;
    if (c === CLOSE_BRACKET) break;
  }
  const array = elements.slice(first);
  elements.length = first;
  return array;
}

function readObject(): Record<string, unknown> {
  at += 1;
  const object: Record<string, unknown> = {};
  if (skipSpace() === CLOSE_BRACE) {
    at += 1;
    return object;
  }
  for (;;) {
    const key = readKey();
    skipSpace();
    at += 1; // the colon
    object[key] = readValue();
    const c = skipSpace();
    at += 1;
    if (c === CLOSE_BRACE) return object;
    skipSpace();
  }
}

function readValue(): unknown {
  const c = skipSpace();
  if (c === QUOTE) return readString();
  if (c === OPEN_BRACE) return readObject();
  if (c === OPEN_BRACKET) return readArray();
  if (c === LETTER_T) {
    at += 4;
    return true;
  }
  if (c === LETTER_F) {
    at += 5;
    return false;
  }
  if (c === LETTER_N) {
    at += 4;
    return null;
  }
  return readNumber();
}

/** Whether assigning any string key but `__proto__` to a plain object defines an own data property, as `JSON.parse` does. */
function assignmentDefines(): boolean {
  for (const key of Object.getOwnPropertyNames(Object.prototype)) {
    if (key === '__proto__') continue;
    const descriptor = Object.getOwnPropertyDescriptor(Object.prototype, key);
    if (descriptor === undefined || descriptor.writable !== true) return false;
  }
  return true;
}

/** How many long string values the last `parseCheckedJson` walk copied out (see `SLICED_FROM`). */
export function valuesCopiedByLastWalk(): number {
  return copiedValues;
}

/** Whether the walk builds what `JSON.parse` would from `valid` (see the list above). */
export function walkable(valid: string): boolean {
  // Each check is one pass of a builtin over the text (or a dozen descriptors), per chunk of statemaps.
  return valid.indexOf('\\') === -1 && valid.indexOf('__proto__') === -1 && assignmentDefines();
}

/**
 * `walkable` for the bytes of text yet to be decoded, which must also be ASCII: the walk then
 * finds each value at the same index in the decoded text as in the bytes.
 */
export function walkableAsciiBytes(valid: Buffer): boolean {
  return isAscii(valid) && valid.indexOf(BACKSLASH) === -1 && valid.indexOf('__proto__') === -1 && assignmentDefines();
}

/** `JSON.parse(valid)`, for text already checked against the JSON grammar. */
export function parseCheckedJson(valid: string): unknown {
  copiedValues = 0;
  if (!walkable(valid)) return JSON.parse(valid);
  return walkFrom(valid, 0);
}

/**
 * The one JSON value that starts at `start` of `valid`, for text that is `walkable` and was
 * checked against the grammar: what `JSON.parse` gives for that value alone.
 */
export function walkFrom(valid: string, start: number): unknown {
  text = valid;
  at = start;
  try {
    return readValue();
  } finally {
    text = '';
    if (elements.length !== 0) elements.length = 0;
  }
}

/**
 * The installer's items for the statemap (an array of entries) that starts at `start` of
 * `valid`: what `statemapItems(walkFrom(valid, start), version, safepoint)` gives, built straight
 * from the text. An entry of one key (as Talos's are) becomes its item without the entry object
 * and the array of entries being built first; an entry of several keys is built as an object and
 * taken key by key, as `statemapItems` does (for its key order and its duplicate keys).
 */
export function walkStatemapItems(valid: string, start: number, version: Version, safepoint: Version | null): StatemapItem[] {
  text = valid;
  at = start;
  try {
    const first = elements.length;
    at += 1; // the '['
    if (skipSpace() === CLOSE_BRACKET) {
      at += 1;
      return [];
    }
    for (;;) {
      pushEntryItems(version, safepoint);
      const c = skipSpace();
      at += 1;
      if (c === CLOSE_BRACKET) break;
    }
    // A statemap of one item (the common case) pops it: setting an array's length is a call
    // into the runtime, which measured a quarter of this walk's time.
    if (elements.length === first + 1) return [elements.pop() as StatemapItem];
    const items = elements.slice(first) as StatemapItem[];
    elements.length = first;
    return items;
  } finally {
    text = '';
    if (elements.length !== 0) elements.length = 0;
  }
}

/** At an entry (or the whitespace before it): pushes its items onto `elements`. */
function pushEntryItems(version: Version, safepoint: Version | null): void {
  skipSpace();
  const open = at;
  at += 1;
  if (skipSpace() === CLOSE_BRACE) {
    at += 1;
    return;
  }
  const action = readKey();
  skipSpace();
  at += 1; // the colon
  const payload = readValue();
  if (skipSpace() === CLOSE_BRACE) {
    at += 1;
    elements.push({ action, version, safepoint, payload });
    return;
  }
  // More than one key: build the entry, and take its keys in the order an object has them.
  at = open;
  const entry = readObject();
  for (const key in entry) elements.push({ action: key, version, safepoint, payload: entry[key] });
}
