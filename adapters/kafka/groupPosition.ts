/**
 * Where the replicators' consumer group stands on the certification topic, read with a
 * short-lived admin client and without joining the group (so a running replicator keeps its
 * partition): the committed offset, and the offsets the topic holds.
 */
import type { Logger } from '../logging.js';
import { createKafkaClient } from './kafkaClient.js';
import type { KafkaConfig } from './kafkaConfig.js';

export interface PartitionPosition {
  readonly partition: number;
  /** The next offset the group reads (Kafka's convention); null: the group never committed. */
  readonly committed: number | null;
  /** The oldest offset still on the topic (retention deletes below it). */
  readonly logStart: number;
  /** The offset the next record published will get (the high watermark). */
  readonly logEnd: number;
}

export interface GroupPosition {
  readonly topic: string;
  readonly groupId: string;
  readonly partitions: readonly PartitionPosition[];
}

export async function readGroupPosition(config: KafkaConfig, logger: Logger): Promise<GroupPosition> {
  const admin = createKafkaClient(config, logger).admin();
  try {
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: config.groupId, topics: [config.topic] });
    const offsets = await admin.fetchTopicOffsets(config.topic);
    const committedBy = new Map((committed?.partitions ?? []).map((entry) => [entry.partition, Number(entry.offset)]));
    const partitions = offsets
      .map((entry): PartitionPosition => {
        const offset = committedBy.get(entry.partition) ?? -1;
        // kafkajs answers "no committed offset" with -1.
        return { partition: entry.partition, committed: offset < 0 ? null : offset, logStart: Number(entry.low), logEnd: Number(entry.high) };
      })
      .sort((a, b) => a.partition - b.partition);
    return { topic: config.topic, groupId: config.groupId, partitions };
  } catch (error) {
    throw new Error(`cannot read where group ${config.groupId} stands on ${config.topic} (brokers ${config.brokers.join(',')}): ${(error as Error).message}`, { cause: error });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
