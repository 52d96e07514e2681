import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstallOutcome } from '../../machines/domain.js';

test('install outcomes distinguish success from failure by their ok flag', () => {
  const outcomes: InstallOutcome[] = [{ version: 1, ok: true }, { version: 2, ok: false, error: new Error('x') }];
  assert.deepEqual(outcomes.filter((o) => o.ok).map((o) => o.version), [1]);
});
