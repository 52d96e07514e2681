import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newSpans, scanSpans, SCANNED_KEYS, SPAN_STATEMAP_ENTRIES, SPAN_STRIDE, type ScannedKey } from '../../adapters/wire/fieldScanner.js';
import { parseRecord } from '../../adapters/wire/parseRecord.js';
import { syntheticLog } from '../bench/syntheticLog.js';
import type { RawRecord } from '../../machines/domain.js';

type ScannedFields = { [K in ScannedKey]?: unknown };
const spans = newSpans();

/** The wanted fields as the scanner's spans say, each value read by JSON.parse of its own span; undefined when the scanner declines. */
function scanFields(bytes: Buffer): ScannedFields | undefined {
  if (!scanSpans(bytes, 0, bytes.length, spans)) return undefined;
  const fields: ScannedFields = {};
  SCANNED_KEYS.forEach((key, k) => {
    const at = k * SPAN_STRIDE;
    if (spans[at + 1]! >= 0) fields[key] = JSON.parse(bytes.toString('utf8', spans[at]!, spans[at + 1]!));
  });
  return fields;
}

/** What the scanner must agree with: JSON.parse's value of each scanned key, for a top-level object. */
function reference(bytes: Buffer): ScannedFields | 'invalid' | 'not-object' {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'invalid';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not-object';
  const fields: ScannedFields = {};
  for (const key of SCANNED_KEYS) if (Object.hasOwn(value, key)) fields[key] = (value as Record<string, unknown>)[key];
  return fields;
}

function assertAgrees(bytes: Buffer): ScannedFields | undefined {
  const scanned = scanFields(bytes);
  const expected = reference(bytes);
  // The scanner may give up on anything (the caller then uses JSON.parse), but never on what it answers.
  if (scanned !== undefined) {
    assert.notEqual(expected, 'invalid', `scanner accepted invalid JSON: ${JSON.stringify(bytes.toString('latin1'))}`);
    assert.notEqual(expected, 'not-object');
    assert.deepStrictEqual(scanned, expected);
    // The statemap's shape: a count only when every entry is an object of one key (the scanner
    // counts keys as written, so a repeated key, which JSON.parse merges, gives -1: tested below).
    const statemap = (expected as ScannedFields).statemap;
    const counted = spans[SPAN_STATEMAP_ENTRIES]!;
    if (counted >= 0) {
      assert.ok(Array.isArray(statemap) && counted === statemap.length, `statemap entries ${counted} for ${JSON.stringify(statemap)}`);
      assert.ok(statemap.every((entry) => typeof entry === 'object' && entry !== null && !Array.isArray(entry) && Object.keys(entry).length === 1));
    }
  }
  return scanned;
}

const key = fc.oneof(fc.constantFrom(...SCANNED_KEYS, 'metrics', 'readset', 'versions', 'xi', 'xidd', '__proto__'), fc.string({ maxLength: 6 }));
const scalar = fc.oneof(
  fc.jsonValue({ maxDepth: 0 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('-0', '1e400', '-1E-400', '0.5e+2', '12345678901234567890', '007', '1.', '.5', '+1', 'tru', 'nul', '"\\u00e9"', '"\\x"', '"a\tb"'),
);
/** Object texts: mostly valid JSON with the scanned keys, written with random spacing, some made invalid. */
const objectText: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(fc.tuple(key, fc.oneof({ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: scalar })), { maxLength: 8 }),
    fc.constantFrom('', ' ', '\n', '\t', '\r\n  '),
  )
  .map(([entries, space]) => `${space}{${entries.map(([k, v]) => `${space}${JSON.stringify(k)}${space}:${space}${typeof v === 'string' && /^[-+.\d"tn]/.test(v) && !v.startsWith('"') ? v : JSON.stringify(v)}${space}`).join(',')}}${space}`);

const mutation = fc.oneof(
  { weight: 4, arbitrary: fc.constant((text: string) => Buffer.from(text, 'utf8')) },
  { weight: 1, arbitrary: fc.nat().map((n) => (text: string) => Buffer.from(text.slice(0, n % (text.length + 1)), 'utf8')) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(), fc.constantFrom('"', '\\', ',', ':', '{', '}', '[', ']', ' ', '\u0001', 'x', '0', '-', 'é', '\u2028'))
      .map(([n, piece]) => (text: string) => {
        const at = n % (text.length + 1);
        return Buffer.from(text.slice(0, at) + piece + text.slice(at), 'utf8');
      }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.nat(), fc.constantFrom(0x80, 0xff, 0xe2, 0xc3, 0x00)).map(([n, byte]) => (text: string) => {
      const bytes = Buffer.from(text, 'utf8');
      const at = n % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)]);
    }),
  },
);

