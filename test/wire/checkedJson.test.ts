import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseCheckedJson } from '../../adapters/wire/checkedJson.js';

/** Same value, same key order, same -0s: what JSON.parse would have given. */
function assertSameAsJsonParse(text: string): void {
  const expected = JSON.parse(text) as unknown;
  const built = parseCheckedJson(text);
  assert.deepStrictEqual(built, expected, text);
  assert.equal(JSON.stringify(built), JSON.stringify(expected), text);
}

const space = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  ');
// Strings the walk reads itself: no character JSON.stringify would escape (those bring a backslash).
const plainString = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x22 && c !== 0x5c).map((c) => String.fromCharCode(c)), fc.constantFrom('é', '€', '😀', 'ß')) });
const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-0, 1e21, 5e-324, 2 ** 53 + 1));
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    plainString,
    number,
    fc.constantFrom(true, false, null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(plainString, fc.constantFrom('0', '7', 'toString', 'constructor', 'amount')), tie('value'), { maxKeys: 4 }),
  ),
}));

/** `value` as JSON text with random whitespace between tokens, numbers written in several of JSON's ways. */
function write(value: unknown, spaces: () => string): string {
  const pad = (token: string) => `${spaces()}${token}${spaces()}`;
  if (Array.isArray(value)) return pad(`[${value.length === 0 ? spaces() : value.map((item) => write(item, spaces)).join(',')}]`);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    return pad(`{${entries.length === 0 ? spaces() : entries.map(([key, item]) => `${pad(JSON.stringify(key))}:${write(item, spaces)}`).join(',')}}`);
  }
  if (typeof value === 'number' && Object.is(value, -0)) return pad('-0');
  return pad(JSON.stringify(value));
}

test('checked JSON: builds what JSON.parse builds, for random values with random whitespace', () => {
  fc.assert(
    fc.property(value, fc.array(space, { minLength: 1, maxLength: 16 }), (generated, spaces) => {
      let next = 0;
      const text = write(generated, () => spaces[next++ % spaces.length]!);
      assertSameAsJsonParse(text);
    }),
    { numRuns: 2_000 },
  );
});

test('checked JSON: statemap chunks as parseBatch builds them, with numbers in exponent and fraction form', () => {
  assertSameAsJsonParse('[[{"TRANSFER":{"from":"acc-00369","to":"acc-01823","amount":"54.61"}}],[{"DEPOSIT":{"account":"é€😀","cents":1250,"rate":-1.5e-3,"big":12345678901234567890,"flags":[true,false,null],"note":{}}}],[]]');
  assertSameAsJsonParse('[{"a":1,"b":2,"a":3}]');
  assertSameAsJsonParse('{"b":1,"2":true,"1":false,"a":[-0,0.0,1E+2,1e-2]}');
  assertSameAsJsonParse('"just a string"');
  assertSameAsJsonParse(' 42 ');
});

test('checked JSON: a backslash, a __proto__ key or an unusual Object.prototype goes to JSON.parse, so the value stays exact', () => {
  assertSameAsJsonParse('[{"A":{"quote":"say \\"hi\\"","path":"C:\\\\x","u":"\\u00e9"}}]');
  const withProto = parseCheckedJson('[{"__proto__":{"polluted":true}}]') as Array<Record<string, unknown>>;
  assert.ok(Object.hasOwn(withProto[0]!, '__proto__'), '__proto__ is an own property, as JSON.parse makes it');
  assert.equal(Object.getPrototypeOf(withProto[0]!), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // A read-only property on Object.prototype: an assignment would throw (strict mode) where JSON.parse defines.
  Object.defineProperty(Object.prototype, 'readOnlyForTest', { value: 'inherited', writable: false, configurable: true });
  try {
    const built = parseCheckedJson('[{"readOnlyForTest":"own"}]') as Array<Record<string, unknown>>;
    assert.ok(Object.hasOwn(built[0]!, 'readOnlyForTest'));
    assert.equal(built[0]!.readOnlyForTest, 'own');
  } finally {
    delete (Object.prototype as Record<string, unknown>).readOnlyForTest;
  }
  // An accessor on Object.prototype: an assignment would call its setter and define nothing.
  let setterCalls = 0;
  Object.defineProperty(Object.prototype, 'accessorForTest', { set: () => (setterCalls += 1), configurable: true });
  try {
    const built = parseCheckedJson('{"accessorForTest":1}') as Record<string, unknown>;
    assert.ok(Object.hasOwn(built, 'accessorForTest'));
    assert.equal(setterCalls, 0);
  } finally {
    delete (Object.prototype as Record<string, unknown>).accessorForTest;
  }
});

test('checked JSON: a long string value is a string of its own, as with JSON.parse, not a view that keeps the whole text alive', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const values = Array.from({ length: 100_000 }, (_, i) => ({ TRANSFER: { from: `account-${String(i).padStart(24, '0')}`, note: 'x'.repeat(40) } }));
  let text: string | null = JSON.stringify(values);
  assert.ok(text.length > 8_000_000);
  let built: Array<{ TRANSFER: { from: string } }> | null = parseCheckedJson(text) as Array<{ TRANSFER: { from: string } }>;
  const kept = built[12_345]!.TRANSFER.from;
  assert.equal(kept, `account-${'0'.repeat(19)}12345`);
  built = null;
  gc();
  const withText = process.memoryUsage().heapUsed;
  text = null;
  gc();
  const withoutText = process.memoryUsage().heapUsed;
  // The text is 8 MB and more: had `kept` been a view into it, dropping the text would free nothing.
  assert.ok(withText - withoutText > 8_000_000, `dropping the text freed only ${withText - withoutText} bytes`);
  assert.equal(kept.length, 32);
});
