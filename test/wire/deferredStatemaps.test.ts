import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createActor } from 'xstate';
import { createInstallPool } from '../../actors/installPool.js';
import { installJob, isDeferred, statemapItems, type DeferredStatemap, type RawRecord, type Statemap, type StatemapEntry, type StatemapItem } from '../../machines/domain.js';
import type { CandidateMessage, ParsedBatch } from '../../machines/messages.js';
import { StatemapQueue } from '../../machines/statemapQueue.js';
import { parseBatch, parsePipelineBatch } from '../../adapters/wire/parseRecord.js';
import { syntheticLog } from '../bench/syntheticLog.js';

const built = ({ statemap, version }: { readonly statemap: Statemap; readonly version: number }): readonly StatemapEntry[] => (isDeferred(statemap) ? statemap.entries(version) : statemap);
const candidates = (batch: ParsedBatch) => batch.messages.filter((message): message is CandidateMessage => message.kind === 'candidate');

function candidate(offset: number, statemap: unknown): RawRecord {
  return { offset, headers: { messageType: 'Candidate' }, value: Buffer.from(JSON.stringify({ xid: `x-${offset}`, statemap }), 'utf8') };
}

test('deferred statemaps: the pipeline parser defers them, and each builds what parseBatch builds', () => {
  const records: RawRecord[] = [];
  syntheticLog().next(3_000, records);
  const deferred = parsePipelineBatch(records);
  const eager = parseBatch(records);
  const lazy = candidates(deferred);
  assert.equal(lazy.length, 3_000);
  assert.ok(lazy.every((message) => isDeferred(message.statemap) || message.statemap.length === 0), 'every statemap of this ASCII log is deferred');
  assert.ok(lazy.some((message) => isDeferred(message.statemap)));
  // The same messages once built, built twice (each call builds afresh from the text).
  assert.deepStrictEqual(
    lazy.map(built),
    candidates(eager).map((message) => message.statemap),
  );
  assert.deepStrictEqual(built(lazy[2_999]!), built(lazy[2_999]!));
  // A chunk's candidates share one deferred statemap: no object per waiting version.
  const shared = new Set(lazy.map((message) => message.statemap)).size;
  assert.ok(shared > 1 && shared * 100 < lazy.length, `${shared} deferred statemaps for ${lazy.length} candidates`);
  const first = lazy.find((message) => isDeferred(message.statemap))!;
  assert.throws(() => (first.statemap as DeferredStatemap).entries(first.version - 1), /no statemap for version/);
  assert.deepStrictEqual(deferred.rejects, eager.rejects);
  assert.equal(deferred.lastOffset, eager.lastOffset);
});

test('deferred statemaps: chunks read long after they were parsed (each statemap decoded alone) and soon after (the chunk decoded whole) build the same', () => {
  const records: RawRecord[] = [];
  // About 140 chunks: the first ones are read long after (over a hundred chunks were made since), the last ones young.
  syntheticLog().next(50_000, records);
  const lazy = candidates(parsePipelineBatch(records));
  const eager = candidates(parseBatch(records)).map((message) => message.statemap);
  assert.ok(new Set(lazy.map((message) => message.statemap)).size > 100);
  // Newest first, then oldest first: the order of reads does not matter, and each read builds afresh.
  for (let k = lazy.length - 1; k >= 0; k -= 7) assert.deepStrictEqual(built(lazy[k]!), eager[k], `version ${lazy[k]!.version}`);
  assert.deepStrictEqual(lazy.map(built), eager);
  const withItems = lazy.filter((message) => isDeferred(message.statemap));
  for (const message of [withItems[0]!, withItems.at(-1)!]) {
    assert.deepStrictEqual(installJob({ version: message.version, safepoint: 3, statemap: message.statemap }).statemaps, statemapItems(built(message), message.version, 3));
  }
});

test('deferred statemaps: a chunk the walk cannot read (beyond ASCII, a backslash, __proto__) is built at once', () => {
  for (const odd of [{ name: 'Zoë' }, { note: 'a "quoted" word' }, JSON.parse('{"__proto__": 1}') as unknown]) {
    const records = [candidate(1, [{ TRANSFER: { amount: '1.00' } }]), candidate(2, [{ NOTE: odd }]), candidate(3, [{ TRANSFER: { amount: '2.00' } }])];
    const batch = parsePipelineBatch(records);
    for (const message of candidates(batch)) assert.ok(!isDeferred(message.statemap), JSON.stringify(odd));
    assert.deepStrictEqual(candidates(batch), candidates(parseBatch(records)));
  }
});

test('deferred statemaps: a record read twice in one batch, or out of order, still builds its own statemap', () => {
  const records = [
    candidate(5, [{ A: { n: 1 } }]),
    candidate(6, [{ B: { n: 2 } }]),
    candidate(6, [{ C: { n: 3 } }]),
    candidate(4, [{ D: { n: 4 } }]),
    candidate(7, [{ E: { n: 5 } }]),
  ];
  const lazy = candidates(parsePipelineBatch(records));
  assert.ok(lazy.every((message) => isDeferred(message.statemap)));
  assert.deepStrictEqual(
    lazy.map(built),
    candidates(parseBatch(records)).map((message) => message.statemap),
  );
});

