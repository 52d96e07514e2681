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

/**
 * The level of each state of the replicator service's `flow` region. A full suffix pauses the
 * source but is ordinary load (installs are moving, reading resumes as they catch up); a stalled
 * head is Talos's critical stop (installs are not moving at all).
 */
export const FLOW_STATE_LEVEL = { flowing: 'none', slowing: 'slowing', full: 'slowing', stalled: 'critical' } as const satisfies Record<string, BackpressureLevel>;
export type FlowState = keyof typeof FLOW_STATE_LEVEL;
/** Flow states in which the source is paused. */
export const PAUSED_FLOW_STATES: readonly FlowState[] = ['full', 'stalled'];

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
