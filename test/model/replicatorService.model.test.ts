/**
 * Model-based tests of the replicator service machine.
 *
 * The model is replicatorServiceMachine's own transition function (persistent mode: the suffix is
 * copied before each change) plus what the outside world knows: how much of a fixed certification
 * log the source has delivered, which versions the service handed to the queue, and what the
 * queue reported back (installed up to, persisted). Events: START, RECORDS (the next chunk of the
 * log, or a chunk read again), INSTALLED_UP_TO and SNAPSHOT_PERSISTED for versions really handed
 * over, UPSTREAM_ENDED once the log is read, and the commit timer's delayed event.
 *
 * Every path is replayed on a real service under a recording parent, on a clock whose commit
 * timer fires when the path says so. After every step: same state and context as the model, same
 * reports, and the invariants: versions go to the queue in version order, once each, exactly the
 * decided candidates whose predecessors are all decided (duplicates never); aborts and empty
 * statemaps go with no safepoint and no statemap; only a persisted snapshot is committed, and
 * commits only go up; the source is paused only while the suffix is full of versions that wait
 * for installs, and PAUSE / RESUME alternate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, setup, type AnyActorRef, type AnyStateNode, type EventObject, type SnapshotFrom } from 'xstate';
import { isDeferred, statemapEntries, type StatemapEntry, type Version } from '../../machines/domain.js';
import type { CandidateMessage, CertificationMessage, DecisionMessage, ParsedBatch, RejectedRecord } from '../../machines/messages.js';
import {
  replicatorServiceMachine,
  type ReplicatorServiceConfig,
  type ReplicatorServiceEvent,
  type ReplicatorServiceInput,
  type ReplicatorServiceReport,
} from '../../machines/replicatorService.machine.js';
import type { QueueEntry } from '../../machines/statemapQueue.js';
import { throttleDelayMs } from '../../machines/backpressure.js';
import { Coverage, ManualClock, createMachineTestModel, generatePaths, machineModel, replayPath, settle, type ModelSnapshot } from '../support/model.js';

type ServiceSnapshot = SnapshotFrom<typeof replicatorServiceMachine>;

// Small enough for every backpressure state: slowing from 2 candidates, full at 3, drained below 1.5.
const config: ReplicatorServiceConfig = {
  suffixCapacity: 3,
  suffixResumeRatio: 0.5,
  backpressureFillThreshold: 0.5,
  backpressureMinDelayMs: 10,
  backpressureMaxDelayMs: 100,
  backpressureStallMs: 200,
  certifierMessageReceiverCommitFreqMs: 1_000,
};
const input: ReplicatorServiceInput = { config, persistentData: true };

// ── The certification log: offsets are versions. ───────────────────────────────────────────────
// The xid argument only labels the transaction in the logs below: messages carry no xid (nothing reads it).
const candidate = (version: Version, _xid: string, statemap: CandidateMessage['statemap']): CandidateMessage => ({ kind: 'candidate', version, statemap });
const decision = (decisionVersion: Version, _xid: string, version: Version, outcome: DecisionMessage['outcome'], safepoint: Version | null, duplicateVersion: Version | null = null): DecisionMessage => ({
  kind: 'decision',
  decisionVersion,
  version,
  outcome,
  safepoint,
  duplicateVersion,
});
const offsetOf = (message: CertificationMessage) => (message.kind === 'candidate' ? message.version : message.decisionVersion);

interface Chunk {
  readonly messages: readonly CertificationMessage[];
  readonly rejects: readonly RejectedRecord[];
}
const CHUNKS: readonly Chunk[] = [
  // v2's statemap has two entries (two actions in one version).
  { messages: [candidate(1, 'a', [{ PUT: { k: 'a' } }]), candidate(2, 'b', [{ PUT: { k: 'b' } }, { DEL: { k: 'c' } }])], rejects: [] },
  // v2 is decided before v1: nothing moves until v1 is.
  { messages: [decision(3, 'b', 2, 'committed', 1), decision(4, 'a', 1, 'committed', 0)], rejects: [] },
  // v5 has no statemap and is aborted; v6 commits. Two candidates at once can fill the suffix in one step.
  { messages: [candidate(5, 'c', []), candidate(6, 'd', [{ PUT: { k: 'd' } }]), decision(7, 'c', 5, 'aborted', null), decision(8, 'd', 6, 'committed', 5)], rejects: [] },
  // v9 re-sends the transaction first certified at v1: it never reaches the queue.
  { messages: [candidate(9, 'a', [{ PUT: { k: 'a' } }]), decision(10, 'a', 9, 'committed', 1, 1)], rejects: [] },
  // A malformed record at 11, and a decision for a version that holds no candidate.
  { messages: [decision(12, 'z', 42, 'committed', 3)], rejects: [{ offset: 11, origin: 'topic:0@11', reason: 'not JSON' }] },
];
const batchOf = (chunk: Chunk): ParsedBatch => ({
  messages: chunk.messages,
  rejects: chunk.rejects,
  lastOffset: Math.max(...chunk.messages.map(offsetOf), ...chunk.rejects.map((r) => r.offset ?? 0)),
});

const batches = CHUNKS.map(batchOf);

/** What the queue must receive after the first `delivered` chunks: the oracle. */
function expectedEntries(delivered: number): QueueEntry[] {
  const messages = CHUNKS.slice(0, delivered).flatMap((chunk) => chunk.messages);
  const candidates = new Map<Version, CandidateMessage>(messages.filter((m): m is CandidateMessage => m.kind === 'candidate').map((m) => [m.version, m] as const));
  const decisions = new Map<Version, DecisionMessage>(messages.filter((m): m is DecisionMessage => m.kind === 'decision').map((m) => [m.version, m] as const));
  const entries: QueueEntry[] = [];
  for (const version of [...candidates.keys()].sort((a, b) => a - b)) {
    const decided = decisions.get(version);
    if (!decided) break;
    if (decided.duplicateVersion !== null) continue;
    const raw = candidates.get(version)!.statemap;
    const statemap: readonly StatemapEntry[] = typeof raw === 'string' ? (JSON.parse(raw) as StatemapEntry[]) : isDeferred(raw) ? raw.entries(version) : raw;
    if (decided.outcome !== 'committed') entries.push({ version, safepoint: null, statemap: [] });
    else entries.push({ version, safepoint: decided.safepoint, statemap });
  }
  return entries;
}

