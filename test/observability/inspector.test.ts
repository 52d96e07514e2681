/**
 * The Stately inspector bridge, received the way the inspector page receives it: a real
 * WebSocket client on the relay, while a small replication runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWebSocketInspector } from '@statelyai/inspect';
import { WebSocket } from 'ws';
import type { InspectionEvent } from 'xstate';
import { createCohortReplicator, createMemorySource, createStatelyInspector, silentLogger } from '../../index.js';
import { summarize } from '../../adapters/observability/inspector.js';
import { Deque } from '../../machines/structures/deque.js';
import { eventually, memoryStore, runToEnd, transactionLog } from '../support/observedRun.js';

interface InspectionMessage {
  readonly type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';
  readonly sessionId: string;
  readonly name?: string;
  readonly parentId?: string;
  readonly definition?: string;
  readonly event?: { type: string };
  readonly snapshot?: { status?: string; value?: unknown };
}

function connect(url: string): Promise<{ messages: InspectionMessage[]; close(): void }> {
  const messages: InspectionMessage[] = [];
  const ws = new WebSocket(url);
  ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as InspectionMessage));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ messages, close: () => ws.close() }));
    ws.once('error', reject);
  });
}

/** The successive state values a session went through (consecutive repeats folded). */
function valuesOf(messages: readonly InspectionMessage[], sessionId: string): string[] {
  const values: string[] = [];
  for (const m of messages) {
    if (m.type !== '@xstate.snapshot' || m.sessionId !== sessionId || m.snapshot?.value === undefined) continue;
    const value = JSON.stringify(m.snapshot.value);
    if (values.at(-1) !== value) values.push(value);
  }
  return values;
}

