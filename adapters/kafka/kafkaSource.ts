/**
 * The certification topic as a `MessageSource`, read by a kafkajs consumer in a consumer group.
 *
 * Ownership: the topic has one partition, so one member of the group owns it and the others
 * stand by. `ownership` reports when this member gains or loses it. Each subscription to
 * `batches` is one *turn* of ownership: it receives the records fetched while this member owns
 * the partition, from the committed offset on, and nothing after ownership is lost; a new turn
 * needs a new subscription (a fresh replicator that re-reads the snapshot).
 *
 * After every rebalance kafkajs starts again from the committed offset, which is at or below
 * what this turn has already delivered: those records are dropped, so a turn sees each offset
 * once. If instead the first offset after a rebalance lies beyond what this turn delivered,
 * another member owned the partition meanwhile and moved on; the turn ends (ownership lost,
 * then gained again) so the replicator restarts from the persisted snapshot.
 *
 * Where a turn starts: `readFrom(snapshot + 1)` tells the source, before the turn subscribes,
 * the first offset its replicator needs. When the turn's first fetch starts past it (the group's
 * offset was moved forward, or the database restored from an older backup), the turn seeks back
 * there; when reading still starts past it, retention deleted those records and the source
 * reports a fatal error instead of skipping them.
 *
 * Backpressure: `pause()` stops fetching; `throttle(ms)` makes each batch wait before the next
 * fetch. Memory held here is at most one fetched batch.
 */
