/**
 * Retry with exponential backoff and jitter, for the transaction races Postgres reports as
 * retriable (serialization failures, deadlocks). Everything else fails on the first attempt
 * and is left to the core's retry policy, which knows about the whole pipeline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriableSqlError, sqlStateOf } from './errors.js';

export interface RetryOptions {
  /** Total attempts including the first; 1 disables retrying. Default 5. */
  readonly attempts?: number;
  /** Cap of the first backoff; doubles each retry. Default 5 ms. */
  readonly baseDelayMs?: number;
  /** Upper bound of one backoff. Default 500 ms. */
  readonly maxDelayMs?: number;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface RetryNotice {
  /** The attempt that failed (1-based); the next one is `attempt + 1`. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly sqlState: string;
  readonly error: unknown;
}

export type RetryOutcome<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number }
  | { readonly ok: false; readonly error: unknown; readonly attempts: number };

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 5, maxDelayMs: 500 };

export function resolveRetryPolicy(options: RetryOptions | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY, ...stripUndefined(options ?? {}) };
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) throw new RangeError(`retry.attempts must be an integer >= 1, got ${policy.attempts}`);
  if (!(policy.baseDelayMs >= 0)) throw new RangeError(`retry.baseDelayMs must be >= 0, got ${policy.baseDelayMs}`);
  if (!(policy.maxDelayMs >= policy.baseDelayMs)) throw new RangeError(`retry.maxDelayMs must be >= baseDelayMs, got ${policy.maxDelayMs}`);
  return policy;
}

function stripUndefined(options: RetryOptions): Partial<RetryPolicy> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<RetryPolicy>;
}

/**
 * "Equal jitter": half the exponential cap for sure, the other half random. The fixed half
 * keeps two deadlocked transactions from retrying at once again; the random half spreads them.
 */
export function backoffDelayMs(policy: RetryPolicy, failedAttempt: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempt - 1));
  return cap / 2 + random() * (cap / 2);
}

/**
 * Run `work` until it succeeds, fails with a non-retriable error, or attempts run out.
 * `retriable` widens what counts as retriable beyond serialization failures and deadlocks.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  work: (attempt: number) => Promise<T>,
  onRetry?: (notice: RetryNotice) => void,
  retriable?: (error: unknown) => boolean,
): Promise<RetryOutcome<T>> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return { ok: true, value: await work(attempt), attempts: attempt };
    } catch (error) {
      if (attempt >= policy.attempts || !(isRetriableSqlError(error) || retriable?.(error) === true)) return { ok: false, error, attempts: attempt };
      const delayMs = backoffDelayMs(policy, attempt);
      onRetry?.({ attempt, delayMs, sqlState: sqlStateOf(error) ?? '', error });
      await sleep(delayMs);
    }
  }
}
