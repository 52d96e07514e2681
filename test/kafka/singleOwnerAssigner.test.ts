/**
 * The group's partition assigner: every member gets an assignment entry, the one partition stays
 * with the member that owns it, and a claim made under an earlier member id (the member was
 * evicted and rejoined) does not count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { type Cluster, type GroupMember } from 'kafkajs';
import { singleOwnerAssigner } from '../../adapters/kafka/singleOwnerAssigner.js';

const { AssignerProtocol } = kafkajs;
const TOPIC = 'certification';
const cluster = { findTopicPartitionMetadata: () => [{ partitionId: 0 }] } as unknown as Cluster;

/** A member as the leader sees it: its id and the metadata its own assigner sent when it joined. */
function member(memberId: string, ownedAs: string | null): GroupMember {
  const { metadata } = singleOwnerAssigner(() => ownedAs)({ cluster, groupId: 'g', logger: null as never }).protocol({ topics: [TOPIC] });
  return { memberId, memberMetadata: metadata };
}

async function owners(members: GroupMember[]): Promise<Record<string, number[]>> {
  const assigner = singleOwnerAssigner(() => null)({ cluster, groupId: 'g', logger: null as never });
  const result = await assigner.assign({ members, topics: [TOPIC] });
  return Object.fromEntries(result.map(({ memberId, memberAssignment }) => [memberId, AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment[TOPIC] ?? []]));
}

test('a lone member gets the partition', async () => {
  assert.deepEqual(await owners([member('m-1', null)]), { 'm-1': [0] });
});

test('every member gets an entry; nobody owns yet: the first by id gets the partition', async () => {
  assert.deepEqual(await owners([member('m-2', null), member('m-1', null)]), { 'm-1': [0], 'm-2': [] });
});

test('the member that owns the partition keeps it when a standby joins', async () => {
  assert.deepEqual(await owners([member('m-1', null), member('m-2', 'm-2')]), { 'm-1': [], 'm-2': [0] });
});

test('a claim made under an earlier member id is stale: the live owner keeps the partition', async () => {
  // m-0 owned the partition, was evicted while frozen and rejoined as m-9; m-5 owns it now.
  assert.deepEqual(await owners([member('m-9', 'm-0'), member('m-5', 'm-5')]), { 'm-5': [0], 'm-9': [] });
  assert.deepEqual(await owners([member('m-1', 'm-0'), member('m-2', null)]), { 'm-1': [0], 'm-2': [] }, 'with no valid claim, the first by id');
});