// ── Internal event types, read from the machine definition. ────────────────────────────────────
const commitsWaiting = (replicatorServiceMachine.root.states.running as AnyStateNode).states.commits!.states.waiting as AnyStateNode;
const COMMIT_TICK = [...commitsWaiting.transitions.keys()].find((type) => type.startsWith('xstate.after.'))!;
const slowing = (replicatorServiceMachine.root.states.running as AnyStateNode).states.flow!.states.slowing as AnyStateNode;
const STALL_TICK = [...slowing.transitions.keys()].find((type) => type.startsWith('xstate.after.'))!;

type ModelEvent = ReplicatorServiceEvent | { readonly type: typeof COMMIT_TICK } | { readonly type: typeof STALL_TICK };

interface ServiceEnv {
  /** The last commit the service asked the source for. */
  readonly commitAsked: Version;
  /** Chunks of the log the source delivered. */
  readonly delivered: number;
  /** Versions handed to the queue, in order. */
  readonly sent: readonly Version[];
  /** The queue's last progress report (everything at or below it installed) and the last persisted version. */
  readonly installed: Version;
  readonly persisted: Version;
  readonly ended: boolean;
}

type State = ModelSnapshot<ServiceSnapshot, ServiceEnv>;

const logic = machineModel(replicatorServiceMachine, input, {
  initial: (): ServiceEnv => ({ commitAsked: 0, delivered: 0, sent: [], installed: 0, persisted: 0, ended: false }),
  next: (env, event: ModelEvent, _machine, effects): ServiceEnv => {
    let { commitAsked, delivered, sent, installed, persisted, ended } = env;
    if (event.type === 'RECORDS' && (event as { batch: ParsedBatch }).batch === batches[delivered]) delivered += 1;
    if (event.type === 'INSTALLED_UP_TO') installed = (event as { snapshot: Version }).snapshot;
    if (event.type === 'SNAPSHOT_PERSISTED') persisted = (event as { version: Version }).version;
    if (event.type === 'UPSTREAM_ENDED') ended = true;
    for (const report of effects.toParent as ReplicatorServiceReport[]) {
      if (report.type === 'REPLICATOR.STATEMAPS') sent = [...sent, ...report.entries.map((e) => e.version)];
      if (report.type === 'REPLICATOR.COMMIT') commitAsked = report.version;
    }
    return { commitAsked, delivered, sent, installed, persisted, ended };
  },
});
const serialize = (state: State) => {
  const { value, context } = state.machine;
  return JSON.stringify([value, context.suffix, context.persisted, context.committed, context.rejectedRecords, context.throttleMs, context.watchedHead, state.env]);
};

