import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isDeferred, statemapEntries, type RawRecord } from '../../machines/domain.js';
import type { CandidateMessage, ParsedBatch } from '../../machines/messages.js';
import { collectParseResult, parseBatch, parseRecord, sharedOrigin } from '../../adapters/wire/parseRecord.js';
import { createWorkerParser, type WorkerParser } from '../../adapters/wire/workerParser.js';
import { syntheticLog } from '../bench/syntheticLog.js';

async function assertSameAsParseBatch(parser: WorkerParser, records: readonly RawRecord[]): Promise<ParsedBatch> {
  const expected = parseBatch(records);
  const actual = await parser.parse(records);
  assert.deepStrictEqual(actual, expected);
  return actual;
}

// ---- Random records -------------------------------------------------------------------------

/** A JSON fragment written verbatim (to produce -0, overflowing numbers, raw lone surrogates). */
class Raw {
  constructor(readonly text: string) {}
}

function encode(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(encode).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${encode(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('xid-1', 'ünïcødé-€-𝄞', '日本語のテキスト', '😀😀', 'a"b\\c\n', '\u2028\u2029'),
  fc.constantFrom(new Raw('"lone \uD800 high"'), new Raw('"lone \uDC00 low"'), new Raw('"\\uD83D"'), new Raw('"\\u00e9\\n"')),
);
const odd = fc.constantFrom(new Raw('-0'), new Raw('-0.0'), new Raw('1e400'), new Raw('-1e400'), new Raw('1e-400'), new Raw('-1e-400'), new Raw('1E+2'), new Raw('0.1e1'));
const anyJson: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: odd }, { weight: 1, arbitrary: text });
const payload = fc.oneof(anyJson, fc.record({ from: text, to: text, amount: fc.oneof(text, fc.double(), odd) }));
const entry = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.oneof(fc.constantFrom('TRANSFER', 'SET', '__proto__', '0', ''), fc.string()), payload).map(([k, v]) => new Raw(`{${JSON.stringify(k)}:${encode(v)}}`)) },
  { weight: 1, arbitrary: fc.dictionary(fc.string(), payload, { maxKeys: 3 }) },
  { weight: 1, arbitrary: anyJson },
);
const statemap = fc.oneof(
  { weight: 6, arbitrary: fc.array(entry, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, new Raw('[[[[[[[[{"A":1}]]]]]]]]')) },
  { weight: 1, arbitrary: anyJson },
);
const version = (below: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.nat({ max: Math.max(0, below - 1) }) },
    { weight: 1, arbitrary: fc.oneof(fc.constant(below), fc.nat(), fc.constantFrom(-1, 1.5, '3', null, Number.MAX_SAFE_INTEGER + 2, new Raw('-0'), new Raw('1e400'))) },
  );
const candidateBody = () => fc.record({ xid: fc.oneof({ weight: 5, arbitrary: text }, anyJson), statemap, agent: fc.constant('a'), snapshot: fc.nat() }, { requiredKeys: [] });
const decisionBody = (offset: number) =>
  fc.record(
    {
      xid: fc.oneof({ weight: 5, arbitrary: text }, anyJson),
      decision: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('committed', 'aborted') }, anyJson),
      version: version(offset),
      safepoint: fc.option(version(offset + 5), { nil: undefined }),
      duplicateVersion: fc.option(version(offset), { nil: undefined }),
      metrics: fc.constant({ dbSaveEnded: 1 }),
    },
    { requiredKeys: ['version'] },
  );

