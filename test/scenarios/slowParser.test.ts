/**
 * An asynchronous parser (the worker-thread one) that falls behind the source: what waits to be
 * parsed is not in the suffix yet, so the suffix's backpressure cannot see it. The source consumer
 * pauses the source once `maxRecordsInParse` (the suffix capacity) records wait for the parser,
 * resumes it when parsing has caught up, and never resumes a source the replicator paused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCohortReplicator, createMemorySource, silentLogger, type MessageSource, type RawRecord } from '../../index.js';
import { createActor } from 'xstate';
import { createSourceConsumer } from '../../actors/sourceConsumer.js';
import { parseBatch } from '../../adapters/wire/parseRecord.js';
import type { ParsedBatch } from '../../machines/messages.js';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { settle, until } from '../support/scenario.js';

function independentLog(transactions: number): RawRecord[] {
  const records: RawRecord[] = [];
  for (let i = 0; i < transactions; i++) {
    const version = 1 + 2 * i;
    records.push(candidateRecord(version), decisionRecord(version + 1, version, { safepoint: 0 }));
  }
  return records;
}

/** parseBatch, answered only when `release` is called (in order, like the worker). */
function heldParser() {
  const waiting: Array<() => void> = [];
  let held = 0;
  let mostHeld = 0;
  const sizes: number[] = [];
  return {
    parse(records: readonly RawRecord[]): Promise<ParsedBatch> {
      sizes.push(records.length);
      held += records.length;
      mostHeld = Math.max(mostHeld, held);
      return new Promise((resolve) =>
        waiting.push(() => {
          held -= records.length;
          resolve(parseBatch(records));
        }),
      );
    },
    /** Answers every batch parsed so far. */
    release() {
      for (const answer of waiting.splice(0)) answer();
    },
    /** Answers the oldest batch still waiting. */
    releaseOne() {
      waiting.shift()?.();
    },
    /** Records per call so far, in order. */
    get sizes(): readonly number[] {
      return sizes;
    },
    get held() {
      return held;
    },
    get mostHeld() {
      return mostHeld;
    },
  };
}

const SUFFIX_CAPACITY = 60;
const MAX_BATCH = 8;

test('a parser that falls behind pauses the source at the suffix capacity in records, and parsing catching up resumes it', { timeout: 20_000 }, async (t) => {
  const parser = heldParser();
  const source = createMemorySource({ maxBatch: MAX_BATCH });
  const calls: Array<'pause' | 'resume'> = [];
  const observed: MessageSource = {
    batches: source.batches,
    commit: (version) => source.commit(version),
    pause: () => {
      calls.push('pause');
      source.pause();
    },
    resume: () => {
      calls.push('resume');
      source.resume();
    },
  };
  const installed: number[] = [];
  let persisted = 0;
  const replicator = createCohortReplicator({
    source: observed,
    parse: (records) => parser.parse(records),
    installer: { install: async (_statemaps, version) => void installed.push(version) },
    snapshotStore: { getSnapshot: async () => 0, updateSnapshot: async (version) => void (persisted = version) },
    logger: silentLogger,
    config: { suffixCapacity: SUFFIX_CAPACITY, statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
  });
  const log = independentLog(100);
  let answering: NodeJS.Timeout | undefined;
  // Also when an assertion fails: nothing may keep the test process alive.
  t.after(() => {
    clearInterval(answering);
    parser.release();
    replicator.stop();
  });
  replicator.start();
  source.push(log);
  source.end();

  await until(() => source.paused, 'the source paused for the parser');
  assert.ok(parser.held >= SUFFIX_CAPACITY, `paused with ${parser.held} records waiting for the parser`);
  assert.ok(source.buffered > 0, 'records were left in the source');
  // The source stops delivering at once: at most the batch that crossed the limit on top.
  assert.ok(parser.mostHeld < SUFFIX_CAPACITY + MAX_BATCH, `at most ${parser.mostHeld} records waited for the parser`);

  // From here on, answer everything as it comes until the whole log is through.
  answering = setInterval(() => parser.release(), 1);
  await until(() => persisted === log.length - 1, 'every version installed and the snapshot persisted', 10_000);
  assert.ok(calls.length >= 2, `paused and resumed: ${calls.join(', ')}`);
  assert.deepEqual(calls, calls.map((_, index) => (index % 2 === 0 ? 'pause' : 'resume')), 'pause and resume alternate, starting with pause');
  assert.equal(source.paused, false);
  assert.deepEqual(installed.sort((a, b) => a - b), log.filter((_, index) => index % 2 === 0).map((record) => Number(record.offset)));
  assert.ok(parser.mostHeld < SUFFIX_CAPACITY + MAX_BATCH, `at most ${parser.mostHeld} records waited for the parser`);
});

test("the parser catching up does not resume a source the replicator paused; the replicator's resume does", async (t) => {
  const parser = heldParser();
  const source = createMemorySource({ maxBatch: 5 });
  source.push(independentLog(40));
  const consumer = createActor(createSourceConsumer(source, (records) => parser.parse(records)), { input: { channelSize: 100, maxRecordsInParse: 10 } });
  t.after(() => {
    parser.release();
    consumer.stop();
  });
  consumer.start();
  consumer.send({ type: 'START', from: 1 });
  await until(() => source.paused, 'the source paused for the parser');
  const heldAtPause = parser.held;
  assert.ok(heldAtPause >= 10 && heldAtPause < 15, `${heldAtPause} records wait for the parser`);

  consumer.send({ type: 'PAUSE' });
  parser.release();
  await settle();
  assert.equal(parser.held, 0);
  assert.equal(source.paused, true, 'still paused: the replicator asked for it');
  assert.equal(source.buffered, 80 - heldAtPause, 'nothing more was read');

  consumer.send({ type: 'RESUME' });
  await until(() => source.buffered < 80 - heldAtPause, 'reading to go on');
  await until(() => source.paused, 'the source paused for the parser again');
});

test('with recordsPerParse, a batch goes to an asynchronous parser in parts, and the first part is installed while the rest is still being parsed', async (t) => {
  const parser = heldParser();
  const source = createMemorySource({ maxBatch: 100 });
  const installed: number[] = [];
  const replicator = createCohortReplicator({
    source,
    parse: (records) => parser.parse(records),
    recordsPerParse: 10,
    installer: { install: async (_statemaps, version) => void installed.push(version) },
    snapshotStore: { getSnapshot: async () => 0, updateSnapshot: async () => {} },
    logger: silentLogger,
    config: { channelSize: 100, statemapQueueCleanupFreqMs: 10 },
  });
  t.after(() => {
    parser.release();
    replicator.stop();
  });
  replicator.start();
  source.push(independentLog(20));
  await until(() => parser.sizes.length === 4, 'the 40 records handed to the parser');
  assert.deepEqual(parser.sizes, [10, 10, 10, 10]);
  parser.releaseOne();
  // The first 10 records are 5 transactions; their commits install while 30 records wait.
  await until(() => installed.length === 5, 'the first part installed');
  assert.deepEqual(installed, [1, 3, 5, 7, 9]);
  assert.equal(parser.held, 30);
  parser.release();
  await until(() => installed.length === 20, 'the rest installed');
});
