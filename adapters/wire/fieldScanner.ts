/**
 * Reads the few top-level fields the replicator needs from a record's JSON bytes without building
 * the rest of the value.
 *
 * Why: `JSON.parse` of a Talos record builds every field (read sets, write sets, a dozen metric
 * timestamps) only for them to be dropped, and that allocation was about half the pipeline's
 * main-thread time (profile in issue 3). This scanner still checks every byte against the JSON
 * grammar, so it accepts exactly what `JSON.parse` accepts, but it only notes where the wanted
 * values lie; fastPath.ts reads them from there.
 *
 * It is a fast path, never the authority: whenever it is not certain (invalid JSON, escaped keys,
 * very deep nesting, a top level that is not an object) it answers false and the caller falls
 * back to `JSON.parse`, which produces the result and the error message. The equivalence is a
 * property test (test/wire/fieldScanner.test.ts).
 */

/** The top-level keys whose values the wire format reads (see parseRecord.ts). */
export const SCANNED_KEYS = ['xid', 'statemap', 'decision', 'version', 'safepoint', 'duplicateVersion'] as const;
export type ScannedKey = (typeof SCANNED_KEYS)[number];

/** Beyond this nesting the scanner hands over to `JSON.parse` rather than recurse further. */
const MAX_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const KEY_BYTES = SCANNED_KEYS.map((key) => Buffer.from(key, 'latin1'));

/** Whether the last string scanned held an escape (module-level so the hot loop allocates nothing). */
let stringHasEscape = false;

function skipWhitespace(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    // Compact JSON has no whitespace: anything above the space ends the run at the first test.
    if (c > 0x20 || (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09)) return i;
    i++;
  }
  return i;
}

function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** `i` is just past the opening quote; returns the index just past the closing quote, or -1. */
function skipString(b: Uint8Array, i: number, end: number): number {
  stringHasEscape = false;
  for (;;) {
    // The loop every string spends its time in: plain content is anything but the quote, the
    // backslash and control characters, and the first test passes lowercase letters. No bounds
    // test: past the last byte the value is undefined, which fails every comparison, and a run
    // that went past `end` is refused just below. Comparisons measured faster than a table lookup.
    for (;;) {
      const c = b[i]!;
      if (c > BACKSLASH || (c > QUOTE && c !== BACKSLASH) || (c >= 0x20 && c < QUOTE)) i++;
      else break;
    }
    if (i >= end) return -1;
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c !== BACKSLASH) return -1;
    stringHasEscape = true;
    const e = b[i + 1];
    if (e === 0x75 /* u */) {
      if (i + 5 >= end || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!) || !isHex(b[i + 5]!)) return -1;
      i += 6;
    } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      i += 2;
    } else {
      return -1;
    }
  }
}

/** Past the last digit, or past `end` when the digits run on beyond it (the callers refuse that). */
function skipDigits(b: Uint8Array, i: number): number {
  // One load and two comparisons per digit (timestamps have 19 of them), no bounds test, as in skipString.
  for (;;) {
    const c = b[i]!;
    if (c >= ZERO && c <= NINE) i++;
    else return i;
  }
}

/** JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function skipNumber(b: Uint8Array, i: number, end: number): number {
  if (b[i] === MINUS) i++;
  if (i >= end) return -1;
  const c = b[i]!;
  if (c === ZERO) i++;
  else if (c > ZERO && c <= NINE) i = skipDigits(b, i + 1);
  else return -1;
  if (i >= end) return i === end ? i : -1;
  // Each byte after the integer part is read once: numbers end a value, and there are many.
  let next = b[i]!;
  if (next === DOT) {
    const start = i + 1;
    i = skipDigits(b, start);
    if (i === start) return -1;
    if (i >= end) return i === end ? i : -1;
    next = b[i]!;
  }
  if ((next | 0x20) === 0x65 /* e or E */) {
    i++;
    if (i < end && (b[i] === PLUS || b[i] === MINUS)) i++;
    const start = i;
    i = skipDigits(b, start);
    if (i === start) return -1;
  }
  return i <= end ? i : -1;
}

function skipLiteral(b: Uint8Array, i: number, end: number, literal: string): number {
  if (i + literal.length > end) return -1;
  for (let k = 0; k < literal.length; k++) if (b[i + k] !== literal.charCodeAt(k)) return -1;
  return i + literal.length;
}