test('inspect: true relays the root, queue, installer and persister actors and their transitions to a WebSocket client', async (t) => {
  const source = createMemorySource();
  const log = transactionLog(20, { abortEvery: 5 });
  const replicator = createCohortReplicator({
    source,
    installer: { install: async () => {} },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    config: { statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
    inspect: true,
  });
  t.after(() => replicator.observability.close());
  const { inspectorUrl, inspectorWebSocketUrl } = await replicator.observability.ready();
  assert.match(inspectorUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const client = await connect(inspectorWebSocketUrl!);
  t.after(() => client.close());

  replicator.start();
  source.push(log.records);
  source.end();
  const done = await runToEnd(replicator);
  assert.equal(done.value, 'stopped');

  // The inspector hands events over asynchronously: wait for the root's final snapshot.
  const actors = await eventually(() => {
    const registered = client.messages.filter((m) => m.type === '@xstate.actor');
    const root = registered.find((m) => m.name === 'cohortReplicator');
    return root && valuesOf(client.messages, root.sessionId).includes('"stopped"') ? registered : undefined;
  }, 'the root to be reported stopped');
  const byName = (name: string) => {
    const actor = actors.find((m) => m.name === name);
    assert.ok(actor, `an @xstate.actor named ${name} among ${actors.map((a) => a.name).join(', ')}`);
    return actor;
  };
  const root = byName('cohortReplicator');
  const queue = byName('queue');
  const installer = byName('installer');
  const persister = byName('persister');
  const replicatorService = byName('replicator');
  byName('source');
  // The actor tree, as the inspector draws it.
  assert.equal(root.parentId, undefined);
  assert.equal(queue.parentId, root.sessionId);
  assert.equal(replicatorService.parentId, root.sessionId);
  assert.equal(installer.parentId, queue.sessionId);
  assert.equal(persister.parentId, queue.sessionId);
  // Definitions travel with the registrations, so the inspector can draw the statecharts.
  assert.match(queue.definition ?? '', /"id":"statemapQueue"/);
  assert.match(installer.definition ?? '', /"accepting"/);

  // Their transitions, in order.
  const rootValues = valuesOf(client.messages, root.sessionId);
  assert.deepEqual(rootValues.filter((v) => ['"starting"', '"running"', '"stopping"', '"closing"', '"stopped"'].includes(v)), ['"starting"', '"running"', '"stopping"', '"closing"', '"stopped"']);
  const queueValues = valuesOf(client.messages, queue.sessionId);
  assert.equal(queueValues[0], JSON.stringify({ loading: 'reading' }));
  assert.ok(queueValues.includes(JSON.stringify({ running: { persistence: 'waiting', refresh: 'idle' } })), queueValues.join(' '));
  assert.equal(queueValues.at(-1), '"done"');
  const installerValues = valuesOf(client.messages, installer.sessionId);
  assert.deepEqual([installerValues[0], installerValues.at(-1)], ['"accepting"', '"draining"']);
  const persisterValues = valuesOf(client.messages, persister.sessionId);
  assert.equal(persisterValues[0], '"idle"');
  assert.ok(persisterValues.includes('"writing"'), persisterValues.join(' '));

  // And the events between them.
  const eventsTo = (sessionId: string) => new Set(client.messages.filter((m) => m.type === '@xstate.event' && m.sessionId === sessionId).map((m) => m.event?.type));
  assert.ok(eventsTo(queue.sessionId).has('STATEMAPS'));
  assert.ok(eventsTo(installer.sessionId).has('INSTALL'));
  assert.ok(eventsTo(persister.sessionId).has('PERSIST'));
  assert.ok(eventsTo(root.sessionId).has('SOURCE.RECORDS'));

  // A viewer that connects late still gets every actor's registration and latest snapshot.
  const late = await connect(inspectorWebSocketUrl!);
  t.after(() => late.close());
  await eventually(() => late.messages.some((m) => m.type === '@xstate.snapshot' && m.sessionId === root.sessionId && JSON.stringify(m.snapshot?.value) === '"stopped"'), 'the replay to a late viewer');
  const lateNames = new Set(late.messages.filter((m) => m.type === '@xstate.actor').map((m) => m.name));
  for (const name of ['cohortReplicator', 'queue', 'installer', 'persister', 'replicator', 'source']) assert.ok(lateNames.has(name), `late viewer sees ${name}`);
  assert.ok(late.messages.findIndex((m) => m.type === '@xstate.actor') < late.messages.findIndex((m) => m.type === '@xstate.snapshot'), 'registrations come first');

  // The bridge page embeds the Stately inspector and connects back to the relay it came from.
  const page = await (await fetch(inspectorUrl!)).text();
  assert.match(page, /<iframe id="inspector" src="https:\/\/stately\.ai\/inspect">/);
  assert.match(page, /new WebSocket\('ws:\/\/' \+ location\.host\)/);

  await replicator.observability.close();
  await assert.rejects(fetch(inspectorUrl!), 'the bridge is closed');
});

test('inspection events are summarized: long arrays cut, deques by length, functions dropped', () => {
  const deque = new Deque<number>();
  for (let i = 0; i < 5000; i++) deque.push(i);
  const summary = summarize({ batch: { messages: Array.from({ length: 1000 }, (_, i) => ({ version: i })) }, backlog: deque, random: Math.random, error: new Error('boom') }) as Record<string, unknown>;
  const messages = (summary.batch as { messages: unknown[] }).messages;
  assert.equal(messages.length, 21);
  assert.equal(messages.at(-1), '… 980 more');
  assert.deepEqual(summary.backlog, { length: 5000 });
  assert.equal('random' in summary, false);
  assert.deepEqual(summary.error, { name: 'Error', message: 'boom' });
});

test('without observability options nothing is attached: no instruments, no probe, no servers', async () => {
  const source = createMemorySource();
  const replicator = createCohortReplicator({ source, installer: { install: async () => {} }, snapshotStore: memoryStore(), logger: silentLogger });
  assert.equal(replicator.observability.metricsEnabled, false);
  assert.deepEqual(await replicator.observability.ready(), { statusUrl: null, inspectorUrl: null, inspectorWebSocketUrl: null });
  const log = transactionLog(3);
  replicator.start();
  source.push(log.records);
  source.end();
  await runToEnd(replicator);
  // No probe: the install count is unknown rather than counted.
  assert.equal(replicator.observability.status().installs.total, null);
  assert.equal(replicator.observability.status().snapshot.persisted, log.lastVersion);
  await replicator.observability.close();
});

test("@statelyai/inspect's own createWebSocketInspector can publish through the relay; any inspection observer can still be passed as inspect", async (t) => {
  const relay = createStatelyInspector();
  t.after(() => relay.close());
  const { websocketUrl } = await relay.listening();
  const viewer = await connect(websocketUrl);
  t.after(() => viewer.close());
  const publisher = createWebSocketInspector({ url: websocketUrl });
  t.after(() => publisher.stop());
  const seen: InspectionEvent[] = [];
  const source = createMemorySource();
  const replicator = createCohortReplicator({
    source,
    installer: { install: async () => {} },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    inspect: (event) => {
      seen.push(event);
      publisher.inspect.next?.(event);
    },
  });
  assert.deepEqual(await replicator.observability.ready(), { statusUrl: null, inspectorUrl: null, inspectorWebSocketUrl: null });
  replicator.start();
  source.push(transactionLog(2).records);
  source.end();
  await runToEnd(replicator);
  assert.ok(seen.some((e) => e.type === '@xstate.actor' && (e.actorRef as { id?: string }).id === 'queue'), 'the observer sees the queue being spawned');
  await eventually(() => viewer.messages.some((m) => m.type === '@xstate.actor' && m.name === 'installer'), 'the installer registration relayed from the library adapter');
});
