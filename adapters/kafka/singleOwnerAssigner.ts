/**
 * The group's partition assigner: the certification topic has one partition, which goes to the
 * member that owns it already (so a standby that joins never takes it from a live replicator),
 * else to the first member by id. A member claims the partition with the member id under which
 * it gained it; a claim made under another id than the member's current one is stale (the group
 * evicted the member, e.g. while its process was frozen, and may have given the partition to
 * someone else since) and does not count. Every member, standbys included, gets an assignment entry
 * (empty for standbys), as Java clients send it: kafkajs' round-robin assigner leaves members
 * without partitions out, and a broker that waits for every member's assignment (librdkafka's
 * mock cluster) then never finishes the rebalance. That broker also ends the sync as soon as the
 * leader's assignments are in and refuses a follower's SyncGroup that comes later (INVALID_REQUEST,
 * which kafkajs does not retry), so the leader gives the followers a head start.
 */
import { AssignerProtocol, type Assigner, type GroupMember, type PartitionAssigner } from 'kafkajs';

export const SINGLE_OWNER_ASSIGNER = 'TalosSingleOwnerAssigner';
const VERSION = 1;
/** How long the leader holds its SyncGroup back when other members sync too (a rebalance is rare). */
const FOLLOWERS_HEAD_START_MS = 250;

/** `ownedAs` answers, when this member (re)joins, the member id under which it owns the partition (null: none). */
export function singleOwnerAssigner(ownedAs: () => string | null): PartitionAssigner {
  return ({ cluster }): Assigner => ({
    name: SINGLE_OWNER_ASSIGNER,
    version: VERSION,
    protocol: ({ topics }) => ({
      name: SINGLE_OWNER_ASSIGNER,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData: Buffer.from(ownedAs() ?? '') }),
    }),
    async assign({ members, topics }) {
      const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
      const claimsOwnership = (member: GroupMember) => AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.userData?.toString() === member.memberId;
      // Round-robin from the current owner: with the one partition of a Talos topic, all of it to the owner.
      const first = Math.max(0, sorted.findIndex(claimsOwnership));
      const assignment = new Map<string, Record<string, number[]>>(sorted.map((member) => [member.memberId, {}]));
      let next = first;
      for (const topic of topics) {
        for (const { partitionId } of cluster.findTopicPartitionMetadata(topic)) {
          const member = assignment.get(sorted[next % sorted.length]!.memberId)!;
          (member[topic] ??= []).push(partitionId);
          next += 1;
        }
      }
      if (sorted.length > 1) await new Promise((resolve) => setTimeout(resolve, FOLLOWERS_HEAD_START_MS));
      return sorted.map(({ memberId }) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: VERSION, assignment: assignment.get(memberId)!, userData: Buffer.alloc(0) }),
      }));
    },
  });
}
