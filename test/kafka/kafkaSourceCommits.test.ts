/**
 * Commits of the Kafka source go to the group one at a time, across turns of ownership.
 *
 * kafkajs retries a failed `commitOffsets` with the group generation current at each attempt, so
 * a commit from before a rejoin, still retrying after it, would be accepted under the new
 * generation: sent beside the new turn's commits, it could land last and move the group's offset
 * back below what the new turn committed (seen once in CI, broker-outage test). A fake consumer
 * stands in for kafkajs here, so that the first commit can be held for as long as the test likes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { type Consumer } from 'kafkajs';
import { createKafkaSource } from '../../adapters/kafka/kafkaSource.js';
import { silentLogger } from '../../adapters/logging.js';

const TOPIC = 'certification';
/** kafkajs' own event names; creating a consumer does not connect it. */
const { events } = new kafkajs.Kafka({ brokers: ['unused:9092'] }).consumer({ groupId: 'g' });

interface HeldCommit {
  readonly offset: string;
  settle(error?: Error): void;
}

/** A consumer whose commits stay pending until the test settles them; `join` plays a group join. */
function fakeConsumer() {
  const handlers = new Map<string, Array<(event: { payload: unknown }) => void>>();
  const commits: HeldCommit[] = [];
  const consumer = {
    events,
    on(event: string, handler: (event: { payload: unknown }) => void) {
      handlers.set(event, [...(handlers.get(event) ?? []), handler]);
      return () => undefined;
    },
    commitOffsets([{ offset }]: [{ offset: string }]) {
      return new Promise<void>((resolve, reject) => commits.push({ offset, settle: (error) => (error ? reject(error) : resolve()) }));
    },
  } as unknown as Consumer;
  const join = (memberId: string, partitions: number[]) =>
    handlers.get(events.GROUP_JOIN)?.forEach((handler) => handler({ payload: { memberId, memberAssignment: { [TOPIC]: partitions } } }));
  return { consumer, commits, join };
}

const turns = () => new Promise<void>((resolve) => setImmediate(resolve));

test('a commit still pending from an earlier turn is settled before the next turn commits', async () => {
  const { consumer, commits, join } = fakeConsumer();
  const source = createKafkaSource({ consumer, topic: TOPIC, logger: silentLogger });
  join('member-1', [0]);
  const stale = source.commit(3512);
  await turns();
  assert.deepEqual(commits.map((c) => c.offset), ['3513']);

  // The group forgot member-1 during an outage; it rejoins as member-2 and owns the partition again.
  join('member-2', [0]);
  assert.equal(source.ownedAs, 'member-2');
  const fresh = source.commit(4044);
  await turns();
  assert.deepEqual(commits.map((c) => c.offset), ['3513'], 'the new turn waits while the old commit is still retrying');

  commits[0]!.settle();
  await stale;
  await turns();
  assert.deepEqual(commits.map((c) => c.offset), ['3513', '4045'], 'then sends its own, which lands last');
  commits[1]!.settle();
  await fresh;
});

test('a failed commit does not hold back the next one, and is reported to its caller', async () => {
  const { consumer, commits, join } = fakeConsumer();
  const source = createKafkaSource({ consumer, topic: TOPIC, logger: silentLogger });
  join('member-1', [0]);
  const first = source.commit(9);
  const second = source.commit(19);
  await turns();
  commits[0]!.settle(new Error('coordinator not available'));
  await assert.rejects(first, /coordinator not available/);
  await turns();
  assert.deepEqual(commits.map((c) => c.offset), ['10', '20']);
  commits[1]!.settle();
  await second;
});

test('a member that does not own the partition refuses to commit, also when it loses it while a commit is queued', async () => {
  const { consumer, commits, join } = fakeConsumer();
  const source = createKafkaSource({ consumer, topic: TOPIC, logger: silentLogger });
  await assert.rejects(source.commit(1), /cannot commit offset 2 of certification: this member does not own the partition/);
  join('member-1', [0]);
  const first = source.commit(9);
  const queued = source.commit(19);
  await turns();
  join('member-1', []);
  commits[0]!.settle();
  await first;
  await assert.rejects(queued, /cannot commit offset 20 of certification: this member does not own the partition/);
  assert.equal(commits.length, 1, 'nothing sent for a partition this member no longer owns');
});