/** A value's JSON text, sometimes broken, as a string or a Buffer. */
const value = (json: string) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(json) },
    { weight: 1, arbitrary: fc.nat({ max: json.length }).map((n) => json.slice(0, n)) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '[]', '42', '"text"', 'null', '{"a":1,}', "{'a':1}", '{"xid":"a"} trailing', '\uFEFF{}') },
  ).chain((body) =>
    fc.oneof(
      fc.constant<string | Buffer | null>(body),
      fc.constant<string | Buffer | null>(Buffer.from(body, 'utf8')),
      // Invalid UTF-8: a lone continuation byte, a truncated sequence at either end.
      fc.constantFrom<string | Buffer | null>(
        Buffer.concat([Buffer.from([0x80]), Buffer.from(body)]),
        Buffer.concat([Buffer.from(body), Buffer.from([0xe2, 0x82])]),
        Buffer.concat([Buffer.from([0xac]), Buffer.from(body)]),
        Buffer.concat([Buffer.from(body.slice(0, 5)), Buffer.from([0xff]), Buffer.from(body.slice(5))]),
      ),
      fc.constant(null),
    ),
  );

const header = fc.oneof(
  { weight: 10, arbitrary: fc.constant<'ok'>('ok') },
  { weight: 1, arbitrary: fc.constantFrom<string | Buffer | undefined | 'missing'>('missing', undefined, 'candidate', 'Decision ', 'Other', '', Buffer.from('Candid'), Buffer.from([0x43, 0xff]), Buffer.from('Décision')) },
);
const offset = (base: number) =>
  fc.oneof(
    { weight: 10, arbitrary: fc.constant<RawRecord['offset']>(base) },
    { weight: 2, arbitrary: fc.constantFrom<RawRecord['offset']>(String(base), BigInt(base)) },
    { weight: 1, arbitrary: fc.constantFrom<RawRecord['offset']>(-1, 1.5, 'abc', '12a', Number.NaN, 2 ** 60, BigInt(2) ** BigInt(60), '') },
  );

const record = (base: number): fc.Arbitrary<RawRecord> =>
  fc
    .tuple(fc.boolean(), header, offset(base), fc.option(fc.constantFrom('topic/0', 'file.ndjson:3'), { nil: undefined }))
    .chain(([isCandidate, head, off, origin]) =>
      (isCandidate ? candidateBody() : decisionBody(base)).chain((body) =>
        value(encode(body)).map((v): RawRecord => {
          const messageType = head === 'ok' ? (isCandidate ? (base % 2 ? 'Candidate' : Buffer.from('Candidate')) : base % 2 ? 'Decision' : Buffer.from('Decision')) : head;
          const headers = messageType === 'missing' ? {} : { messageType };
          return origin === undefined ? { offset: off, headers, value: v } : { offset: off, headers, value: v, origin };
        }),
      ),
    );

const batch = fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => record(i + 1))));

// ---- Tests ----------------------------------------------------------------------------------

/** `parseBatch` as it was, record by record: each statemap read with its own `JSON.parse`. */
function parseEach(records: readonly RawRecord[]): ParsedBatch {
  const messages: ParsedBatch['messages'][number][] = [];
  const rejects: ParsedBatch['rejects'][number][] = [];
  let lastOffset: number | null = null;
  for (const record of records) lastOffset = collectParseResult(parseRecord(record), messages, rejects, lastOffset);
  return { messages, rejects, lastOffset, origin: sharedOrigin(records) };
}

describe('parseBatch (statemaps read in chunks)', () => {
  test('random batches parse exactly as parseRecord, record by record', () => {
    fc.assert(
      fc.property(batch, (records) => {
        assert.deepStrictEqual(parseBatch(records), parseEach(records));
      }),
      { numRuns: 300 },
    );
  });

  test('statemaps across chunk boundaries, one larger than a chunk, multi-byte UTF-8', () => {
    const records: RawRecord[] = [];
    const C = { messageType: 'Candidate' };
    for (let v = 1; v <= 400; v++) {
      const note = v === 200 ? 'x'.repeat(70_000) : `é€😀${'y'.repeat(v * 3)}`;
      const statemap = [{ TRANSFER: { from: `a${v}`, to: 'b', note } }, { [`K${v}`]: [v, null, true, { deep: [[note]] }] }];
      records.push({ offset: v, headers: C, value: Buffer.from(JSON.stringify({ xid: `x${v}`, statemap })) });
    }
    const batch = parseBatch(records);
    assert.equal(batch.rejects.length, 0);
    assert.deepStrictEqual(batch, parseEach(records));
    assert.equal(((batch.messages[199] as CandidateMessage).statemap as readonly unknown[]).length, 2);
  });
});

