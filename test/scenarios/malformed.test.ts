/** Malformed records are skipped and logged with their offset; no valid record is lost. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RawRecord } from '../../index.js';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { garbageRecord, GARBAGE_KINDS } from '../support/history.js';
import { recordingLogger } from '../support/memoryCohort.js';
import { replicate } from '../support/scenario.js';

test('malformed records (bad JSON, missing or unknown messageType, wrong field types) are skipped and logged with their offset; every valid record is used', { timeout: 30_000 }, async () => {
  const records: RawRecord[] = [];
  const bad = new Map<number, string>();
  let offset = 1;
  const valid: number[] = [];
  const badOnes: Array<[string, (offset: number) => RawRecord]> = [
    ['invalid JSON', (o) => ({ offset: o, headers: { messageType: 'Candidate' }, value: '{"xid": "x", "statemap": [' })],
    ['missing messageType', (o) => ({ offset: o, headers: {}, value: JSON.stringify({ xid: 'x', statemap: [] }) })],
    ['unknown messageType', (o) => ({ offset: o, headers: { messageType: 'Commit' }, value: JSON.stringify({ xid: 'x' }) })],
    ['xid is a number', (o) => ({ offset: o, headers: { messageType: 'Candidate' }, value: JSON.stringify({ xid: 7, statemap: [] }) })],
    ['statemap is an object', (o) => ({ offset: o, headers: { messageType: 'Candidate' }, value: JSON.stringify({ xid: 'x', statemap: { SET: {} } }) })],
    ['statemap entry with two actions', (o) => ({ offset: o, headers: { messageType: 'Candidate' }, value: JSON.stringify({ xid: 'x', statemap: [{ A: 1, B: 2 }] }) })],
    ['decision version is a string', (o) => ({ offset: o, headers: { messageType: 'Decision' }, value: JSON.stringify({ xid: 'x', decision: 'committed', version: '1', safepoint: 0 }) })],
    ['unknown decision outcome', (o) => ({ offset: o, headers: { messageType: 'Decision' }, value: JSON.stringify({ xid: 'x', decision: 'maybe', version: 1 }) })],
    ['decision for a later version', (o) => ({ offset: o, headers: { messageType: 'Decision' }, value: JSON.stringify({ xid: 'x', decision: 'committed', version: o + 1, safepoint: 0 }) })],
    ['negative safepoint', (o) => ({ offset: o, headers: { messageType: 'Decision' }, value: JSON.stringify({ xid: 'x', decision: 'committed', version: 1, safepoint: -3 }) })],
    ['no value', (o) => ({ offset: o, headers: { messageType: 'Candidate' }, value: null })],
    ['a JSON array', (o) => ({ offset: o, headers: { messageType: 'Decision' }, value: '[1,2]' })],
    ['Buffer with broken UTF-8 JSON', (o) => ({ offset: o, headers: { messageType: Buffer.from('Candidate') }, value: Buffer.from('{"xid":') })],
  ];
  for (const kind of Array.from({ length: GARBAGE_KINDS }, (_, i) => i)) badOnes.push([`generated garbage kind ${kind}`, (o) => garbageRecord(o, kind)]);
  // Valid transaction, then a malformed record, alternating, all in one batch.
  for (const [name, make] of badOnes) {
    const version = offset++;
    records.push(candidateRecord(version, [{ ADD: { key: 'sum', amount: 1 } }]));
    valid.push(version);
    bad.set(offset, name);
    records.push(make(offset++));
    records.push(decisionRecord(offset++, version, { safepoint: valid.at(-2) ?? 0 }));
  }
  // A record whose offset is not a number at all: logged without an offset.
  records.push({ offset: 'not-an-offset', headers: { messageType: 'Candidate' }, value: JSON.stringify({ xid: 'x' }) });
  const lastVersion = offset++;
  records.push(candidateRecord(lastVersion, [{ ADD: { key: 'sum', amount: 1 } }]));
  valid.push(lastVersion);
  records.push(decisionRecord(offset++, lastVersion, { safepoint: valid.at(-2)! }));

  const logger = recordingLogger();
  const { cohort, output, run } = await replicate(records, { logger });
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, valid, 'every valid transaction is installed, once, in order');
  assert.equal(cohort.rows.get('sum')?.value, valid.length);
  assert.equal(output.snapshot, lastVersion);
  assert.equal(cohort.persisted, lastVersion);
  assert.equal(run.source.commits.at(-1), lastVersion);

  const warnings = logger.lines.filter((line) => line.level === 'warn');
  const loggedOffsets = warnings.map((line) => line.meta?.offset);
  assert.deepEqual(loggedOffsets.filter((o) => o !== null), [...bad.keys()], 'one warning per malformed record, with its offset, in log order');
  for (const warning of warnings) {
    const at = warning.meta?.offset;
    if (typeof at === 'number') assert.match(warning.message, new RegExp(`offset ${at}\\b`), `${bad.get(at)}: the message names the offset`);
  }
  assert.equal(loggedOffsets.filter((o) => o === null).length, 1, 'the record with an unusable offset is logged too');
  assert.equal(warnings.length, bad.size + 1);
});

test('a malformed record as the very last record still lets the replicator finish, with the snapshot on the last valid version', { timeout: 30_000 }, async () => {
  const logger = recordingLogger();
  const { cohort, output } = await replicate(
    [candidateRecord(1, [{ SET: { key: 'k', value: 1 } }]), decisionRecord(2, 1, { safepoint: 0 }), { offset: 3, headers: { messageType: 'Decision' }, value: 'nope' }],
    { logger },
  );
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1]);
  assert.equal(output.snapshot, 1);
  assert.equal(logger.lines.filter((line) => line.level === 'warn').length, 1);
});