const model = createMachineTestModel(logic, {
  serialize,
  events: (state) => {
    const { machine, env } = state;
    if (machine.matches('waiting')) return [{ type: 'START', snapshot: 0 }];
    const events: ModelEvent[] = [];
    if (env.delivered < batches.length) events.push({ type: 'RECORDS', batch: batches[env.delivered]! });
    if (env.delivered >= 2 && env.delivered < batches.length) events.push({ type: 'RECORDS', batch: batches[0]! });
    for (const version of env.sent) if (version > env.installed) events.push({ type: 'INSTALLED_UP_TO', snapshot: version });
    if (env.installed > env.persisted) events.push({ type: 'SNAPSHOT_PERSISTED', version: env.installed });
    // The source confirms the last commit asked for (until then the service asks again on every tick).
    if (env.commitAsked > (machine.context.committed ?? 0)) events.push({ type: 'OFFSET_COMMITTED', version: env.commitAsked });
    if (env.delivered === batches.length && !env.ended) events.push({ type: 'UPSTREAM_ENDED' });
    events.push({ type: COMMIT_TICK });
    if (machine.matches({ running: { flow: 'slowing' } })) events.push({ type: STALL_TICK });
    return events;
  },
});

function createRealServices(coverage: Coverage) {
  let reports: EventObject[] = [];
  const parent = setup({ actors: { replicator: replicatorServiceMachine } }).createMachine({
    invoke: { id: 'replicator', src: 'replicator', input },
    on: { '*': { actions: ({ event }: { event: EventObject }) => void reports.push(event) } },
  });
  return () => {
    reports = [];
    const clock = new ManualClock();
    const actor = createActor(parent, { clock, inspect: coverage.inspect });
    clock.system = actor.system;
    return { actor, clock, reports: () => reports, service: () => actor.getSnapshot().children.replicator as AnyActorRef };
  };
}

const coverage = new Coverage(replicatorServiceMachine);