describe('createWorkerParser', () => {
  const parser = createWorkerParser();
  after(() => parser.close());

  test('random batches (valid, malformed, wrong types, bad headers, strings and Buffers, multi-byte UTF-8) parse exactly as parseBatch', async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (records) => {
        await assertSameAsParseBatch(parser, records);
      }),
      { numRuns: 300 },
    );
  });

  test('every kind of reject, with the same reasons as parseBatch', async () => {
    const C = { messageType: 'Candidate' };
    const D = { messageType: Buffer.from('Decision') };
    const records: RawRecord[] = [
      { offset: 'x1', headers: C, value: '{}', origin: 'here' },
      { offset: -4, headers: C, value: '{}' },
      { offset: 3, headers: {}, value: '{}' },
      { offset: 4, headers: { messageType: 'Nope' }, value: '{}' },
      { offset: 5, headers: { messageType: Buffer.from('Candidate\u00e9') }, value: '{}' },
      { offset: 6, headers: C, value: null, origin: 'o' },
      { offset: 7, headers: D, value: '{"xid":' },
      { offset: 8, headers: C, value: Buffer.from('{"xid":"a",}') },
      { offset: 9, headers: C, value: '[1]' },
      { offset: 10, headers: C, value: 'null' },
      { offset: 11, headers: C, value: '{"xid":1}' },
      { offset: 12, headers: C, value: '{"xid":"a","statemap":{}}' },
      { offset: 13, headers: C, value: '{"xid":"a","statemap":[1]}' },
      { offset: 14, headers: C, value: '{"xid":"a","statemap":[{"A":1,"B":2}]}' },
      { offset: 15, headers: C, value: '{"xid":"a","statemap":[{}]}' },
      { offset: 16, headers: D, value: '{"xid":"a","decision":"maybe","version":1}' },
      { offset: 17, headers: D, value: '{"xid":"a","decision":"committed","version":17}' },
      { offset: 18, headers: D, value: '{"xid":"a","decision":"committed","version":"1"}' },
      { offset: 19, headers: D, value: '{"xid":"a","decision":"committed","version":1,"safepoint":-1}' },
      { offset: 20, headers: D, value: '{"xid":"a","decision":"aborted","version":1,"duplicateVersion":1.5}' },
      { offset: 21, headers: D, value: '{"decision":"aborted","version":1}' },
      { offset: 22, headers: C, value: Buffer.from([0x7b, 0xff, 0x7d]) },
      { offset: 23, headers: C, value: '' },
    ];
    const result = await assertSameAsParseBatch(parser, records);
    assert.equal(result.messages.length, 0);
    assert.equal(result.rejects.length, records.length);
    assert.equal(result.lastOffset, 23);
  });

  test('valid messages: statemaps come back parsed, empty and missing ones as []', async () => {
    const records: RawRecord[] = [
      { offset: 1, headers: { messageType: 'Candidate' }, value: '{"xid":"x1","statemap":[{"SET":{"k":"€ 𝄞"}}]}' },
      { offset: 2, headers: { messageType: 'Candidate' }, value: '{"xid":"x2"}' },
      { offset: 3, headers: { messageType: 'Candidate' }, value: '{"xid":"x3","statemap":[]}' },
      { offset: 4, headers: { messageType: 'Decision' }, value: '{"xid":"x1","decision":"committed","version":1,"safepoint":0}' },
      { offset: '5', headers: { messageType: 'Decision' }, value: '{"xid":"x2","decision":"committed","version":2}' },
      { offset: 6n, headers: { messageType: 'Decision' }, value: '{"xid":"x3","decision":"aborted","version":3,"safepoint":1,"duplicateVersion":2}' },
    ];
    const result = await assertSameAsParseBatch(parser, records);
    assert.deepEqual(
      result.messages.map((m) => (m.kind === 'candidate' ? m.statemap : m.safepoint)),
      [[{ SET: { k: '€ 𝄞' } }], [], [], 0, 1, null],
    );
  });

  test('values that do not survive JSON.stringify (-0, overflowing numbers, lone surrogates) come back exactly', async () => {
    const C = { messageType: 'Candidate' };
    const records: RawRecord[] = [
      { offset: 1, headers: C, value: '{"xid":"a","statemap":[{"A":-0}]}' },
      { offset: 2, headers: C, value: '{"xid":"a","statemap":[{"A":[1e400,-1e400]}]}' },
      { offset: 3, headers: C, value: '{"xid":"lone \uD800","statemap":[{"A":"\uDC00"}]}' },
      { offset: 4, headers: C, value: '{"xid":"escaped \\uD800","statemap":[{"A":"\\uDC00"}]}' },
    ];
    const result = await assertSameAsParseBatch(parser, records);
    const first = (result.messages[0] as CandidateMessage).statemap;
    const entries = (typeof first === 'string' ? JSON.parse(first) : first) as [{ A: number }];
    assert.ok(Object.is(entries[0].A, -0));
  });

  test('a statemap too deep for the worker to check is parsed on the main thread', async () => {
    // Too deep for any recursive comparison too, so only its shape is checked.
    const depth = 200_000;
    const records: RawRecord[] = [
      { offset: 1, headers: { messageType: 'Candidate' }, value: `{"xid":"a","statemap":[{"A":${'['.repeat(depth)}${']'.repeat(depth)}}]}` },
      { offset: 2, headers: { messageType: 'Candidate' }, value: '{"xid":"b","statemap":[{"B":1}]}' },
    ];
    const expected = parseBatch(records);
    const actual = await parser.parse(records);
    assert.equal(actual.messages.length, 2);
    assert.equal(actual.lastOffset, expected.lastOffset);
    const [deep, flat] = actual.messages as [CandidateMessage, CandidateMessage];
    assert.ok(Array.isArray(deep.statemap) && deep.statemap.length === 1);
    assert.deepStrictEqual(flat, { kind: 'candidate', version: 2, statemap: [{ B: 1 }] });
  });

  test('a batch of synthetic bank transfers (Buffer values) parses exactly as parseBatch', async () => {
    const records: RawRecord[] = [];
    syntheticLog().next(2_000, records);
    await assertSameAsParseBatch(parser, records);
  });

  test('large batches whose answer spans many text chunks (empty xids, no statemaps, multi-byte text)', async () => {
    const records: RawRecord[] = [];
    for (let i = 1; i <= 3_000; i++) {
      const xid = i % 5 === 0 ? '' : i % 7 === 0 ? `é-${i}-𝄞` : `xid-${i}`;
      if (i % 3 === 0) {
        records.push({ offset: i, headers: { messageType: 'Decision' }, value: JSON.stringify({ xid, decision: i % 2 ? 'committed' : 'aborted', version: i - 1, safepoint: i - 2 }) });
        continue;
      }
      const statemap = i % 4 === 0 ? undefined : [{ SET: { key: `k${i}`, blob: (i % 11 === 0 ? 'ü€' : 'x').repeat(i % 997) } }];
      const value = JSON.stringify({ xid, statemap });
      records.push({ offset: i, headers: { messageType: 'Candidate' }, value: i % 2 ? value : Buffer.from(value) });
    }
    await assertSameAsParseBatch(parser, records);
  });

  test('values split across batch boundaries decode on their own (no merging of broken UTF-8)', async () => {
    const C = { messageType: 'Candidate' };
    const records: RawRecord[] = [
      { offset: 1, headers: C, value: Buffer.concat([Buffer.from('{"xid":"a"}'), Buffer.from([0xe2, 0x82])]) },
      { offset: 2, headers: C, value: Buffer.concat([Buffer.from([0xac]), Buffer.from('{"xid":"b"}')]) },
      { offset: 3, headers: C, value: Buffer.from('{"xid":"\u20ac"}') },
    ];
    await assertSameAsParseBatch(parser, records);
  });
});

