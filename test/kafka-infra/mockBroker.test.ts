/**
 * The Kafka-protocol test broker (librdkafka's mock cluster hosted by
 * test/support/kafka/mock-broker.c) works with kafkajs the way later tests
 * need: produce with headers, consumer groups, commits and resume, broker
 * outages. Skipped loudly when no broker can be had, unless
 * REQUIRE_KAFKA_TESTS=1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { type Admin, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import {
  FAST_MOCK_CLIENT_CONFIG,
  FAST_MOCK_CONSUMER_CONFIG,
  kafkaTestGate,
  startMockKafka,
  type MockKafka,
} from '../support/kafka/mockBroker.js';

const { Kafka, logLevel } = kafkajs;

const gate = await kafkaTestGate();

interface Received {
  partition: number;
  offset: string;
  value: string;
  messageType: string | undefined;
}

function received(partition: number, message: KafkaMessage): Received {
  const header = message.headers?.['messageType'];
  return {
    partition,
    offset: message.offset,
    value: message.value?.toString() ?? '',
    messageType: header === undefined ? undefined : Array.isArray(header) ? String(header[0]) : header.toString(),
  };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('librdkafka mock cluster with kafkajs', { skip: gate.skip }, () => {
  let mock: MockKafka;
  let kafka: InstanceType<typeof Kafka>;
  let admin: Admin;
  let producer: Producer;
  // Everything started here is torn down in after(), whatever failed.
  const cleanups: Array<() => Promise<unknown>> = [];

  const consumer = (groupId: string): Consumer => {
    const c = kafka.consumer({ groupId, ...FAST_MOCK_CONSUMER_CONFIG });
    cleanups.push(() => c.disconnect());
    return c;
  };

  before(async () => {
    mock = await startMockKafka({ topics: [{ name: 'events', partitions: 1 }, { name: 'outage', partitions: 1 }] });
    cleanups.push(() => mock.stop());
    kafka = new Kafka({ clientId: 'kafka-infra-test', brokers: mock.brokers, logLevel: logLevel.NOTHING, ...FAST_MOCK_CLIENT_CONFIG });
    admin = kafka.admin();
    cleanups.push(() => admin.disconnect());
    producer = kafka.producer();
    cleanups.push(() => producer.disconnect());
    await Promise.all([admin.connect(), producer.connect()]);
  });

  after(async () => {
    // Clients first (newest first), the broker last; never let one hang the rest.
    for (const fn of cleanups.reverse()) await withTimeout(fn().catch(() => undefined), 5000);
  });

  test('serves on loopback and answers control commands', async () => {
    assert.equal(mock.brokers.length, 1);
    assert.match(mock.brokers[0]!, /^127\.0\.0\.1:\d+$/);
    assert.ok(isProcessAlive(mock.pid));
    assert.deepEqual((await admin.listTopics()).sort(), ['events', 'outage']);
    await mock.createTopic('created-later', 3);
    await assert.rejects(mock.createTopic('created-later', 3), /already exists/i);
    await assert.rejects(mock.command('no-such-command'), /unknown or malformed/);
    const meta = await admin.fetchTopicMetadata({ topics: ['created-later'] });
    assert.equal(meta.topics[0]?.partitions.length, 3);
  });

  test('auto-creates an unknown topic on produce, with 4 partitions', async () => {
    await producer.send({ topic: 'auto-created', messages: [{ value: 'x' }] });
    const meta = await admin.fetchTopicMetadata({ topics: ['auto-created'] });
    assert.equal(meta.topics[0]?.partitions.length, 4);
  });

  test('keeps headers, and a restarted consumer resumes from the committed offset', { timeout: 20_000 }, async () => {
    const types = ['Candidate', 'Decision'];
    await producer.send({
      topic: 'events',
      messages: Array.from({ length: 6 }, (_, i) => ({
        key: `k${i}`,
        value: JSON.stringify({ i }),
        headers: { messageType: types[i % 2]! },
      })),
    });

    // First consumer: takes the first three, commits "next offset to read" = 3, leaves.
    const first: Received[] = [];
    const c1 = consumer('resume-group');
    await c1.connect();
    await c1.subscribe({ topic: 'events', fromBeginning: true });
    await c1.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (first.length < 3) first.push(received(partition, message));
      },
    });
    await waitFor('the first consumer to receive 3 messages', () => first.length === 3);
    assert.deepEqual(
      first.map((r) => [r.offset, r.value, r.messageType]),
      [
        ['0', '{"i":0}', 'Candidate'],
        ['1', '{"i":1}', 'Decision'],
        ['2', '{"i":2}', 'Candidate'],
      ],
    );
    await c1.commitOffsets([{ topic: 'events', partition: 0, offset: '3' }]);
    await c1.disconnect();

    const committed = await admin.fetchOffsets({ groupId: 'resume-group', topics: ['events'] });
    assert.deepEqual(committed[0]?.partitions.map((p) => [p.partition, p.offset]), [[0, '3']]);

    // Second consumer in the same group: fromBeginning only applies without a commit.
    const second: Received[] = [];
    const c2 = consumer('resume-group');
    await c2.connect();
    await c2.subscribe({ topic: 'events', fromBeginning: true });
    await c2.run({
      eachMessage: async ({ partition, message }) => {
        second.push(received(partition, message));
      },
    });
    await waitFor('the restarted consumer to receive 3 messages', () => second.length >= 3);
    assert.deepEqual(
      second.map((r) => [r.offset, r.value, r.messageType]),
      [
        ['3', '{"i":3}', 'Decision'],
        ['4', '{"i":4}', 'Candidate'],
        ['5', '{"i":5}', 'Decision'],
      ],
    );
    await c2.disconnect();
  });

  test('kafkajs reconnects after the broker goes down and comes back up', { timeout: 20_000 }, async () => {
    const got: string[] = [];
    const c = consumer('outage-group');
    await c.connect();
    await c.subscribe({ topic: 'outage', fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) => {
        got.push(message.value?.toString() ?? '');
      },
    });
    await producer.send({ topic: 'outage', messages: [{ value: 'before' }] });
    await waitFor('"before" to be consumed', () => got.length === 1);

    await mock.setBrokerDown(1);
    let sentDuringOutage = false;
    const during = producer.send({ topic: 'outage', messages: [{ value: 'during' }] }).then(() => {
      sentDuringOutage = true;
    });
    during.catch(() => undefined); // asserted below
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sentDuringOutage, false, 'a send cannot complete while the only broker is down');
    await mock.setBrokerUp(1);

    await during;
    await producer.send({ topic: 'outage', messages: [{ value: 'after' }] });
    await waitFor('the consumer to receive the messages sent around the outage', () => got.length >= 3);
    assert.deepEqual(got, ['before', 'during', 'after']);
    await c.disconnect();
  });
});

test('a multi-broker mock starts, takes brokers down and up, and stop() ends the process', { skip: gate.skip }, async () => {
  const mock = await startMockKafka({ brokers: 3, topics: ['three'] });
  try {
    assert.equal(mock.brokers.length, 3);
    assert.equal(new Set(mock.brokers).size, 3);
    await mock.setBrokerDown(2);
    await mock.setBrokerUp(2);
    await mock.setBrokerDown(-1);
    await mock.setBrokerUp(-1);
  } finally {
    await mock.stop();
  }
  assert.equal(isProcessAlive(mock.pid), false, 'the host process is gone after stop()');
  await mock.stop(); // idempotent
  await assert.rejects(mock.setBrokerDown(1), /exited/);
});
