/**
 * Consumes the user's message source: parses each batch of raw records (in order, possibly off
 * the main thread) and reports it to the replicator; carries out pause, resume, offset commits
 * and the final close. Commits go out one at a time and only ever upwards.
 *
 * An off-thread parser answers later: the source may deliver faster than it parses, and what it
 * delivered meanwhile is invisible to the replicator's backpressure (it has not reached the
 * suffix). So the source is also paused while `maxRecordsInParse` records wait for the parser,
 * and resumed once parsing catches up, unless the replicator wants it paused.
 */
import { concatMap, from, map, mergeMap, of, type Subscription } from 'rxjs';
import { fromCallback } from 'xstate';
import type { SourceCommand, SourceConsumerInput, SourceReport } from '../machines/cohortReplicator.machine.js';
import type { MessageSource, RawRecord, Version } from '../machines/domain.js';
import type { ParsedBatch } from '../machines/messages.js';

export type BatchParser = (records: readonly RawRecord[]) => ParsedBatch | Promise<ParsedBatch>;

function* chunks<T>(items: readonly T[], size: number): Generator<readonly T[]> {
  if (items.length <= size) {
    yield items;
    return;
  }
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}

export interface SourceConsumerOptions {
  /**
   * Most records per parse call, below `channelSize` (default: `channelSize`). For a parser off
   * the main thread: the first part of a large batch comes back and goes down the pipeline while
   * the worker parses the next, instead of the main thread waiting for the whole batch.
   */
  readonly recordsPerParse?: number | undefined;
}

export function createSourceConsumer(source: MessageSource, parse: BatchParser, options: SourceConsumerOptions = {}) {
  return fromCallback<SourceCommand, SourceConsumerInput>(({ sendBack, receive, input }) => {
    let subscription: Subscription | null = null;
    /** Records handed to an asynchronous parser and not yet reported. */
    let inParse = 0;
    let pausedByReplicator = false;
    let pausedForParser = false;
    /** Applies `change` to the two reasons to pause; tells the source only when the outcome flips. */
    const setPaused = (change: () => void) => {
      const was = pausedByReplicator || pausedForParser;
      change();
      const now = pausedByReplicator || pausedForParser;
      if (now && !was) source.pause();
      else if (!now && was) source.resume();
    };
    const parseInOrder = (records: readonly RawRecord[]): ParsedBatch | Promise<ParsedBatch> => {
      const parsed = parse(records);
      if (!(parsed instanceof Promise)) return parsed;
      inParse += records.length;
      if (!pausedForParser && inParse >= input.maxRecordsInParse) setPaused(() => (pausedForParser = true));
      const settled = () => {
        inParse -= records.length;
        // Resume at half, so a parser at its limit does not pause and resume the source per batch.
        if (pausedForParser && inParse <= input.maxRecordsInParse / 2) setPaused(() => (pausedForParser = false));
      };
      const tracked = parsed.then(
        (batch) => {
          settled();
          return batch;
        },
        (error: unknown) => {
          settled();
          throw error;
        },
      );
      // The pipeline takes the error when it gets to this batch; after a stop nobody does, and a
      // batch still waiting then must not count as an unhandled rejection.
      tracked.catch(() => undefined);
      return tracked;
    };
    let committed: Version | null = null;
    let commits: Promise<void> = Promise.resolve();
    /** The last commit asked for: while one commit hangs (a broker outage), those queued behind it collapse into the newest. */
    let newestVersion: Version | null = null;
    const report = (event: SourceReport) => sendBack(event);

    const commit = (version: Version): Promise<void> => {
      newestVersion = version;
      commits = commits.then(async () => {
        if (committed !== null && version <= committed) return;
        if (newestVersion !== null && newestVersion > version) return;
        try {
          await source.commit(version);
          committed = version;
          report({ type: 'SOURCE.COMMITTED', version });
        } catch (error) {
          report({ type: 'SOURCE.COMMIT_FAILED', version, error });
        }
      });
      return commits;
    };

    receive((command) => {
      switch (command.type) {
        case 'START':
          if (subscription) return;
          source.readFrom?.(command.from);
          subscription = source.batches
            .pipe(
              mergeMap((records) => from(chunks(records, Math.min(input.channelSize, options.recordsPerParse ?? Infinity)))),
              // Parsing starts as each batch arrives (an off-thread parser overlaps with the pipeline);
              // delivery keeps batch order. A synchronous parser delivers synchronously, so a pause
              // takes effect before the next batch is read.
              map(parseInOrder),
              concatMap((parsed) => (parsed instanceof Promise ? from(parsed) : of(parsed))),
            )
            .subscribe({
              next: (batch) => report({ type: 'SOURCE.RECORDS', batch }),
              error: (error: unknown) => report({ type: 'SOURCE.FAILED', error }),
              complete: () => report({ type: 'SOURCE.ENDED' }),
            });
          return;
        case 'PAUSE':
          setPaused(() => (pausedByReplicator = true));
          return;
        case 'RESUME':
          setPaused(() => (pausedByReplicator = false));
          return;
        case 'THROTTLE':
          source.throttle?.(command.delayMs);
          return;
        case 'COMMIT':
          void commit(command.version);
          return;
        case 'STOP':
          subscription?.unsubscribe();
          subscription = null;
          return;
        case 'CLOSE':
          subscription?.unsubscribe();
          subscription = null;
          void (async () => {
            if (command.version !== null) await commit(command.version);
            try {
              await source.close?.();
            } catch (error) {
              report({ type: 'SOURCE.CLOSE_FAILED', error });
            }
            report({ type: 'SOURCE.CLOSED' });
          })();
          return;
      }
    });

    return () => subscription?.unsubscribe();
  });
}