test('many concurrent batches over two workers resolve with their own results, in submission order', async () => {
  const parser = createWorkerParser({ workers: 2 });
  try {
    const log = syntheticLog(1_000, 7);
    const batches: RawRecord[][] = [];
    for (let i = 0; i < 60; i++) {
      const records: RawRecord[] = [];
      log.next(1 + ((i * 37) % 300), records);
      if (i % 7 === 3) records.push({ offset: 'bad', headers: {}, value: null });
      if (i % 11 === 5) records.length = 0;
      batches.push(records);
    }
    const order: number[] = [];
    const results = await Promise.all(batches.map((records, i) => parser.parse(records).then((result) => (order.push(i), result))));
    assert.deepEqual(order, batches.map((_, i) => i));
    results.forEach((result, i) => assert.deepStrictEqual(result, parseBatch(batches[i]!)));
  } finally {
    await parser.close();
  }
});

test('with deferStatemaps, the worker leaves statemaps deferred as parsePipelineBatch does, and they build what parseBatch builds', async () => {
  const parser = createWorkerParser({ deferStatemaps: true });
  try {
    const records: RawRecord[] = [];
    syntheticLog(1_000, 11).next(400, records);
    const deferred = await parser.parse(records);
    const candidates = deferred.messages.filter((message): message is CandidateMessage => message.kind === 'candidate');
    assert.ok(candidates.length > 0 && candidates.every((message) => isDeferred(message.statemap)), 'every statemap deferred');
    const built = { ...deferred, messages: deferred.messages.map((message) => (message.kind === 'candidate' ? { ...message, statemap: statemapEntries(message.statemap, message.version) } : message)) };
    assert.deepStrictEqual(built, parseBatch(records));
  } finally {
    await parser.close();
  }
});