/** `i` is at the first byte of a value (no leading whitespace); returns the index just past it, or -1. */
function skipValue(b: Uint8Array, i: number, end: number, depth: number): number {
  if (i >= end) return -1;
  const c = b[i]!;
  if (c === QUOTE) return skipString(b, i + 1, end);
  // Numbers first, the commonest value after strings; skipNumber refuses '.' and '/', in this range.
  if (c <= NINE && c >= MINUS) return skipNumber(b, i, end);
  if (c === OPEN_BRACE) return skipObject(b, i + 1, end, depth + 1);
  if (c === OPEN_BRACKET) return skipArray(b, i + 1, end, depth + 1);
  if (c === 0x6e) return skipLiteral(b, i, end, 'null');
  if (c === 0x74) return skipLiteral(b, i, end, 'true');
  if (c === 0x66) return skipLiteral(b, i, end, 'false');
  return -1;
}

/*
 * The separators, in skipArray, skipObject and scanSpans. Compact JSON has none of the whitespace
 * the grammar allows around them, so each is read where it is expected and whitespace is skipped
 * only when the byte there could be some (at most 0x20): one load and one comparison per
 * separator rather than a whitespace loop's. The checks are written out in each loop rather than
 * shared through helpers: sharing them measured 5 % slower (the helpers were not all inlined).
 */

/**
 * What the last array and object skipped held, set as each returns (so an outer one, returning
 * last, overwrites what the values inside it set): an object's number of keys, and for an array
 * how many elements it had, or -1 unless each was an object of exactly one key. That is the
 * shape `parseRecord` accepts for a statemap (two keys count as two even when they are the same:
 * JSON.parse would keep one, so the caller asks it), noted in the same pass that checks the bytes.
 */
let objectKeys = 0;
let singleKeyElements = 0;

function skipArray(b: Uint8Array, i: number, end: number, depth: number): number {
  if (depth > MAX_DEPTH) return -1;
  if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
  if (i < end && b[i] === CLOSE_BRACKET) {
    singleKeyElements = 0;
    return i + 1;
  }
  let elements = 0;
  for (;;) {
    const isObject = b[i] === OPEN_BRACE;
    i = skipValue(b, i, end, depth);
    if (i < 0 || i >= end) return -1;
    elements = elements >= 0 && isObject && objectKeys === 1 ? elements + 1 : -1;
    let c = b[i]!;
    if (c <= 0x20) {
      i = skipWhitespace(b, i, end);
      if (i >= end) return -1;
      c = b[i]!;
    }
    if (c !== COMMA) {
      singleKeyElements = elements;
      return c === CLOSE_BRACKET ? i + 1 : -1;
    }
    i++;
    if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
  }
}

function skipObject(b: Uint8Array, i: number, end: number, depth: number): number {
  if (depth > MAX_DEPTH) return -1;
  if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
  if (i < end && b[i] === CLOSE_BRACE) {
    objectKeys = 0;
    return i + 1;
  }
  let keys = 0;
  for (;;) {
    if (i >= end || b[i] !== QUOTE) return -1;
    i = skipString(b, i + 1, end);
    if (i < 0 || i >= end) return -1;
    keys++;
    if (b[i] !== COLON) {
      i = skipWhitespace(b, i, end);
      if (i >= end || b[i] !== COLON) return -1;
    }
    i++;
    if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
    i = skipValue(b, i, end, depth);
    if (i < 0 || i >= end) return -1;
    let c = b[i]!;
    if (c <= 0x20) {
      i = skipWhitespace(b, i, end);
      if (i >= end) return -1;
      c = b[i]!;
    }
    if (c !== COMMA) {
      objectKeys = keys;
      return c === CLOSE_BRACE ? i + 1 : -1;
    }
    i++;
    if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
  }
}

/**
 * Per key length (up to 31 bytes) and first byte, the one wanted key it could be, or -1: no two
 * wanted keys share both, so a key is compared with at most one of them (a record has a dozen
 * keys, most of them not wanted).
 */
const KEY_BY_LENGTH_AND_FIRST = new Int8Array(32 * 256).fill(-1);
KEY_BYTES.forEach((key, k) => {
  const slot = key.length * 256 + key[0]!;
  if (key.length >= 32 || KEY_BY_LENGTH_AND_FIRST[slot] !== -1) throw new Error(`fieldScanner: wanted keys must differ in length or first byte (${SCANNED_KEYS[k]})`);
  KEY_BY_LENGTH_AND_FIRST[slot] = k;
});