test('replicator service: a path to every state of the model replays on the real service', async (t) => {
  const { paths, vertices, edges, steps } = generatePaths(model, 'states');
  t.diagnostic(`model: ${vertices} vertices, ${edges} edges; replayed ${paths.length} paths, ${steps} steps`);
  const createReal = createRealServices(coverage);
  for (const path of paths) {
    const real = createReal();
    let seen = 0;
    let sentSoFar: QueueEntry[] = [];
    let lastCommit = 0;
    let paused = false;
    let throttle = 0;
    let ended = false;
    await replayPath(logic, path, serialize, {
      start: () => void real.actor.start(),
      exec: async (event) => {
        if (event.type === COMMIT_TICK) assert.equal(real.clock.fire((e) => e?.type === COMMIT_TICK), config.certifierMessageReceiverCommitFreqMs);
        else if (event.type === STALL_TICK) assert.equal(real.clock.fire((e) => e?.type === STALL_TICK), config.backpressureStallMs);
        else real.service().send(event);
        await settle();
      },
      check: (expected) => {
        const snapshot = real.service().getSnapshot() as ServiceSnapshot;
        const { context } = snapshot;
        assert.deepEqual(snapshot.value, expected.machine.value);
        const project = (c: ServiceSnapshot['context']) => JSON.stringify([c.suffix, c.persisted, c.committed, c.rejectedRecords, c.throttleMs, c.watchedHead]);
        assert.equal(project(context), project(expected.machine.context));
        const reports = real.reports().slice(seen) as ReplicatorServiceReport[];
        seen = real.reports().length;
        assert.deepEqual(reports, expected.effects.toParent);

        for (const report of reports) {
          switch (report.type) {
            case 'REPLICATOR.STATEMAPS':
              assert.ok(!ended, 'no statemaps after the end was passed on');
              sentSoFar = [...sentSoFar, ...report.entries];
              break;
            case 'REPLICATOR.COMMIT':
              assert.ok(report.version >= lastCommit && report.version > (context.committed ?? 0), `commit ${report.version}: only upwards, until confirmed`);
              assert.ok(report.version <= expected.env.persisted, `commit ${report.version}: only a persisted snapshot`);
              lastCommit = report.version;
              break;
            case 'REPLICATOR.PAUSE':
              assert.ok(!paused, 'PAUSE and RESUME alternate');
              assert.ok(
                context.suffix!.size >= config.suffixCapacity || (snapshot.matches({ running: { flow: 'stalled' } }) && context.suffix!.size >= 2),
                'paused only when the suffix is full, or above the fill threshold with its head stalled',
              );
              paused = true;
              break;
            case 'REPLICATOR.THROTTLE':
              throttle = report.delayMs;
              break;
            case 'REPLICATOR.RESUME':
              assert.ok(paused, 'PAUSE and RESUME alternate');
              paused = false;
              break;
            case 'REPLICATOR.UPSTREAM_ENDED':
              ended = true;
              break;
          }
        }
        // The queue got exactly the decided run, in version order, once each.
        const built = sentSoFar.map((e) => ({ version: e.version, safepoint: e.safepoint, statemap: statemapEntries(e.statemap, e.version) }));
        assert.deepEqual(built, expectedEntries(expected.env.delivered));
        assert.ok((context.committed ?? 0) <= lastCommit, 'committed only what was asked for');
        if (snapshot.matches('running')) {
          assert.equal(snapshot.matches({ running: { flow: 'full' } }) || snapshot.matches({ running: { flow: 'stalled' } }), paused);
          const suffix = context.suffix!;
          if (paused) assert.ok(suffix.head < suffix.nextToSend, 'never paused while the suffix only holds undecided candidates');
          if (snapshot.matches({ running: { flow: 'flowing' } })) assert.equal(throttle, 0, 'a flowing source is not throttled');
          if (snapshot.matches({ running: { flow: 'slowing' } })) assert.equal(throttle, throttleDelayMs(config, suffix.size), 'a slowing source waits for the fill it has');
        }
        assert.equal(context.rejectedRecords, CHUNKS.slice(0, expected.env.delivered).reduce((n, c) => n + c.rejects.length, 0) + (expected.env.delivered >= 5 ? 1 : 0));
      },
      stop: () => real.actor.stop(),
    });
  }
});

test('replicator service: the generated paths reach every state and take every transition', (t) => {
  t.diagnostic(coverage.summary());
  assert.deepEqual(coverage.missing(), { states: [], transitions: [] });
  assert.equal(coverage.states.size, 10);
  assert.equal(coverage.transitions.size, 17);
});
