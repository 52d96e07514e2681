import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from 'xstate';
import { createCohortReplicator, createMemorySource, silentLogger, type StatemapItem } from '../../index.js';
import { candidateRecord, decisionRecord } from '../support/records.js';

test('a committed candidate is installed and its snapshot persisted and committed', async () => {
  const source = createMemorySource();
  const installed: Array<{ version: number; statemaps: readonly StatemapItem[] }> = [];
  let persisted = 0;
  const replicator = createCohortReplicator({
    source,
    installer: { install: async (statemaps, version) => void installed.push({ version, statemaps }) },
    snapshotStore: { getSnapshot: async () => persisted, updateSnapshot: async (v) => void (persisted = v) },
    logger: silentLogger,
    config: { statemapQueueCleanupFreqMs: 5, certifierMessageReceiverCommitFreqMs: 5 },
  });
  replicator.start();
  source.push([candidateRecord(1), candidateRecord(2), decisionRecord(3, 2, { safepoint: 1 }), decisionRecord(4, 1, { safepoint: 0 })]);
  source.end();
  const done = await waitFor(replicator, (s) => s.status === 'done', { timeout: 5000 });
  assert.equal(done.value, 'stopped');
  assert.deepEqual(installed.map((i) => i.version), [1, 2]);
  assert.equal(installed[0]!.statemaps[0]!.action, 'SET');
  assert.equal(persisted, 2);
  assert.deepEqual(source.commits.at(-1), 2);
});
