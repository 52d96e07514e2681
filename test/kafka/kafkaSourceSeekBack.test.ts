/**
 * The Kafka source's seek back to the offset its replicator needs (`readFrom`), at the level of
 * the batches kafkajs hands over: what the mock broker cannot be made to do on cue (a rebalance
 * between the seek and the first fetch after it) and the plain cases around it. A fake consumer
 * stands in for kafkajs; test/kafka/seekBack.test.ts runs the whole thing against the mock broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { type Consumer, type EachBatchPayload } from 'kafkajs';
import type { OwnershipChange } from '../../actors/membership.js';
import { createKafkaSource } from '../../adapters/kafka/kafkaSource.js';
import { silentLogger } from '../../adapters/logging.js';
import type { RawRecord } from '../../machines/domain.js';

const TOPIC = 'certification';
const { events } = new kafkajs.Kafka({ brokers: ['unused:9092'] }).consumer({ groupId: 'g' });

function fakeConsumer() {
  const handlers = new Map<string, Array<(event: { payload: unknown }) => void>>();
  const seeks: string[] = [];
  const pauses: number[] = [];
  const resolved: string[] = [];
  let eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  const consumer = {
    events,
    on(event: string, handler: (event: { payload: unknown }) => void) {
      handlers.set(event, [...(handlers.get(event) ?? []), handler]);
      return () => undefined;
    },
    async connect() {},
    async subscribe() {},
    async run(options: { eachBatch: (payload: EachBatchPayload) => Promise<void> }) {
      eachBatch = options.eachBatch;
    },
    seek({ offset }: { offset: string }) {
      seeks.push(offset);
    },
    pause() {
      pauses.push(Date.now());
    },
    resume() {},
    async commitOffsets() {},
  } as unknown as Consumer;
  const join = (memberId: string, partitions: number[]) =>
    handlers.get(events.GROUP_JOIN)?.forEach((handler) => handler({ payload: { memberId, memberAssignment: { [TOPIC]: partitions } } }));
  /** Hands over a batch as kafkajs does: fetched from `fetchedOffset`, holding `offsets`. */
  const fetch = async (fetchedOffset: number, offsets: number[]) => {
    const messages = offsets.map((offset) => ({ offset: String(offset), headers: {}, value: Buffer.from('{}') }));
    const batch = {
      topic: TOPIC,
      partition: 0,
      highWatermark: String(offsets.at(-1)! + 1),
      fetchedOffset: String(fetchedOffset),
      messages,
      firstOffset: () => messages[0]?.offset ?? null,
      lastOffset: () => messages.at(-1)!.offset,
    };
    await eachBatch!({
      batch,
      isRunning: () => true,
      isStale: () => false,
      heartbeat: async () => {},
      resolveOffset: (offset: string) => void resolved.push(offset),
    } as unknown as EachBatchPayload);
  };
  return { consumer, join, fetch, seeks, pauses, resolved };
}

async function setUp(readFrom: number | null) {
  const fake = fakeConsumer();
  const source = createKafkaSource({ consumer: fake.consumer, topic: TOPIC, logger: silentLogger });
  const changes: OwnershipChange[] = [];
  source.ownership.subscribe((change) => changes.push(change));
  await source.connect();
  fake.join('member-1', [0]);
  if (readFrom !== null) source.readFrom!(readFrom);
  const delivered: number[][] = [];
  source.batches.subscribe((records: readonly RawRecord[]) => delivered.push(records.map((record) => Number(record.offset))));
  const fatal = () => changes.filter((change) => change.type === 'fatal').map((change) => (change as { error: Error }).error.message);
  return { ...fake, source, delivered, fatal };
}

test('a first fetch past the needed offset is dropped and the source seeks back; reading from there is delivered', async () => {
  const { fetch, seeks, resolved, delivered, fatal } = await setUp(101);
  await fetch(600, [600, 601, 602]);
  assert.deepEqual(seeks, ['101']);
  assert.deepEqual(delivered, [], 'nothing past the needed offset delivered');
  assert.deepEqual(resolved, [], 'the dropped batch is not resolved');
  await fetch(101, [101, 102, 103]);
  assert.deepEqual(delivered, [[101, 102, 103]]);
  assert.deepEqual(fatal(), []);
  // Later batches are not checked again: the turn's own bookkeeping takes over.
  await fetch(104, [104, 105]);
  assert.deepEqual(delivered, [[101, 102, 103], [104, 105]]);
  assert.deepEqual(seeks, ['101']);
});

test('reading that starts at or below the needed offset, or a source not told, is left alone', async () => {
  const below = await setUp(101);
  await below.fetch(90, [90, 91]);
  await below.fetch(101, [101]);
  assert.deepEqual(below.seeks, []);
  assert.deepEqual(below.delivered, [[90, 91], [101]], 'records at or below the snapshot go on to the replicator, which drops them');
  // A gap of offsets without records (transaction markers) right at the needed offset is no gap in versions.
  const marker = await setUp(101);
  await marker.fetch(101, [102, 103]);
  assert.deepEqual(marker.seeks, []);
  assert.deepEqual(marker.delivered, [[102, 103]]);
  const untold = await setUp(null);
  await untold.fetch(600, [600]);
  assert.deepEqual(untold.seeks, []);
  assert.deepEqual(untold.delivered, [[600]]);
});

test('when reading still starts past the needed offset after the seek, the records are gone: a fatal error naming the offsets, nothing delivered, fetching paused', async () => {
  const { fetch, seeks, pauses, delivered, resolved, fatal } = await setUp(101);
  await fetch(600, [600, 601]);
  // kafkajs found 101 out of range and went on at the log start.
  await fetch(450, [450, 451]);
  assert.deepEqual(seeks, ['101'], 'no second seek');
  assert.deepEqual(fatal(), [
    'certification/0 no longer holds offset 101 (retention deleted it: after seeking to 101, reading starts at offset 450): versions 101..449 after the persisted snapshot 100 cannot be installed from this topic; restore the database from a backup at or after snapshot 449',
  ]);
  assert.equal(pauses.length, 1);
  await fetch(450, [450, 451]);
  assert.equal(fatal().length, 1, 'reported once');
  assert.deepEqual(delivered, []);
  assert.deepEqual(resolved, []);
});

test('a rebalance between the seek and the first fetch after it makes kafkajs read from the committed offset again: the source seeks again, it does not call the records gone', async () => {
  const { fetch, join, seeks, delivered, fatal } = await setUp(101);
  await fetch(600, [600, 601]);
  join('member-1', [0]);
  await fetch(600, [600, 601]);
  assert.deepEqual(fatal(), []);
  assert.deepEqual(seeks, ['101', '101']);
  await fetch(101, [101, 102]);
  assert.deepEqual(delivered, [[101, 102]]);
});

test('each turn seeks back to what its own replicator needs', async () => {
  const { fetch, join, seeks, source, delivered } = await setUp(101);
  await fetch(101, [101, 102]);
  // The partition goes to another member, then comes back: a new turn, a new replicator.
  join('member-1', []);
  join('member-1', [0]);
  source.readFrom!(201);
  source.batches.subscribe((records: readonly RawRecord[]) => delivered.push(records.map((record) => Number(record.offset))));
  await fetch(300, [300]);
  assert.deepEqual(seeks, ['201']);
  await fetch(201, [201]);
  assert.deepEqual(delivered, [[101, 102], [201]]);
});
