/**
 * `enableStats`: a periodic one-line summary of the replicator, like Talos's statemap queue
 * statistics ("tps = … | Count of items in AWAITING state = … | INFLIGHT … | INSTALLED … |
 * statemap queue length = …"), plus where the snapshot, the offsets and the backpressure stand.
 * It only reads snapshots (through the status model); it never sends anything to the actors.
 */
import type { AnyActorRef } from 'xstate';
import type { ReplicatorStatus, StatusModel } from './observability/statusModel.js';
import type { Logger } from './logging.js';

const n = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : String(value));

/** One line; `tps`: versions installed per second since the previous line (null on the first). */
export function describeStats(status: ReplicatorStatus, tps: number | null): string {
  const q = status.queue;
  const queue = q
    ? `awaiting=${q.awaiting} (waitingForSafepoint=${q.waitingForSafepoint} backingOff=${q.backingOff}) inflight=${q.inflight} (installing=${q.installing} backlog=${q.installerBacklog}) installed=${q.installed} failed=${q.failed} queue=${q.size}`
    : 'queue not loaded';
  return [
    `stats: ${status.state}${status.health.ready ? '' : ` (not ready: ${status.health.reasons.join('; ')})`}`,
    `tps=${tps === null ? '-' : tps.toFixed(1)} installed=${n(status.installs.total)}`,
    queue,
    `snapshot=${n(status.snapshot.inMemory)} persisted=${n(status.snapshot.persisted)} committed=${n(status.committedOffset)} lastOffset=${n(status.lastOffsetSeen)} lag=${n(status.lag)} unread=${n(status.unread)}`,
    `suffix=${status.suffix?.size ?? 0} backpressure=${status.backpressure.level}${status.backpressure.sourcePaused ? ' (source paused)' : ''} rejected=${status.rejectedRecords}`,
  ].join(' | ');
}

/** Logs a stats line every `everyMs` while the root is active; returns a function that stops it. */
export function attachStatsReporter(root: AnyActorRef, model: StatusModel, logger: Logger, everyMs: number): () => void {
  let timer: NodeJS.Timeout | null = null;
  let previous: { at: number; installed: number } | null = null;
  const report = () => {
    const status = model.status();
    const installed = status.installs.total;
    const now = performance.now();
    const tps = previous && installed !== null && now > previous.at ? ((installed - previous.installed) * 1000) / (now - previous.at) : null;
    if (installed !== null) previous = { at: now, installed };
    logger.info(describeStats(status, tps));
  };
  let subscription: { unsubscribe(): void } | undefined;
  let stopped = false;
  const stop = () => {
    stopped = true;
    if (timer) clearInterval(timer);
    timer = null;
    subscription?.unsubscribe();
  };
  subscription = root.subscribe({
    next: (snapshot: { status: string }) => {
      if (snapshot.status !== 'active') {
        stop();
        return;
      }
      if (!timer && !stopped) {
        previous = null;
        timer = setInterval(report, everyMs);
        timer.unref();
      }
    },
    complete: stop,
    error: stop,
  });
  if (stopped) subscription.unsubscribe();
  return stop;
}
