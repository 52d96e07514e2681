/**
 * A message source over an NDJSON certification log (the project's envelope or `kcat -J`
 * lines). Lines that are not records at all are handed to `onReject` with their line number;
 * pause/resume hold reading; throttle waits between batches. A file has no offsets to commit: the persisted snapshot is what
 * makes a second run skip what the first installed.
 */
import type { MessageSource, Version } from '../../machines/domain.js';
import { ndjsonLogBatches, type LogReject } from './ndjsonLog.js';

export interface FileSource extends MessageSource {
  /** The highest version committed so far (for reporting). */
  readonly committed: Version | null;
}

export function createFileSource(path: string, options: { batchSize?: number; onReject?: (reject: LogReject) => void } = {}): FileSource {
  let paused = false;
  let wake: (() => void) | null = null;
  let committed: Version | null = null;
  let throttleMs = 0;
  const batches = ndjsonLogBatches(path, {
    batchSize: options.batchSize ?? 1000,
    ...(options.onReject ? { onReject: options.onReject } : {}),
    gate: () =>
      paused ? new Promise<void>((resolve) => (wake = resolve)) : throttleMs > 0 ? new Promise<void>((resolve) => setTimeout(resolve, throttleMs)) : undefined,
  });
  return {
    batches,
    async commit(version) {
      if (committed === null || version > committed) committed = version;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      const resume = wake;
      wake = null;
      resume?.();
    },
    throttle(delayMs) {
      throttleMs = delayMs;
    },
    get committed() {
      return committed;
    },
  };
}
