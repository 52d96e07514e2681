import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import fc from 'fast-check';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import type { RawRecord } from '../../machines/domain.js';
import { generateCertificationLog } from '../../adapters/workload/certifier.js';
import {
  formatEnvelopeLine,
  formatKcatLine,
  formatRejectLine,
  logBytes,
  ndjsonLogBatches,
  parseLogLine,
  parseNdjsonChunks,
  parseNdjsonText,
  readNdjsonLog,
  rejectsPathFor,
  writeNdjsonLog,
  writeRejects,
  type LogLine,
  type LogReject,
} from '../../adapters/files/ndjsonLog.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndjson-log-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(path: string, highWaterMark?: number): Promise<{ records: RawRecord[]; lines: number[]; rejects: LogReject[] }> {
  const records: RawRecord[] = [];
  const lines: number[] = [];
  const rejects: LogReject[] = [];
  for await (const item of readNdjsonLog(path, highWaterMark === undefined ? {} : { highWaterMark })) {
    if (item.kind === 'record') {
      records.push(item.record);
      lines.push(item.line);
    } else rejects.push(item.reject);
  }
  return { records, lines, rejects };
}

const strip = (r: RawRecord): unknown => ({ offset: r.offset, headers: Object.entries(r.headers), value: r.value });

describe('NDJSON certification logs', () => {
  test('envelope format: write then read gives back every record, with file:line origins', async () => {
    const path = join(dir, 'envelope.ndjson');
    const original = [...generateCertificationLog({ transactions: 400, seed: 5 })];
    const { lines } = await writeNdjsonLog(path, original);
    assert.equal(lines, original.length);
    const text = await readFile(path, 'utf8');
    assert.deepEqual(JSON.parse(text.split('\n')[0]!), { offset: 1, headers: { messageType: 'Candidate' }, value: original[0]!.value });
    const back = await readAll(path);
    assert.deepEqual(back.rejects, []);
    assert.deepEqual(back.records.map(strip), original.map(strip));
    back.records.forEach((r, i) => assert.equal(r.origin, `${path}:${i + 1}`));
  });

  test('kcat -J format: write then read gives back every record', async () => {
    const path = join(dir, 'kcat.ndjson');
    const original = [...generateCertificationLog({ transactions: 300, seed: 6 })];
    await writeNdjsonLog(path, original, { format: 'kcat', topic: 'certification', partition: 0, timestamp: 1_700_000_000_000 });
    const first = JSON.parse((await readFile(path, 'utf8')).split('\n')[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), ['topic', 'partition', 'offset', 'tstype', 'ts', 'broker', 'headers', 'key', 'payload']);
    assert.deepEqual(first['headers'], ['messageType', 'Candidate']);
    const back = await readAll(path, 4096);
    assert.deepEqual(back.rejects, []);
    assert.deepEqual(back.records.map(strip), original.map(strip));
  });

  test('reads genuine kcat output lines, null payloads and several headers included', () => {
    const text = [
      '{"topic":"t","partition":0,"offset":12,"tstype":"create","ts":1700000000000,"broker":1,"headers":["messageType","Candidate"],"key":null,"payload":"{\\"xid\\":\\"x\\"}"}',
      '{"topic":"t","partition":0,"offset":13,"tstype":"create","ts":1700000000001,"broker":1,"headers":["messageType","Decision","trace","abc","empty",null],"key":"k","payload":null}',
      '{"topic":"t","partition":0,"offset":"14","tstype":"create","ts":1700000000002,"broker":1,"key":null,"payload":""}',
    ].join('\n');
    const items = parseNdjsonText(text, 'cert.ndjson');
    assert.deepEqual(
      items.map((i) => (i.kind === 'record' ? i.record : i)),
      [
        { offset: 12, headers: { messageType: 'Candidate' }, value: '{"xid":"x"}', origin: 'cert.ndjson:1' },
        { offset: 13, headers: { messageType: 'Decision', trace: 'abc', empty: undefined }, value: null, origin: 'cert.ndjson:2' },
        { offset: 14, headers: {}, value: '', origin: 'cert.ndjson:3' },
      ],
    );
  });

  test('a byte order mark, CRLF line ends and a __proto__ header are handled', () => {
    const text = '\uFEFF{"offset":1,"headers":{"messageType":"Candidate"},"value":"a"}\r\n' +
      '{"topic":"t","offset":2,"headers":["__proto__","x","messageType","Decision"],"payload":"b"}\r\n';
    const items = parseNdjsonText(text, 'bom.ndjson');
    assert.deepEqual(items.map((i) => i.kind), ['record', 'record']);
    const second = items[1]!;
    assert.ok(second.kind === 'record');
    assert.deepEqual(Object.entries(second.record.headers), [['__proto__', 'x'], ['messageType', 'Decision']]);
    assert.equal(Object.getPrototypeOf(second.record.headers), Object.prototype);
  });

  test('malformed lines become rejects with line numbers; every valid line is kept', async () => {
    const path = join(dir, 'mixed.ndjson');
    const good = (o: number): string => JSON.stringify({ offset: o, headers: { messageType: 'Candidate' }, value: `{"n":${o}}` });
    const lines = [
      good(1), // 1
      'this is not json', // 2
      '', // 3 blank: skipped, no reject
      '[1,2,3]', // 4
      '{"headers":{"messageType":"Candidate"},"value":"x"}', // 5 no offset
      '{"offset":-3,"headers":{},"value":"x"}', // 6
      '{"offset":"12a","headers":{},"value":"x"}', // 7
      '{"offset":8,"headers":{"messageType":5},"value":"x"}', // 8
      '{"topic":"t","offset":9,"headers":["messageType"],"payload":"x"}', // 9 odd headers
      '{"topic":"t","offset":10,"headers":[1,"x"],"payload":"x"}', // 10 header name not a string
      '{"offset":11,"headers":"messageType","value":"x"}', // 11
      '{"offset":12,"headers":{},"value":42}', // 12
      '{"offset":13,"headers":{}}', // 13 no value
      good(14) + '\r', // 14 CRLF line
      '   ', // 15 blank
      '{"offset":16,"headers":{"messageType":"Decision"},"value":{"inline":true}}', // 16 inline JSON value: accepted
      '{"offset": 17, "headers": {"messageType": "Decision"}, "value": "truncated', // 17
      good(18), // 18, no final newline
    ];
    await writeFile(path, lines.join('\n'));
    for (const hwm of [undefined, 7]) {
      const { records, lines: at, rejects } = await readAll(path, hwm);
      assert.deepEqual(at, [1, 14, 16, 18]);
      assert.deepEqual(records.map((r) => r.offset), [1, 14, 16, 18]);
      assert.equal(records[2]!.value, '{"inline":true}');
      assert.equal(records[1]!.value, '{"n":14}');
      assert.deepEqual(
        rejects.map((r) => [r.line, r.offset, r.code]),
        [
          [2, undefined, 'not-json'],
          [4, undefined, 'not-object'],
          [5, undefined, 'missing-offset'],
          [6, undefined, 'bad-offset'],
          [7, undefined, 'bad-offset'],
          [8, 8, 'bad-headers'],
          [9, 9, 'bad-headers'],
          [10, 10, 'bad-headers'],
          [11, 11, 'bad-headers'],
          [12, 12, 'bad-value'],
          [13, 13, 'bad-value'],
          [17, undefined, 'not-json'],
        ],
      );
      for (const r of rejects) {
        assert.equal(r.text, lines[r.line - 1]);
        assert.ok(r.reason.length > 0);
        assert.equal('offset' in r, r.offset !== undefined, 'offset only present when known');
      }
    }
  });

  test('writeRejects writes <input>.rejects.ndjson with line, offset, reason and text', async () => {
    const input = join(dir, 'bad.ndjson');
    await writeFile(input, '{"offset":1,"headers":{"messageType":"Candidate"},"value":"{}"}\nnope\n{"offset":3,"headers":{"a":1},"value":"{}"}\n');
    const rejects: LogReject[] = [];
    for await (const item of readNdjsonLog(input)) if (item.kind === 'reject') rejects.push(item.reject);
    const { path, count } = await writeRejects(input, rejects);
    assert.equal(path, rejectsPathFor(input));
    assert.equal(path, input + '.rejects.ndjson');
    assert.equal(count, 2);
    const written = (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(written.map((w) => [w['line'], w['offset'], w['code'], w['text']]), [
      [2, undefined, 'not-json', 'nope'],
      [3, 3, 'bad-headers', '{"offset":3,"headers":{"a":1},"value":"{}"}'],
    ]);
    assert.ok(written.every((w) => typeof w['reason'] === 'string'));
    assert.ok(!('offset' in written[0]!));
    // the input is untouched, and cannot be the rejects target
    assert.match(await readFile(input, 'utf8'), /^\{"offset":1/);
    await assert.rejects(writeRejects(input, rejects, { rejectsPath: input }));
    // an async source of rejects works too
    const again = await writeRejects(input, (async function* () { yield* rejects; })(), { rejectsPath: join(dir, 'other.rejects.ndjson') });
    assert.equal(again.count, 2);
    assert.equal(formatRejectLine(rejects[0]!), (await readFile(again.path, 'utf8')).split('\n')[0]);
  });

  test('ndjsonLogBatches: batches of batchSize in file order, rejects to the callback', async () => {
    const path = join(dir, 'batches.ndjson');
    const original = [...generateCertificationLog({ transactions: 100, seed: 8 })];
    const body = original.map(formatEnvelopeLine);
    body.splice(10, 0, 'garbage');
    body.splice(50, 0, '{"offset":"x"}');
    await writeFile(path, body.join('\n') + '\n');
    const rejects: LogReject[] = [];
    let gateCalls = 0;
    const batches = await lastValueFrom(
      ndjsonLogBatches(path, { batchSize: 7, highWaterMark: 512, onReject: (r) => rejects.push(r), gate: async () => { gateCalls++; } }).pipe(toArray()),
    );
    assert.ok(batches.slice(0, -1).every((b) => b.length === 7));
    assert.ok(batches[batches.length - 1]!.length <= 7);
    assert.equal(gateCalls, batches.length);
    assert.deepEqual(batches.flat().map(strip), original.map(strip));
    assert.deepEqual(rejects.map((r) => r.line), [11, 51]);
  });

  test('ndjsonLogBatches: unsubscribing stops reading; a missing file errors', async () => {
    const path = join(dir, 'many.ndjson');
    await writeNdjsonLog(path, generateCertificationLog({ transactions: 2000 }));
    const firstTwo = await lastValueFrom(ndjsonLogBatches(path, { batchSize: 10 }).pipe(take(2), toArray()));
    assert.deepEqual(firstTwo.flat().map((r) => r.offset), Array.from({ length: 20 }, (_, i) => i + 1));
    await assert.rejects(firstValueFrom(ndjsonLogBatches(join(dir, 'missing.ndjson'))), /ENOENT/);
    assert.throws(() => ndjsonLogBatches(path, { batchSize: 0 }), RangeError);
  });

  test('a gzip file, whatever its name and however many gzip members, reads as the text it holds', async () => {
    const plain = join(dir, 'to-compress.ndjson');
    const original = [...generateCertificationLog({ transactions: 300, seed: 8 })];
    await writeNdjsonLog(plain, original);
    const text = await readFile(plain);
    const half = text.indexOf('\n', text.length >> 1) + 1;
    // Two members, as `gzip -c a >> log; gzip -c b >> log` makes; and no .gz in the name.
    const path = join(dir, 'compressed.log');
    await writeFile(path, Buffer.concat([gzipSync(text.subarray(0, half)), gzipSync(text.subarray(half))]));
    const back = await readAll(path, 512);
    assert.deepEqual(back.rejects, []);
    assert.deepEqual(back.records.map(strip), original.map(strip));
    back.records.forEach((r, i) => assert.equal(r.origin, `${path}:${i + 1}`));
  });

  test('gzip is told from text by its first two bytes even when they arrive in separate chunks (a pipe), and inputs shorter than two bytes pass as they are', async () => {
    const text = Buffer.from('{"offset":1,"headers":{"messageType":"Candidate"},"value":"{}"}\n'.repeat(50));
    const compressed = gzipSync(text);
    const inChunks = async function* (bytes: Buffer, sizes: readonly number[]): AsyncGenerator<Buffer> {
      let at = 0;
      for (const size of sizes) {
        yield bytes.subarray(at, at + size);
        at += size;
      }
      if (at < bytes.length) yield bytes.subarray(at);
    };
    const collect = async (chunks: AsyncIterable<Buffer>) => {
      const out: Buffer[] = [];
      for await (const chunk of logBytes(chunks, 'stdin', 256)) out.push(chunk);
      return Buffer.concat(out);
    };
    for (const sizes of [[1], [1, 1], [2], [0, 1, 0, 1], [7, 100]]) {
      assert.deepEqual(await collect(inChunks(compressed, sizes)), text, `gzip in chunks of ${sizes.join(', ')} then the rest`);
      assert.deepEqual(await collect(inChunks(text, sizes)), text, `text in chunks of ${sizes.join(', ')} then the rest`);
    }
    assert.deepEqual(await collect(inChunks(Buffer.from([0x1f]), [])), Buffer.from([0x1f]));
    assert.deepEqual(await collect(inChunks(Buffer.alloc(0), [])), Buffer.alloc(0));
    await assert.rejects(collect(inChunks(compressed.subarray(0, 30), [1])), /stdin: the gzip data is corrupt or cut short \(/);
    assert.equal(rejectsPathFor('-'), 'stdin.rejects.ndjson');
  });

  test('a gzip file cut short gives every complete line before the cut, then an error naming the file', async () => {
    const original = [...generateCertificationLog({ transactions: 300, seed: 9 })];
    const plain = join(dir, 'to-cut.ndjson');
    await writeNdjsonLog(plain, original);
    const compressed = gzipSync(await readFile(plain));
    const path = join(dir, 'cut.ndjson.gz');
    await writeFile(path, compressed.subarray(0, compressed.length >> 1));
    const seen: RawRecord[] = [];
    await assert.rejects(
      (async () => {
        for await (const item of readNdjsonLog(path)) if (item.kind === 'record') seen.push(item.record);
      })(),
      (error: Error) => error.message.startsWith(`${path}: the gzip data is corrupt or cut short (`),
    );
    assert.ok(seen.length > 0 && seen.length < original.length, `${seen.length} of ${original.length} records before the cut`);
    assert.deepEqual(seen.map(strip), original.slice(0, seen.length).map(strip));
  });

  test('big offsets survive as strings of digits; header values of undefined round-trip as null', () => {
    const rec: RawRecord = { offset: 2n ** 60n, headers: { messageType: 'Decision', gone: undefined }, value: Buffer.from('{"a":1}') };
    for (const line of [formatEnvelopeLine(rec), formatKcatLine(rec)]) {
      const item = parseLogLine(line, 1, 'f');
      assert.ok(item?.kind === 'record');
      assert.equal(item.record.offset, String(2n ** 60n));
      assert.deepEqual(Object.entries(item.record.headers), [['messageType', 'Decision'], ['gone', undefined]]);
      assert.equal(item.record.value, '{"a":1}');
    }
    assert.throws(() => formatEnvelopeLine({ offset: -1, headers: {}, value: null }), RangeError);
  });

  test('property: any record survives a line round trip in both formats', () => {
    const record = fc.record({
      offset: fc.oneof(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.bigInt({ min: 0n, max: 2n ** 64n })),
      headers: fc.dictionary(fc.string({ unit: 'binary', maxLength: 10 }), fc.option(fc.string({ unit: 'binary', maxLength: 20 }), { nil: undefined }), { maxKeys: 4 }),
      value: fc.option(fc.string({ unit: 'binary', maxLength: 200 }), { nil: null }),
    });
    fc.assert(
      fc.property(record, fc.boolean(), (r, kcat) => {
        const line = kcat ? formatKcatLine(r) : formatEnvelopeLine(r);
        assert.ok(!line.includes('\n'));
        const item = parseLogLine(line, 3, 'p.ndjson');
        assert.ok(item?.kind === 'record', JSON.stringify(item));
        const expectedOffset = typeof r.offset === 'bigint' && r.offset > BigInt(Number.MAX_SAFE_INTEGER) ? String(r.offset) : Number(r.offset);
        assert.equal(item.record.offset, expectedOffset);
        assert.deepEqual(Object.entries(item.record.headers), Object.entries(r.headers));
        assert.equal(item.record.value, r.value);
        assert.equal(item.record.origin, 'p.ndjson:3');
      }),
      { numRuns: 300 },
    );
  });

  test('property: chunking (even inside UTF-8 sequences) never changes what is read, and no line throws', async () => {
    const line = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/\n/g, ' ')),
      fc.record({ offset: fc.nat(1000), value: fc.string({ unit: 'grapheme', maxLength: 30 }) }).map((r) => formatEnvelopeLine({ offset: r.offset, headers: { messageType: 'Candidate' }, value: r.value })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }), async (lines, cuts) => {
        const text = lines.join('\n');
        const expected = parseNdjsonText(text, 'x');
        const bytes = Buffer.from(text, 'utf8');
        const chunks: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          chunks.push(bytes.subarray(pos, pos + n));
          pos += n;
        }
        const got: LogLine[] = [];
        for await (const batch of parseNdjsonChunks(chunks, 'x')) got.push(...batch);
        assert.deepEqual(got, expected);
        assert.equal(expected.length, lines.filter((l) => l.replace(/\r$/, '').trim() !== '').length);
      }),
      { numRuns: 200 },
    );
  });
});