/** Which wanted key the bytes `start..end` (between a key's quotes) spell, or -1. */
function wantedKey(b: Uint8Array, start: number, end: number): number {
  const length = end - start;
  if (length <= 0 || length >= 32) return -1;
  const k = KEY_BY_LENGTH_AND_FIRST[length * 256 + b[start]!]!;
  if (k < 0) return -1;
  const key = KEY_BYTES[k]!;
  for (let j = 1; j < length; j++) if (b[start + j] !== key[j]) return -1;
  return k;
}

/** Small non-negative integers (the versions) are read digit by digit; anything else as JSON does. */
export function numberAt(bytes: Buffer, start: number, end: number): number {
  if (end - start <= 15) {
    let value = 0;
    for (let i = start; i < end; i++) {
      const c = bytes[i]!;
      if (c < ZERO || c > NINE) return Number(bytes.toString('latin1', start, end));
      value = value * 10 + (c - ZERO);
    }
    return value;
  }
  return Number(bytes.toString('latin1', start, end));
}

/** Numbers per wanted key in a spans array: value start, value end (-1: key absent). */
export const SPAN_STRIDE = 2;
/** Indexes into a spans array, per wanted key. */
export const SPAN = Object.fromEntries(SCANNED_KEYS.map((key, index) => [key, index * SPAN_STRIDE])) as { readonly [K in ScannedKey]: number };

/**
 * Where a spans array holds, for the statemap's value, how many entries it has when it is an
 * array of objects of one key each, else -1 (see `singleKeyElements`).
 */
export const SPAN_STATEMAP_ENTRIES = SCANNED_KEYS.length * SPAN_STRIDE;

const STATEMAP_AT = SCANNED_KEYS.indexOf('statemap') * SPAN_STRIDE;

/** A spans array for `scanSpans`. */
export function newSpans(): Int32Array {
  return new Int32Array(SPAN_STATEMAP_ENTRIES + 1);
}

/**
 * Checks that `start..end` of `b` is one JSON object (every byte against the grammar) and notes
 * where the value of each wanted top-level key lies (a later duplicate key wins, as in
 * `JSON.parse`), and the statemap's shape (`SPAN_STATEMAP_ENTRIES`). False when the scanner is
 * not certain: the caller must then use `JSON.parse`.
 */
export function scanSpans(b: Uint8Array, start: number, end: number, spans: Int32Array): boolean {
  for (let k = 1; k < SPAN_STATEMAP_ENTRIES; k += SPAN_STRIDE) spans[k] = -1;
  spans[SPAN_STATEMAP_ENTRIES] = -1;
  let i = skipWhitespace(b, start, end);
  if (i >= end || b[i] !== OPEN_BRACE) return false;
  i++;
  if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
  if (i < end && b[i] === CLOSE_BRACE) return skipWhitespace(b, i + 1, end) === end;
  for (;;) {
    if (i >= end || b[i] !== QUOTE) return false;
    const keyStart = i + 1;
    i = skipString(b, keyStart, end);
    if (i < 0 || stringHasEscape || i >= end) return false;
    const key = wantedKey(b, keyStart, i - 1);
    if (b[i] !== COLON) {
      i = skipWhitespace(b, i, end);
      if (i >= end || b[i] !== COLON) return false;
    }
    i++;
    if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
    const valueStart = i;
    i = skipValue(b, valueStart, end, 1);
    if (i < 0 || i >= end) return false;
    if (key >= 0) {
      const at = key * SPAN_STRIDE;
      spans[at] = valueStart;
      spans[at + 1] = i;
      if (at === STATEMAP_AT) spans[SPAN_STATEMAP_ENTRIES] = b[valueStart] === OPEN_BRACKET ? singleKeyElements : -1;
    }
    let c = b[i]!;
    if (c <= 0x20) {
      i = skipWhitespace(b, i, end);
      if (i >= end) return false;
      c = b[i]!;
    }
    if (c !== COMMA) return c === CLOSE_BRACE && skipWhitespace(b, i + 1, end) === end;
    i++;
    if (i < end && b[i]! <= 0x20) i = skipWhitespace(b, i, end);
  }
}
