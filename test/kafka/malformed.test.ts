/**
 * Malformed records on the certification topic, one of each kind: no messageType header, an
 * unknown messageType, a value that is not JSON, fields of the wrong type (a decision's version as
 * a string, a candidate's statemap as an object), and a decision for a version that holds no
 * candidate. Each gives one log line naming the topic, the offset and the reason, counts in the
 * replicator service's `rejectedRecords`, and is copied to the dead-letter topic with the reason in
 * the `talos-reject-reason` header; the good versions after them are installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEAD_LETTER_HEADERS } from '../../adapters/kafka/deadLetter.js';
import { createKafkaReplicator } from '../../adapters/kafka/createKafkaReplicator.js';
import { createPostgresSnapshotStore, createTransactionalInstaller } from '../../adapters/postgres/index.js';
import type { RawRecord } from '../../machines/domain.js';
import { persistedSnapshot } from '../cli/fixtures.js';
import { describeRun, makeTempDir, spawnCli } from '../support/cli.js';
import { mockKafkaForTest, type MockKafka } from '../support/kafka/mockBroker.js';
import { OFFSET_ZERO_FILLER } from '../support/kafka/produceLog.js';
import { usePostgres, type TestDatabase } from '../support/postgres.js';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { MOCK_KAFKA_ENV, QUICK_REPLICATOR_CONFIG, captureLogger, connectAdmin, currentTurn, mockKafkaSettings, produce, until, type TopicReader, teardown } from './harness.js';

const pg = usePostgres();

const TOPIC = 'certification';
const DEAD_LETTER_TOPIC = 'certification-rejects';

const candidateBody = (xid: string, statemap: unknown) => JSON.stringify({ xid, agent: 'a', cohort: 'c', snapshot: 0, readset: [], readvers: [], writeset: [], statemap });
const decisionBody = (version: unknown) => JSON.stringify({ xid: 'x', agent: 'a', cohort: 'c', decision: 'committed', version, safepoint: 0, suffixStart: 0, duplicateVersion: null, conflictVersion: null });

/** The log, offset by offset; `reason` marks the malformed ones. */
const LOG: ReadonlyArray<{ record: RawRecord; reason?: RegExp }> = [
  { record: OFFSET_ZERO_FILLER },
  { record: candidateRecord(1) },
  { record: decisionRecord(2, 1, { safepoint: 0 }) },
  { record: { offset: 3, headers: {}, value: candidateBody('no-header', []) }, reason: /missing messageType header/ },
  { record: { offset: 4, headers: { messageType: 'Candidat' }, value: candidateBody('typo', []) }, reason: /unknown messageType header "Candidat"/ },
  { record: { offset: 5, headers: { messageType: 'Candidate' }, value: '{"xid": "cut-short", "statemap": [' }, reason: /Candidate value is not valid JSON/ },
  { record: { offset: 6, headers: { messageType: 'Decision' }, value: decisionBody('1') }, reason: /Decision: version must be a non-negative integer, got "1"/ },
  { record: { offset: 7, headers: { messageType: 'Candidate' }, value: candidateBody('object-statemap', { SET: { key: 'k7' } }) }, reason: /Candidate: statemap must be an array/ },
  { record: decisionRecord(8, 7, { safepoint: 0 }), reason: /decision for version 7, which holds no candidate/ },
  { record: candidateRecord(9) },
  { record: candidateRecord(10) },
  { record: decisionRecord(11, 10, { safepoint: 1 }) },
  { record: decisionRecord(12, 9, { safepoint: 1 }) },
];
const MALFORMED = LOG.flatMap(({ record, reason }) => (reason ? [{ offset: Number(record.offset), reason }] : []));
const LAST_CANDIDATE = 10;

async function appliedTable(db: TestDatabase) {
  await db.pool.query('CREATE TABLE applied ("version" bigint PRIMARY KEY, actions text NOT NULL)');
  const installer = createTransactionalInstaller(db.pool, {
    install: async (statemaps, version, client) => {
      await client.query('INSERT INTO applied ("version", actions) VALUES ($1, $2)', [version, statemaps.map((item) => item.action).join(',')]);
    },
  });
  const snapshotStore = createPostgresSnapshotStore(db.pool, { pruneInstalledBookkeeping: true });
  await installer.ensureSchema();
  await snapshotStore.ensureSchema();
  return { installer, snapshotStore, applied: async () => (await db.pool.query<{ version: string }>('SELECT "version"::text AS version FROM applied ORDER BY applied."version"')).rows.map((row) => Number(row.version)) };
}

async function checkDeadLetters(reader: TopicReader): Promise<void> {
  const copies = await reader.waitFor(MALFORMED.length);
  await new Promise((resolve) => setTimeout(resolve, 200)); // a copy too many would show up now
  assert.equal(copies.length, MALFORMED.length, 'one copy per malformed record');
  {
    const byOffset = new Map(copies.map((copy) => [Number(copy.headers?.[DEAD_LETTER_HEADERS.offset]?.toString()), copy]));
    for (const { offset, reason } of MALFORMED) {
      const copy = byOffset.get(offset);
      assert.ok(copy, `a dead-letter copy of offset ${offset}`);
      assert.match(copy.headers?.[DEAD_LETTER_HEADERS.reason]?.toString() ?? '', reason, `reason header of offset ${offset}`);
      assert.equal(copy.headers?.[DEAD_LETTER_HEADERS.topic]?.toString(), TOPIC);
      const original = LOG[offset]!.record;
      assert.equal(copy.value?.toString(), String(original.value), `the value of offset ${offset} is copied as is`);
      assert.equal(copy.headers?.messageType?.toString(), original.headers.messageType?.toString(), `the headers of offset ${offset} are copied`);
    }
  }
}