test('the scanner agrees with JSON.parse on every field it answers for, and accepts only valid JSON objects', () => {
  fc.assert(
    fc.property(objectText, mutation, (text, mutate) => {
      assertAgrees(mutate(text));
    }),
    { numRuns: 8_000 },
  );
});

test('the scanner answers (does not give up) for valid JSON objects whose keys carry no escapes', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 10 }).filter((k) => !/["\\\u0000-\u001f]/.test(k)), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 10 }), fc.constantFrom(0, 2), (object, indent) => {
      const bytes = Buffer.from(JSON.stringify(object, null, indent), 'utf8');
      assert.notEqual(assertAgrees(bytes), undefined);
    }),
  );
});

test('the scanner reads only between start and end: the same answer inside a larger buffer, whatever bytes surround the value', () => {
  const surrounding = fc.uint8Array({ maxLength: 4 }).chain((before) => fc.tuple(fc.constant(before), fc.constantFrom(...[...'0123456789.eE,:}] "\\'].map((c) => c.charCodeAt(0))), fc.uint8Array({ maxLength: 3 })));
  const inside = newSpans();
  fc.assert(
    fc.property(objectText, mutation, surrounding, (text, mutate, [before, next, after]) => {
      const bytes = mutate(text);
      const alone = scanSpans(bytes, 0, bytes.length, spans);
      const big = Buffer.concat([Buffer.from(before), bytes, Buffer.from([next]), Buffer.from(after)]);
      const start = before.length;
      assert.equal(scanSpans(big, start, start + bytes.length, inside), alone, JSON.stringify(big.toString('latin1')));
      if (!alone) return;
      assert.equal(inside[SPAN_STATEMAP_ENTRIES], spans[SPAN_STATEMAP_ENTRIES]);
      for (let at = 0; at < SPAN_STATEMAP_ENTRIES; at += SPAN_STRIDE) {
        assert.equal(inside[at + 1], spans[at + 1]! < 0 ? -1 : spans[at + 1]! + start);
        if (spans[at + 1]! >= 0) assert.equal(inside[at], spans[at]! + start);
      }
    }),
    { numRuns: 5_000 },
  );
});

test("the scanner counts a statemap's entries when each is an object of exactly one key as written, else -1", () => {
  const space = fc.constantFrom('', ' ', '\n  ');
  /** An entry's text, and whether it is an object of exactly one key as written. */
  const objectEntry = fc
    .tuple(fc.array(fc.tuple(fc.constantFrom('A', 'B', 'TRANSFER'), fc.jsonValue({ maxDepth: 2 })), { maxLength: 3 }), space)
    .map(([pairs, s]) => ({ text: `{${s}${pairs.map(([k, v]) => `${JSON.stringify(k)}${s}:${s}${JSON.stringify(v)}`).join(`${s},${s}`)}${s}}`, oneKey: pairs.length === 1 }));
  const otherEntry = fc.oneof(fc.jsonValue({ maxDepth: 0 }), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 })).map((value) => ({ text: JSON.stringify(value), oneKey: false }));
  fc.assert(
    fc.property(fc.array(fc.oneof({ weight: 6, arbitrary: objectEntry }, { weight: 1, arbitrary: otherEntry }), { maxLength: 5 }), space, fc.boolean(), (entries, s, repeated) => {
      // With `repeated`, an earlier statemap key of another shape: the later one counts, as its value does.
      const text = `{${repeated ? '"statemap":[{"A":1,"B":2}],' : ''}"xid":"x",${s}"statemap":${s}[${s}${entries.map((entry) => entry.text).join(`,${s}`)}${s}]${s}}`;
      assert.equal(scanSpans(Buffer.from(text, 'utf8'), 0, Buffer.byteLength(text), spans), true, text);
      assert.equal(spans[SPAN_STATEMAP_ENTRIES], entries.every((entry) => entry.oneKey) ? entries.length : -1, text);
    }),
    { numRuns: 3_000 },
  );
  const count = (text: string) => (scanSpans(Buffer.from(text), 0, text.length, spans) ? spans[SPAN_STATEMAP_ENTRIES] : 'declined');
  assert.equal(count('{"statemap":[{"A":1,"A":2}]}'), -1, 'a repeated key counts twice');
  assert.equal(count('{"statemap":[{"A":[{"B":1},{"C":2}]}]}'), 1, 'arrays and objects inside an entry do not change its count');
  assert.equal(count('{"statemap":{"A":1}}'), -1, 'not an array');
  assert.equal(count('{"xid":[{"A":1}]}'), -1, 'no statemap');
  assert.equal(count('{"statemap":[]}'), 0);
});

