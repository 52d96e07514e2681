/**
 * The one retry policy: exponential backoff with jitter, used for failed installs, snapshot
 * writes and snapshot loads. Pure: the randomness is passed in, so tests are deterministic.
 */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  readonly initialDelayMs: number;
  /** Upper bound of any delay. */
  readonly maxDelayMs: number;
  readonly multiplier: number;
  /** 0..1: the share of the delay that is randomised (0.2: the delay varies within ±20 %). */
  readonly jitter: number;
}

/** The delay before retry number `attempt` (1 for the first retry). `random` returns values in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const exponential = policy.initialDelayMs * Math.pow(policy.multiplier, Math.max(0, attempt - 1));
  const capped = Math.min(policy.maxDelayMs, exponential);
  const spread = capped * policy.jitter;
  return Math.max(0, Math.round(capped - spread + random() * 2 * spread));
}
