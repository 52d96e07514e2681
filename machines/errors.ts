/** Errors the replicator ends with. Each names what failed and where; the original is its `cause`. */
import type { Version } from './domain.js';

export class InstallFailedError extends Error {
  constructor(readonly version: Version, readonly attempts: number, cause: unknown) {
    super(`version ${version} could not be installed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${describe(cause)}`, { cause });
    this.name = 'InstallFailedError';
  }
}

export class SourceFailedError extends Error {
  constructor(cause: unknown) {
    super(`the message source failed: ${describe(cause)}`, { cause });
    this.name = 'SourceFailedError';
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