test('any other text: the scanner never answers for something JSON.parse refuses', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.json().map((json) => json.slice(1))), (text) => {
      assertAgrees(Buffer.from(text, 'utf8'));
    }),
    { numRuns: 5_000 },
  );
});

test('cases the scanner must get exactly right', () => {
  const scan = (text: string | Buffer) => scanFields(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  assert.deepStrictEqual(scan('{"version":1,"version":2}'), { version: 2 }, 'a later duplicate key wins, as in JSON.parse');
  assert.deepStrictEqual(scan('{"xid":"a\\"b","statemap":[{"A":{"x":[1,2]}}]}'), { xid: 'a"b', statemap: [{ A: { x: [1, 2] } }] });
  assert.deepStrictEqual(scan('{"xid":"ünï€𝄞"}'), { xid: 'ünï€𝄞' });
  assert.ok(Object.is(scan('{"version":-0}')?.version, -0));
  assert.equal(scan('{"safepoint":1e400}')?.safepoint, Infinity);
  assert.equal(scan('{"version":12345678901234567890}')?.version, 12345678901234567890);
  assert.equal(scan('{"\\u0078id":"a"}'), undefined, 'an escaped key is left to JSON.parse');
  assert.equal(scan('[1]'), undefined);
  assert.equal(scan('{"a":1} x'), undefined);
  assert.equal(scan('{"a":"tab\there"}'), undefined, 'a raw control character inside a string is invalid JSON');
  assert.equal(scan('\uFEFF{}'), undefined, 'a byte order mark is not JSON whitespace');
  const deep = `{"a":${'['.repeat(100)}${']'.repeat(100)}}`;
  assert.equal(scan(deep), undefined, 'very deep nesting is left to JSON.parse');
  assert.deepStrictEqual(JSON.parse(deep).a.length, 1);
  // Invalid UTF-8 inside a string decodes as JSON.parse of toString('utf8') would see it.
  const broken = Buffer.concat([Buffer.from('{"xid":"a'), Buffer.from([0xe2, 0x82]), Buffer.from('b"}')]);
  assert.deepStrictEqual(scan(broken), { xid: JSON.parse(broken.toString('utf8')).xid });
});

test('parseRecord gives the same result for a value as Buffer (scanner) and as string (JSON.parse)', () => {
  const records: RawRecord[] = [];
  syntheticLog(100, 7, 50).next(500, records);
  for (const record of records) {
    const asText: RawRecord = { ...record, value: (record.value as Buffer).toString('utf8') };
    assert.notEqual(scanFields(record.value as Buffer), undefined, 'the benchmark records take the fast path');
    assert.deepStrictEqual(parseRecord(record), parseRecord(asText));
  }
  fc.assert(
    fc.property(objectText, mutation, fc.constantFrom('Candidate', 'Decision'), fc.integer({ min: 1, max: 1000 }), (text, mutate, messageType, offset) => {
      const bytes = mutate(text);
      const fromBytes = parseRecord({ offset, headers: { messageType }, value: bytes });
      const fromText = parseRecord({ offset, headers: { messageType }, value: bytes.toString('utf8') });
      assert.deepStrictEqual(fromBytes, fromText);
    }),
    { numRuns: 5_000 },
  );
});
