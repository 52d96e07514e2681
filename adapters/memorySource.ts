/**
 * An in-memory message source, for tests and for hosts that already hold the records.
 * Records pushed before anyone subscribes are kept; pushes are delivered in batches; `pause()`
 * holds them back; commits are recorded so a caller can see what was committed.
 */
import { Observable, type Subscriber } from 'rxjs';
import type { MessageSource, RawRecord, Version } from '../machines/domain.js';
import { Deque } from '../machines/structures/deque.js';

export interface MemorySource extends MessageSource {
  push(records: RawRecord | readonly RawRecord[]): void;
  /** No more records: the stream completes once everything pushed was delivered. */
  end(): void;
  readonly paused: boolean;
  /** Every wait asked for by `throttle`, in order. */
  readonly throttles: readonly number[];
  /** Records pushed and not yet delivered. */
  readonly buffered: number;
  /** Every version passed to `commit`, in order. */
  readonly commits: readonly Version[];
  /** The offset of the last record pushed (a log is pushed in offset order); null before the first push. */
  endOffset(): Version | null;
  readonly closed: boolean;
}

export interface MemorySourceOptions {
  /** Most records per delivered batch. */
  readonly maxBatch?: number;
}

export function createMemorySource(options: MemorySourceOptions = {}): MemorySource {
  const maxBatch = options.maxBatch ?? 1000;
  const buffer = new Deque<RawRecord>();
  const commits: Version[] = [];
  let subscriber: Subscriber<readonly RawRecord[]> | null = null;
  let paused = false;
  let ended = false;
  let completed = false;
  let closed = false;
  let scheduled = false;
  let throttleMs = 0;
  const throttles: number[] = [];
  let end: Version | null = null;

  const deliver = () => {
    scheduled = false;
    while (subscriber && !paused && buffer.length > 0) {
      subscriber.next(buffer.shiftMany(maxBatch));
      if (throttleMs > 0 && buffer.length > 0) {
        // Throttled: the next batch after the wait, like a Kafka source between fetches.
        scheduled = true;
        setTimeout(deliver, throttleMs);
        return;
      }
    }
    if (subscriber && ended && buffer.length === 0 && !completed) {
      completed = true;
      subscriber.complete();
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(deliver);
  };

  const batches = new Observable<readonly RawRecord[]>((next) => {
    if (subscriber) {
      next.error(new Error('a memory source delivers to one subscriber at a time'));
      return;
    }
    subscriber = next;
    schedule();
    return () => {
      if (subscriber === next) subscriber = null;
    };
  });

  return {
    batches,
    push(records) {
      if (ended) throw new Error('cannot push to a memory source after end()');
      const list = Array.isArray(records) ? (records as readonly RawRecord[]) : [records as RawRecord];
      for (const record of list) buffer.push(record);
      if (list.length > 0) end = Number(list[list.length - 1]!.offset);
      schedule();
    },
    end() {
      ended = true;
      schedule();
    },
    async commit(version) {
      commits.push(version);
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      schedule();
    },
    throttle(delayMs) {
      throttleMs = delayMs;
      throttles.push(delayMs);
    },
    get throttles() {
      return throttles;
    },
    async close() {
      closed = true;
    },
    get paused() {
      return paused;
    },
    get buffered() {
      return buffer.length;
    },
    endOffset: () => end,
    get commits() {
      return commits;
    },
    get closed() {
      return closed;
    },
  };
}