import type { Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { Observable, Subject, type Subscriber } from 'rxjs';
import type { OwnershipChange, SharedLog } from '../../actors/membership.js';
import { backoffDelay } from '../../machines/backoff.js';
import type { MessageSource, RawRecord, Version } from '../../machines/domain.js';
import type { Logger } from '../logging.js';

export interface KafkaSource extends MessageSource, SharedLog {
  /** Waits this long after each delivered batch before fetching the next (0: no wait). */
  throttle(delayMs: number): void;
  readonly owned: boolean;
  /** True once `disconnect()` was called: the consumer must not be restarted after that. */
  readonly closing: boolean;
  /** The group member id under which this member owns the partition; null when it owns nothing. */
  readonly ownedAs: string | null;
  /** The highest offset delivered in the current turn, for status reporting. */
  readonly lastDelivered: Version | null;
  /** The partition's last offset at the latest fetch (high watermark - 1); null before the first fetch. */
  endOffset(): Version | null;
}

export interface KafkaSourceOptions {
  readonly consumer: Consumer;
  readonly topic: string;
  readonly logger: Logger;
  /** First delay between connection attempts; doubles up to `maxRetryTimeMs`. */
  readonly initialRetryTimeMs?: number;
  readonly maxRetryTimeMs?: number;
}

interface Turn {
  readonly number: number;
  readonly subscriber: Subscriber<readonly RawRecord[]>;
  lastDelivered: Version | null;
  /** Set by a rebalance during the turn: the next batch must continue where the turn left off. */
  rejoined: boolean;
  /** The first offset this turn's replicator needs (its persisted snapshot + 1); null: not told. */
  readonly needsFrom: Version | null;
  /** `sought`: this turn sought back to `needsFrom`, so reading still starting past it means the records are gone (`gone`). */
  seekBack: 'none' | 'sought' | 'gone';
}

/**
 * The offset a fetch asked for: where reading stands for this partition (kafkajs keeps it on the
 * batch, untyped; the first message may lie past it when offsets in between hold no records).
 * kafkajs hands over no empty batch, so the first message's offset is there as the fallback.
 */
function fetchedOffsetOf(batch: Batch): number {
  const fetched = (batch as Batch & { readonly fetchedOffset?: string }).fetchedOffset;
  return fetched === undefined ? Number(batch.firstOffset() ?? Number.NaN) : Number(fetched);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function toRawRecord(message: KafkaMessage, origin: string): RawRecord {
  return { offset: message.offset, headers: message.headers as RawRecord['headers'], value: message.value, origin };
}

export function createKafkaSource(options: KafkaSourceOptions): KafkaSource {
  const { consumer, topic, logger } = options;
  const ownership = new Subject<OwnershipChange>();
  /** The partition this member owns and the group member id it gained it under; null: it owns nothing. */
  let owner: { readonly partition: number; readonly memberId: string } | null = null;
  /** Incremented on every gain of ownership; a subscription belongs to the turn current when it was made. */
  let turnNumber = 0;
  let turn: Turn | null = null;
  let throttleMs = 0;
  let paused = false;
  let closing = false;
  let endOffset: Version | null = null;
  /** What `readFrom` said, for the turn subscribing next. */
  let nextTurnNeedsFrom: Version | null = null;
  /** The latest commit sent to the group, settled or not: the next one waits for it. */
  let commits: Promise<void> = Promise.resolve();

  const lose = (reason: string) => {
    if (owner === null) return;
    owner = null;
    logger.info(`no longer owns ${topic}: ${reason}`);
    ownership.next({ type: 'lost', reason });
  };
  const gain = (owned: number, memberId: string) => {
    owner = { partition: owned, memberId };
    turnNumber += 1;
    logger.info(`owns ${topic} partition ${owned} (turn ${turnNumber})`);
    ownership.next({ type: 'gained', partition: owned });
  };

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const partitions = (payload.memberAssignment as Record<string, number[] | undefined>)[topic] ?? [];
    if (partitions.length > 1) {
      ownership.next({ type: 'fatal', error: new Error(`topic ${topic} has ${partitions.length} partitions assigned to one member; a Talos certification topic has exactly one`) });
      return;
    }
    if (owner !== null && payload.memberId !== owner.memberId) {
      // The group forgot this member (its session expired, e.g. while the process was frozen)
      // and it joined again under a new id: another member may have read the log meanwhile.
      lose(`the group evicted this member (it owned the partition as ${owner.memberId}, rejoined as ${payload.memberId})`);
    }
    if (partitions.length === 0) {
      if (owner === null) logger.info(`standing by: another member of the group reads ${topic}`);
      lose('the group gave the partition to another member');
    } else if (owner === null) gain(partitions[0]!, payload.memberId);
    else if (turn) {
      turn.rejoined = true;
      // A rejoin drops a seek kafkajs already applied: reading starts at the group's committed
      // offset again, which is no sign that the records are gone. Seek again.
      if (turn.lastDelivered === null && turn.seekBack === 'sought') turn.seekBack = 'none';
    }
  });
  for (const event of [consumer.events.CRASH, consumer.events.STOP, consumer.events.DISCONNECT] as const) {
    consumer.on(event, ({ payload }: { payload?: { error?: Error } }) => lose(payload?.error ? `consumer ${event.split('.')[1]}: ${payload.error.message}` : `consumer ${event.split('.')[1]}`));
  }
  // kafkajs restarts a crashed consumer only after errors it deems retriable; after any other it
  // stays disconnected, and a standby (or an owner that handed over) would never rejoin.
  let reconnecting = false;
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart || closing || reconnecting) return;
    reconnecting = true;
    logger.warn(`the Kafka consumer stopped on an error it does not retry (${payload.error.message}); reconnecting`);
    void sleep(options.initialRetryTimeMs ?? 300)
      .then(() => connect())
      .finally(() => {
        reconnecting = false;
      });
  });

  /** Waits (heart-beating) until the current turn has a subscriber; false if fetching should stop. */
  const awaitTurn = async (payload: EachBatchPayload, number: number): Promise<Turn | null> => {
    while (payload.isRunning() && !payload.isStale() && owner !== null && number === turnNumber) {
      if (turn && turn.number === number) return turn;
      await sleep(20);
      await payload.heartbeat().catch(() => {});
    }
    return null;
  };

  /**
   * A turn reads from the group's committed offset, which `run` never moves past the persisted
   * snapshot + 1; a restored database or a hand-moved group offset can (and so can retention,
   * when kafkajs finds the committed offset out of range and starts at the log start). Reading
   * from there would skip every version in between for good, so the turn seeks back to where its
   * replicator needs to start; the batch fetched from past it is dropped unresolved. If reading
   * still starts past it after the seek, retention deleted those records (kafkajs found the
   * offset out of range, reset the group's offset to the log start and read from there): nothing
   * can bring this database up to date from the topic, and the replicator fails rather than leave
   * the gap, with nothing delivered and so nothing committed past the snapshot. Only the first
   * batch of a turn is checked: after it, the per-turn `lastDelivered` check (below) ends a turn
   * whose reading jumps ahead. True: skip this batch.
   */
  const startsPastNeeded = (current: Turn, partition: number, fetchedOffset: number): boolean => {
    const needed = current.needsFrom;
    if (needed === null || current.lastDelivered !== null || !(fetchedOffset > needed)) return false;
    if (current.seekBack === 'gone') return true;
    if (current.seekBack === 'sought') {
      current.seekBack = 'gone';
      // Stop fetching the same batch over and over while the replicator stops.
      paused = true;
      consumer.pause([{ topic }]);
      ownership.next({
        type: 'fatal',
        error: new Error(
          `${topic}/${partition} no longer holds offset ${needed} (retention deleted it: after seeking to ${needed}, reading starts at offset ${fetchedOffset}): versions ${needed}..${fetchedOffset - 1} after the persisted snapshot ${needed - 1} cannot be installed from this topic; restore the database from a backup at or after snapshot ${fetchedOffset - 1}`,
        ),
      });
      return true;
    }
    current.seekBack = 'sought';
    logger.warn(
      `turn ${current.number}: reading ${topic}/${partition} would start at offset ${fetchedOffset} (the group's committed offset, or the log start), past the persisted snapshot ${needed - 1}; seeking back to offset ${needed} so that versions ${needed}..${fetchedOffset - 1} are not skipped`,
    );
    consumer.seek({ topic, partition, offset: String(needed) });
    return true;
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch } = payload;
    if (batch.topic !== topic) return;
    // Every fetch says where the log ends; an idle topic's last one says it ends where reading is.
    const highWatermark = Number(batch.highWatermark);
    if (Number.isSafeInteger(highWatermark)) endOffset = highWatermark - 1;
    if (batch.messages.length === 0) return;
    const current = await awaitTurn(payload, turnNumber);
    if (!current) return;
    if (startsPastNeeded(current, batch.partition, fetchedOffsetOf(batch))) return;
    const origin = `${topic}/${batch.partition}`;
    const fresh = current.lastDelivered === null ? batch.messages : batch.messages.filter((message) => Number(message.offset) > current.lastDelivered!);
    if (fresh.length > 0) {
      const first = Number(fresh[0]!.offset);
      if (current.rejoined && current.lastDelivered !== null && first > current.lastDelivered + 1) {
        // Someone else committed past this turn: leave the batch unresolved for the next turn.
        const { memberId } = owner!;
        lose(`another member moved the committed offset to ${first} (this turn had read up to ${current.lastDelivered})`);
        gain(batch.partition, memberId);
        return;
      }
      if (current.lastDelivered === null) logger.info(`turn ${current.number} reads ${origin} from offset ${first}`);
      current.rejoined = false;
      current.lastDelivered = Number(fresh[fresh.length - 1]!.offset);
      current.subscriber.next(fresh.map((message) => toRawRecord(message, origin)));
    }
    payload.resolveOffset(batch.lastOffset());
    await payload.heartbeat().catch(() => {});
    if (throttleMs > 0 && !paused) await sleep(throttleMs);
  };

  const batches = new Observable<readonly RawRecord[]>((subscriber) => {
    if (turn && turn.number === turnNumber) {
      subscriber.error(new Error(`the Kafka source of ${topic} already has a reader for this turn of ownership`));
      return;
    }
    const mine: Turn = { number: turnNumber, subscriber, lastDelivered: null, rejoined: false, needsFrom: nextTurnNeedsFrom, seekBack: 'none' };
    nextTurnNeedsFrom = null;
    turn = mine;
    // A new turn starts unthrottled and fetching, whatever the previous turn left behind.
    throttleMs = 0;
    if (paused) {
      paused = false;
      consumer.resume([{ topic }]);
    }
    return () => {
      if (turn === mine) turn = null;
    };
  });

  const retry = { initialDelayMs: options.initialRetryTimeMs ?? 300, maxDelayMs: options.maxRetryTimeMs ?? 30_000, multiplier: 2, jitter: 0.2 };
  const connect = async () => {
    for (let attempt = 1; ; attempt++) {
      if (closing) return;
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });
        return;
      } catch (error) {
        const delay = backoffDelay(retry, attempt, Math.random);
        logger.warn(`cannot consume ${topic} yet, retrying in ${delay} ms: ${(error as Error).message}`);
        await consumer.disconnect().catch(() => {});
        await sleep(delay);
      }
    }
  };

  return {
    batches,
    ownership: ownership.asObservable(),
    get owned() {
      return owner !== null;
    },
    get closing() {
      return closing;
    },
    get ownedAs() {
      return owner?.memberId ?? null;
    },
    get lastDelivered() {
      return turn?.lastDelivered ?? null;
    },
    endOffset: () => endOffset,
    readFrom(offset: Version) {
      nextTurnNeedsFrom = offset;
    },
    commit(version: Version) {
      const refuse = () => new Error(`cannot commit offset ${version + 1} of ${topic}: this member does not own the partition`);
      if (owner === null) return Promise.reject(refuse());
      // kafkajs retries a failed commit with the group generation current at each attempt, so a
      // commit of an earlier turn still retrying after a rejoin would land with the new
      // generation, after (and below) this turn's: commits go out one at a time, across turns.
      const sent = commits.then(() => {
        if (owner === null) throw refuse();
        // Kafka's convention: the committed offset is the next one to read.
        return consumer.commitOffsets([{ topic, partition: owner.partition, offset: String(version + 1) }]);
      });
      commits = sent.catch(() => undefined);
      return sent;
    },
    pause() {
      if (paused) return;
      paused = true;
      consumer.pause([{ topic }]);
    },
    resume() {
      if (!paused) return;
      paused = false;
      consumer.resume([{ topic }]);
    },
    throttle(delayMs: number) {
      throttleMs = Math.max(0, delayMs);
    },
    // A turn ends, the consumer stays in the group: `disconnect` is what leaves it.
    async close() {},
    connect,
    async disconnect() {
      closing = true;
      lose('disconnecting');
      await consumer.disconnect();
      ownership.complete();
    },
  };
}
