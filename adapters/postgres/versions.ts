/** Conversions between the core's `Version` (a JS number) and Postgres `bigint`. */
import type { Version } from '../../machines/domain.js';

/** Versions are Kafka offsets: non-negative safe integers. Anything else is a caller bug. */
export function assertVersion(version: unknown, what = 'version'): asserts version is Version {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${String(version)}`);
  }
}

/** pg returns bigint columns as strings (they may exceed 2^53); refuse silently lossy ones. */
export function versionFromColumn(value: unknown, what = 'version'): Version {
  const version = typeof value === 'string' ? Number(value) : value;
  if (typeof version !== 'number' || !Number.isSafeInteger(version)) {
    throw new RangeError(`${what} read from Postgres is not a safe integer: ${String(value)}`);
  }
  return version;
}