test('deferred statemaps: random ASCII statemaps build to what JSON.parse gives', () => {
  const ascii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x22 && c !== 0x5c).map((c) => String.fromCharCode(c)) });
  const payload = fc.dictionary(ascii.filter((key) => key !== '__proto__'), fc.oneof(ascii, fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 })), { maxKeys: 4 });
  const statemap = fc.array(fc.record({ action: ascii.filter((key) => key !== '__proto__'), payload }), { minLength: 1, maxLength: 3 });
  fc.assert(
    fc.property(fc.array(statemap, { minLength: 1, maxLength: 40 }), (statemaps) => {
      const values = statemaps.map((entries) => entries.map(({ action, payload: value }) => ({ [action]: value })));
      const records = values.map((value, i) => candidate(i + 1, value));
      const messages = candidates(parsePipelineBatch(records));
      assert.deepStrictEqual(
        messages.map(built),
        values.map((value) => JSON.parse(JSON.stringify(value)) as StatemapEntry[]),
      );
    }),
  );
});

test("deferred statemaps: the installer's items built straight from the text equal statemapItems of the built entries (whitespace, integer-like and repeated keys included)", () => {
  const key = fc.oneof(fc.constantFrom('A', 'TRANSFER', '2', '10', '0'), fc.string({ unit: fc.constantFrom('a', 'b', '1', ' '), minLength: 1, maxLength: 3 }));
  const value = fc.oneof(fc.string({ maxLength: 12, unit: fc.constantFrom('x', 'y', '-', '9') }), fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), fc.dictionary(key, fc.integer(), { maxKeys: 2 }));
  // An entry as raw text: one action, now and then written twice (JSON keeps the last value; JSON.stringify could not write that).
  const space = fc.constantFrom('', ' ', '\n ');
  const entry = fc.tuple(key, value, fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value }), space).map(([k, v, again, ws]) => `{${ws}${JSON.stringify(k)}:${ws}${JSON.stringify(v)}${again === undefined ? '' : `,${JSON.stringify(k)}:${JSON.stringify(again)}`}${ws}}`);
  const statemapText = fc.tuple(fc.array(entry, { minLength: 1, maxLength: 3 }), space).map(([entries, ws]) => `[${ws}${entries.join(`${ws},${ws}`)}${ws}]`);
  let deferred = 0;
  fc.assert(
    fc.property(fc.array(statemapText, { minLength: 1, maxLength: 30 }), fc.option(fc.nat(), { nil: null }), (texts, safepoint) => {
      const records = texts.map((text, i): RawRecord => ({ offset: i + 1, headers: { messageType: 'Candidate' }, value: Buffer.from(`{"xid":"x-${i + 1}","statemap":${text}}`, 'utf8') }));
      const messages = candidates(parsePipelineBatch(records));
      assert.equal(messages.length, records.length, 'every record is a valid candidate');
      for (const message of messages) {
        const expected = statemapItems(JSON.parse(texts[message.version - 1]!) as StatemapEntry[], message.version, safepoint);
        if (isDeferred(message.statemap)) {
          deferred += 1;
          assert.deepStrictEqual(message.statemap.items!(message.version, safepoint), expected);
        }
        assert.deepStrictEqual(installJob({ version: message.version, safepoint, statemap: message.statemap }).statemaps, expected);
      }
    }),
    { numRuns: 300 },
  );
  assert.ok(deferred > 500, `${deferred} deferred statemaps checked`);
});

test('deferred statemaps: nothing is built while a version waits or is dispatched; its install call builds it, afresh on each attempt', async () => {
  let builds = 0;
  const entries: readonly StatemapEntry[] = [{ TRANSFER: { from: 'a', to: 'b', amount: '1.00' } }, { FEE: { amount: '0.10' } }];
  const deferred: DeferredStatemap = {
    entries: () => {
      builds += 1;
      return entries;
    },
  };
  const queue = new StatemapQueue(9);
  queue.accept([
    { version: 10, safepoint: 9, statemap: deferred },
    { version: 12, safepoint: 10, statemap: deferred },
  ]);
  const first = queue.takeReady();
  assert.deepStrictEqual(first.map((job) => job.version), [10], 'version 12 waits for 10');
  assert.equal(builds, 0, 'dispatching builds nothing: the installer backlog holds versions as parsed');

  const calls: Array<readonly [number, readonly StatemapItem[]]> = [];
  const pool = createActor(createInstallPool({ install: async (statemaps, version) => void calls.push([version, statemaps]) }), { input: { batchSize: 1 } }).start();
  pool.send({ type: 'RUN', jobs: first, batchSize: 1 });
  assert.deepStrictEqual(calls, [[10, statemapItems(entries, 10, 9)]]);
  assert.equal(builds, 1);

  queue.settle([{ version: 10, ok: false, error: new Error('try again') }], Infinity);
  queue.retryDue(10);
  pool.send({ type: 'RUN', jobs: queue.takeReady(), batchSize: 1 });
  assert.deepStrictEqual(calls[1], [10, statemapItems(entries, 10, 9)]);
  assert.equal(builds, 2, 'a retry builds its items again (an installer may have kept or changed the first ones)');

  queue.settle([{ version: 10, ok: true }], Infinity);
  assert.deepStrictEqual(installJob(queue.takeReady()[0]!), { version: 12, statemaps: statemapItems(entries, 12, 10) });
  pool.stop();
});
