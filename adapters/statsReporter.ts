/**
 * `enableStats`: a periodic one-line summary of the replicator, like Talos's queue statistics.
 * It only reads snapshots; it never sends anything to the actors.
 */
import type { AnyActorRef } from 'xstate';
import type { Logger } from './logging.js';

interface RootLike {
  getSnapshot(): { value: unknown; status: string; context: { snapshot: number | null; persisted: number | null; committed: number | null }; children: Record<string, AnyActorRef | undefined> };
  subscribe(observer: { next?: (snapshot: { status: string }) => void; complete?: () => void }): { unsubscribe(): void };
}

export function describeStats(root: RootLike): string {
  const snapshot = root.getSnapshot();
  const queue = snapshot.children.queue?.getSnapshot()?.context?.queue as { toJSON(): { size: number; ready: number; waiting: number; counts: Record<string, number> } } | null | undefined;
  const replicator = snapshot.children.replicator?.getSnapshot()?.context as { suffix?: { size: number } | null; rejectedRecords?: number } | undefined;
  const q = queue?.toJSON();
  const counts = q ? Object.entries(q.counts).map(([state, count]) => `${state}=${count}`).join(' ') : 'not loaded';
  return [
    `stats: ${JSON.stringify(snapshot.value)}`,
    `snapshot=${snapshot.context.snapshot ?? '-'} persisted=${snapshot.context.persisted ?? '-'} committed=${snapshot.context.committed ?? '-'}`,
    `queue[${counts}${q ? ` waitingForSafepoint=${q.waiting}` : ''}]`,
    `suffix=${replicator?.suffix?.size ?? 0} rejected=${replicator?.rejectedRecords ?? 0}`,
  ].join(' ');
}

export function attachStatsReporter(root: RootLike, logger: Logger, everyMs: number): void {
  let timer: NodeJS.Timeout | null = null;
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  const subscription = root.subscribe({
    next: (snapshot) => {
      if (snapshot.status !== 'active') {
        stop();
        subscription?.unsubscribe();
        return;
      }
      if (!timer) {
        timer = setInterval(() => logger.info(describeStats(root)), everyMs);
        timer.unref();
      }
    },
    complete: stop,
  });
}
