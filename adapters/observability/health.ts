/**
 * Liveness and readiness, with the reasons an operator needs to act on them.
 *
 * - live: the process is up and the root actor has not ended in `failed` (nor crashed). A
 *   replicator that stopped gracefully is still live: nothing is wrong with the process.
 * - ready: started, the snapshot loaded, `running`, and not paused by critical backpressure.
 *   Not ready while loading the snapshot (and why, when getSnapshot keeps failing), while
 *   paused by critical backpressure, while stopping, and once stopped or failed.
 *
 * A source paused because the suffix is full is normal throttling under load (it resumes by
 * itself once installs catch up), so it is shown in /status but does not make the replicator
 * unready; Talos's *critical* backpressure (consumption stopped because the suffix head does
 * not move) does.
 */

import { FLOW_STATE_LEVEL, type BackpressureLevel, type FlowState } from '../../machines/backpressure.js';

export type { BackpressureLevel } from '../../machines/backpressure.js';

export interface Health {
  readonly live: boolean;
  readonly ready: boolean;
  /** Empty when live and ready. */
  readonly reasons: readonly string[];
}

export interface HealthInput {
  readonly started: boolean;
  /** The root actor's status: active, done, stopped (by the host) or error (crashed). */
  readonly status: 'active' | 'done' | 'stopped' | 'error';
  /** The root's state: starting, running, stopping, closing, stopped, failed. */
  readonly state: string;
  readonly error: string | null;
  readonly backpressure: BackpressureLevel;
  /** The queue's loading sub-state and attempts, to say why loading takes long. */
  readonly snapshotLoadAttempts: number;
}

export function healthOf(input: HealthInput): Health {
  if (input.status === 'error') return { live: false, ready: false, reasons: [`crashed: ${input.error ?? 'unknown error'}`] };
  if (input.status === 'done' && input.state === 'failed') return { live: false, ready: false, reasons: [`failed: ${input.error ?? 'unknown error'}`] };
  if (input.status === 'done' || input.status === 'stopped') return { live: true, ready: false, reasons: ['stopped'] };
  if (!input.started) return { live: true, ready: false, reasons: ['not started'] };
  switch (input.state) {
    case 'starting':
      return {
        live: true,
        ready: false,
        reasons: [input.snapshotLoadAttempts > 0 ? `loading the snapshot (getSnapshot failed ${input.snapshotLoadAttempts} time(s), retrying)` : 'loading the snapshot'],
      };
    case 'running':
      return input.backpressure === 'critical' ? { live: true, ready: false, reasons: ['paused by critical backpressure'] } : { live: true, ready: true, reasons: [] };
    default:
      return { live: true, ready: false, reasons: [`${input.state}${input.error ? ` after: ${input.error}` : ''}`] };
  }
}

/** The replicator service's flow state (`running.flow`), or null before it runs. */
export function flowStateOf(replicatorState: unknown): FlowState | null {
  const flow = (replicatorState as { running?: { flow?: unknown } } | null | undefined)?.running?.flow;
  return typeof flow === 'string' && flow in FLOW_STATE_LEVEL ? (flow as FlowState) : null;
}

/** The backpressure level of the replicator service's state value; 'none' before it runs. */
export function backpressureLevelOf(replicatorState: unknown): BackpressureLevel {
  const flow = flowStateOf(replicatorState);
  return flow === null ? 'none' : FLOW_STATE_LEVEL[flow];
}

export const BACKPRESSURE_RANK: Readonly<Record<BackpressureLevel, number>> = { none: 0, slowing: 1, critical: 2 };