test('close() rejects pending batches, terminates the workers, and later parse() calls reject', async () => {
  const parser = createWorkerParser();
  const records: RawRecord[] = [];
  syntheticLog().next(5_000, records);
  const pending = assert.rejects(parser.parse(records), /closed before the batch was parsed/);
  await parser.close();
  await pending;
  await assert.rejects(parser.parse(records), /parse\(\) called after close\(\)/);
  await parser.close();
});

test('a worker that dies rejects its pending batches with a clear error, and the next batch gets a new worker', async () => {
  const parser = createWorkerParser({ resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
  try {
    // An escaped key keeps the record off the scanner's fast path, so the worker must JSON.parse
    // it: two million numbers in an array do not fit the worker's heap.
    const big = Buffer.from(`{"xid":"x","st\\u0061temap":[{"A":[${'0,'.repeat(2 << 20)}0]}]}`);
    const records: RawRecord[] = Array.from({ length: 20 }, (_, i) => ({ offset: i + 1, headers: { messageType: 'Candidate' }, value: big }));
    const small: RawRecord[] = [{ offset: 1, headers: { messageType: 'Candidate' }, value: '{"xid":"a"}' }];
    const crashing = parser.parse(records);
    const queuedBehind = parser.parse(small);
    await assert.rejects(crashing, (error: Error) => {
      assert.match(error.message, /^worker parser: parse worker 0 stopped \(.*memory.*\); the batches it was parsing are lost$/);
      return true;
    });
    await assert.rejects(queuedBehind, /parse worker 0 stopped/);
    await assertSameAsParseBatch(parser, small);
  } finally {
    await parser.close();
  }
});

test('an idle worker parser does not keep the process alive', async () => {
  const url = new URL('../../adapters/wire/workerParser.js', import.meta.url).href;
  const dir = await mkdtemp(join(tmpdir(), 'worker-parser-'));
  try {
    const script = join(dir, 'idle.mjs');
    await writeFile(
      script,
      `import { createWorkerParser } from ${JSON.stringify(url)};
      const parser = createWorkerParser({ workers: 2 });
      const result = await parser.parse([{ offset: 1, headers: { messageType: 'Candidate' }, value: '{"xid":"a"}' }]);
      console.log(result.messages.length);
      // No close(): the process must still exit on its own.
      `,
    );
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    assert.equal(stdout.trim(), '1');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