/** A reader of the dead-letter topic, started before the replicator: both groups' first joins overlap. */
async function deadLetterReader(cleanup: (fn: () => unknown) => void, mock: MockKafka): Promise<TopicReader> {
  const admin = await connectAdmin(mock.bootstrap);
  cleanup(() => admin.close());
  const reader = await admin.startReader(DEAD_LETTER_TOPIC);
  cleanup(() => reader.close());
  return reader;
}

test('each kind of malformed record is logged with topic, offset and reason, counted, dead-lettered, and replication goes on', { timeout: 60_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC, DEAD_LETTER_TOPIC] });
  if (!mock) return;
  const db = await pg.freshDatabase();
  const cohort = await appliedTable(db);
  await produce(mock.bootstrap, TOPIC, LOG.map(({ record }) => record));
  const reader = deadLetterReader(cleanup, mock);

  const logger = captureLogger();
  const rejected: number[] = [];
  const replicator = createKafkaReplicator({
    kafka: mockKafkaSettings(mock.bootstrap, TOPIC, 'cohort-malformed', { deadLetterTopic: DEAD_LETTER_TOPIC }),
    installer: cohort.installer,
    snapshotStore: cohort.snapshotStore,
    config: QUICK_REPLICATOR_CONFIG,
    logger,
    onRejected: (reject) => rejected.push(reject.offset ?? -1),
  });
  const ended = replicator.run();
  cleanup(() => {
    replicator.stop();
    return ended.catch(() => undefined);
  });

  await until(`the snapshot ${LAST_CANDIDATE} to be persisted`, async () => (await persistedSnapshot(db.pool)) === LAST_CANDIDATE, 30_000, () => logger.text());
  assert.equal(currentTurn(replicator.actor)?.rejectedRecords, MALFORMED.length, 'the replicator service counts every malformed record');
  replicator.stop();
  const output = await ended;
  assert.equal(output.outcome, 'stopped', String(output.error));
  assert.equal(output.lastTurn?.committed, LAST_CANDIDATE);

  assert.deepEqual(await cohort.applied(), [1, 9, 10], 'the good versions before and after the malformed records are installed');
  assert.deepEqual(rejected.sort((a, b) => a - b), MALFORMED.map(({ offset }) => offset));
  const lines = logger.lines.filter((line) => /malformed/.test(line.message));
  assert.equal(lines.length, MALFORMED.length, `one log line per malformed record:\n${lines.map((line) => line.message).join('\n')}`);
  for (const { offset, reason } of MALFORMED) {
    const line = lines.filter((candidate) => candidate.message.includes(`offset ${offset}`));
    assert.equal(line.length, 1, `one line for offset ${offset}`);
    assert.equal(line[0]!.level, 'warn');
    assert.match(line[0]!.message, new RegExp(`${TOPIC}/0`), `the line for offset ${offset} names the topic: ${line[0]!.message}`);
    assert.match(line[0]!.message, reason);
  }
  assert.equal(replicator.deadLetter?.sent, MALFORMED.length);
  await checkDeadLetters(await reader);
});

test('`run --dead-letter-topic` logs each malformed record on one line and copies it to the dead-letter topic', { timeout: 60_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC, DEAD_LETTER_TOPIC] });
  if (!mock) return;
  const db = await pg.freshDatabase();
  const cohort = await appliedTable(db);
  await produce(mock.bootstrap, TOPIC, LOG.map(({ record }) => record));
  const reader = deadLetterReader(cleanup, mock);
  const temp = await makeTempDir('talos-kafka-malformed-');
  t.after(() => temp.cleanup());
  const installer = path.join(temp.dir, 'applied.mjs');
  await writeFile(installer, `export async function install(statemaps, version, client) { await client.query('INSERT INTO applied ("version", actions) VALUES ($1, $2)', [version, statemaps.map((s) => s.action).join(',')]); }\n`);

  const child = spawnCli(
    ['run', '--brokers', mock.bootstrap, '--topic', TOPIC, '--group', 'cohort-malformed-cli', '--dead-letter-topic', DEAD_LETTER_TOPIC, '--database-url', db.url, '--installer', installer],
    { env: MOCK_KAFKA_ENV, timeoutMs: 45_000 },
  );
  cleanup(() => void child.child.kill('SIGKILL'));
  let stderr = '';
  child.child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  await until('version 10 to be installed', async () => (await cohort.applied()).includes(10), 30_000, () => stderr);
  await until('every malformed record to be logged', () => MALFORMED.every(({ offset }) => stderr.includes(`offset ${offset})`)), 10_000, () => stderr);
  child.child.kill('SIGTERM');
  const result = await child.result;
  assert.equal(result.code, 0, describeRun(result));
  assert.deepEqual(await cohort.applied(), [1, 9, 10]);
  for (const { offset, reason } of MALFORMED) {
    const lines = result.stderr.split('\n').filter((line) => line.includes(`malformed record (${TOPIC}/0, offset ${offset})`));
    assert.equal(lines.length, 1, `one stderr line for offset ${offset}:\n${result.stderr}`);
    assert.match(lines[0]!, / warn /);
    assert.match(lines[0]!, reason);
  }
  assert.doesNotMatch(result.stderr, /partitioner/i, 'no kafkajs start-up warning');
  assert.equal(await persistedSnapshot(db.pool), LAST_CANDIDATE);
  await checkDeadLetters(await reader);
});
