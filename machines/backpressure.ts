/**
 * Talos's backpressure, as arithmetic: how long the source waits after each batch for a given
 * suffix fill. Below the fill threshold it does not wait; from there the wait grows linearly from
 * the minimum to the maximum delay as the suffix fills up to its capacity.
 */
import type { ReplicatorConfig } from './config.js';

export type BackpressureConfig = Pick<
  ReplicatorConfig,
  'suffixCapacity' | 'suffixResumeRatio' | 'backpressureFillThreshold' | 'backpressureMinDelayMs' | 'backpressureMaxDelayMs' | 'backpressureStallMs'
>;

/** What the status page and metrics call the replicator service's flow states. */
export type BackpressureLevel = 'none' | 'slowing' | 'critical';

export function slowdownSize(config: BackpressureConfig): number {
  return Math.max(1, Math.ceil(config.suffixCapacity * config.backpressureFillThreshold));
}

export function throttleDelayMs(config: BackpressureConfig, suffixSize: number): number {
  const start = slowdownSize(config);
  if (suffixSize < start) return 0;
  const span = Math.max(1, config.suffixCapacity - start);
  const fill = Math.min(1, (suffixSize - start) / span);
  // Whole milliseconds in steps of a tenth of the range, so the source is told only when it changes noticeably.
  const step = (config.backpressureMaxDelayMs - config.backpressureMinDelayMs) / 10;
  return Math.round(config.backpressureMinDelayMs + Math.round(fill * 10) * step);
}
