/**
 * Derives what /status, /health, the gauges, the status page and the stats line show, from the
 * actors' own snapshots: nothing is mirrored or kept in step, so it cannot disagree with the
 * machines. Reading is cheap (a few getSnapshot calls and counters the structures keep anyway).
 *
 * Child actors are remembered once seen: when the root ends, its snapshot no longer lists them,
 * but their last snapshots still say where the queue, the installer and the persister stopped.
 */
import type { AnyActorRef, StateValue } from 'xstate';
import type { Version } from '../../machines/domain.js';
import { PAUSED_FLOW_STATES } from '../../machines/backpressure.js';
import { BACKPRESSURE_RANK, backpressureLevelOf, flowStateOf, healthOf, type BackpressureLevel, type Health } from './health.js';
import type { RateMeter } from './history.js';
import type { LastError, ReportedError } from './lastError.js';
import type { GaugeSample } from './metrics.js';
import type { PipelineProbe } from './pipelineProbe.js';
import { leafPaths } from './statecharts.js';

export interface MachineStatus {
  /** active, done, stopped or error; `unknown` before the actor exists. */
  readonly status: string;
  /** Active leaf states, e.g. ["running.flow.flowing", "running.commits.waiting"]; null for actors without states. */
  readonly state: readonly string[] | null;
}

export interface QueueStatus {
  /** Items received and not yet covered by the snapshot. */
  readonly size: number;
  /** Waiting to be installed (ready, waiting for their safepoint, or backing off after a failure). */
  readonly awaiting: number;
  readonly waitingForSafepoint: number;
  readonly backingOff: number;
  /** Handed to the installer, no outcome yet (installing + installer backlog). */
  readonly inflight: number;
  readonly installing: number;
  readonly installerBacklog: number;
  /** Installed but not yet covered by the snapshot (an earlier version is still pending). */
  readonly installed: number;
  /** Out of attempts (the replicator stops). */
  readonly failed: number;
}

export interface ReplicatorStatus {
  readonly time: string;
  readonly uptimeSeconds: number;
  readonly health: Health;
  /** The root's state: starting, running, stopping, closing, stopped or failed. */
  readonly state: string;
  /** Every actor of the replicator: root, replicator (service), queue, installer, persister, source, pool. */
  readonly machines: Readonly<Record<string, MachineStatus>>;
  readonly snapshot: { readonly inMemory: Version | null; readonly persisted: Version | null };
  readonly committedOffset: Version | null;
  readonly lastOffsetSeen: Version | null;
  /** Offsets read past the in-memory snapshot (last offset seen − snapshot); 0 once every candidate read is installed. */
  readonly lag: number | null;
  /** The last offset of the log as the source last saw it (Kafka: high watermark − 1); null when the source does not say. */
  readonly endOffset: Version | null;
  /** Offsets on the log not read yet (end offset − last offset seen): how far reading is behind the log. */
  readonly unread: number | null;
  readonly queue: QueueStatus | null;
  readonly suffix: { readonly size: number; readonly head: Version; readonly nextToSend: Version } | null;
  readonly backpressure: { readonly level: BackpressureLevel; readonly sourcePaused: boolean };
  /** Reading Kafka in a consumer group: this process's ownership of the topic; null otherwise. */
  readonly failover: FailoverStatus | null;
  readonly installs: { readonly total: number | null; readonly failedAttempts: number | null; readonly perSecond: number | null };
  readonly rejectedRecords: number;
  readonly lastError: ReportedError | null;
}

interface QueueLike {
  readonly size: number;
  readonly snapshot: Version;
  counts(): Readonly<Record<string, number>>;
  toJSON(): { waiting?: number };
}

interface SuffixLike {
  readonly size: number;
  readonly head: Version;
  readonly nextToSend: Version;
  readonly lastOffset: Version;
}

/** What a snapshot of any of our actors looks like, loosely. */
interface LooseSnapshot {
  readonly status: string;
  readonly value?: StateValue;
  readonly context?: Record<string, unknown>;
  readonly children?: Record<string, AnyActorRef | undefined>;
  readonly error?: unknown;
}

/** Actor ids, and the parent under which each is spawned. */
const CHILDREN: ReadonlyArray<readonly [parent: string, child: string]> = [
  ['root', 'replicator'],
  ['root', 'queue'],
  ['root', 'source'],
  ['queue', 'installer'],
  ['queue', 'persister'],
  ['installer', 'pool'],
];

const MACHINES_WITH_STATES = new Set(['root', 'replicator', 'queue', 'installer', 'persister']);

export interface StatusModelOptions {
  readonly probe: PipelineProbe | null;
  readonly lastError: LastError;
  readonly rate: RateMeter | null;
  readonly isStarted: () => boolean;
  /**
   * When the actor given is the failover machine (Kafka), the cohort replicator of the current
   * turn of ownership, which is the `root` of everything else here; undefined on standby.
   */
  readonly turnOf?: () => AnyActorRef | undefined;
  /** The source's `endOffset`, when it has one. */
  readonly endOffset?: () => Version | null;
}

/** The failover machine's part of the status (Kafka consumers in a group). */
export interface FailoverStatus {
  /** standby, owning.replicating, owning.handingOver, owning.stopping, leaving, stopped, failed. */
  readonly state: string;
  /** Whether this process owns the certification topic's partition. */
  readonly owned: boolean;
  /** Turns of ownership that ran a replicator. */
  readonly turns: number;
}

export class StatusModel {
  /** The process's top actor: the root itself, or the failover machine above the turns. */
  readonly #top: AnyActorRef;
  readonly #refs = new Map<string, AnyActorRef>();
  readonly #options: StatusModelOptions;
  readonly #createdAt = Date.now();

  constructor(root: AnyActorRef, options: StatusModelOptions) {
    this.#top = root;
    this.#options = options;
    if (!options.turnOf) this.#refs.set('root', root);
  }

  /** Follows the failover machine to the current turn's replicator; forgets the last turn's actors when a new one starts. */
  #resolveRoot(): void {
    if (!this.#options.turnOf) return;
    const turn = this.#options.turnOf();
    if (turn === this.#refs.get('root')) return;
    this.#refs.clear();
    if (turn) this.#refs.set('root', turn);
  }

  #failover(): FailoverStatus | null {
    if (!this.#options.turnOf) return null;
    const top = this.#top.getSnapshot() as LooseSnapshot;
    const context = (top.context ?? {}) as { owned?: boolean; turns?: number };
    return { state: leafPaths(top.value).join(', '), owned: Boolean(context.owned), turns: Number(context.turns ?? 0) };
  }

  get probe(): PipelineProbe | null {
    return this.#options.probe;
  }

  #snapshot(id: string): LooseSnapshot | undefined {
    // Refresh the references from the parents' current snapshots (actors are respawned only on restart of the parent, which never happens here, but be exact).
    for (const [parent, child] of CHILDREN) {
      if (child !== id) continue;
      const parentSnapshot = this.#snapshot(parent);
      const ref = parentSnapshot?.children?.[child];
      if (ref) this.#refs.set(child, ref);
    }
    return this.#refs.get(id)?.getSnapshot() as LooseSnapshot | undefined;
  }

  #error(root: LooseSnapshot): string | null {
    const error = (root.context?.error as Error | null | undefined) ?? (root.status === 'error' ? root.error : null);
    if (error === null || error === undefined) return null;
    return error instanceof Error ? error.message : String(error);
  }

  health(): Health {
    this.#resolveRoot();
    const root = this.#snapshot('root');
    return root ? this.#health(root) : this.#healthBetweenTurns();
  }

  /** No turn running: standing by (healthy, ready to take over), leaving, or ended. */
  #healthBetweenTurns(): Health {
    const top = this.#top.getSnapshot() as LooseSnapshot;
    const error = this.#error(top);
    if (top.value === 'failed' || top.status === 'error') return { live: false, ready: false, reasons: [`failed: ${error ?? 'unknown error'}`] };
    if (top.value === 'standby') return { live: true, ready: true, reasons: [] };
    return { live: true, ready: false, reasons: [String(top.value)] };
  }

  #health(root: LooseSnapshot): Health {
    const queue = this.#snapshot('queue');
    const replicator = this.#snapshot('replicator');
    return healthOf({
      started: this.#options.isStarted(),
      status: root.status as 'active',
      state: typeof root.value === 'string' ? root.value : JSON.stringify(root.value),
      error: this.#error(root),
      backpressure: backpressureLevelOf(replicator?.value),
      snapshotLoadAttempts: Number(queue?.context?.loadAttempts ?? 0),
    });
  }

  status(): ReplicatorStatus {
    this.#resolveRoot();
    const turn = this.#snapshot('root');
    // Between turns of a Kafka replicator (standby, leaving) the failover machine's state stands for the root's.
    const root: LooseSnapshot = turn ?? { status: 'unknown', value: (this.#top.getSnapshot() as LooseSnapshot).value, context: {} };
    const rootContext = (root.context ?? {}) as { snapshot?: Version | null; persisted?: Version | null; committed?: Version | null };
    const machines: Record<string, MachineStatus> = {};
    for (const id of ['root', 'replicator', 'queue', 'installer', 'persister', 'source', 'pool']) {
      const snapshot = this.#snapshot(id);
      machines[id] = { status: snapshot?.status ?? 'unknown', state: MACHINES_WITH_STATES.has(id) && snapshot ? leafPaths(snapshot.value) : null };
    }
    const replicatorContext = this.#snapshot('replicator')?.context;
    const suffix = (replicatorContext?.suffix ?? null) as SuffixLike | null;
    const queue = this.#queueStatus();
    const lastOffsetSeen = suffix ? suffix.lastOffset : null;
    const endOffset = this.#options.endOffset?.() ?? null;
    const inMemory = (this.#queueData()?.snapshot ?? rootContext.snapshot ?? null) as Version | null;
    const probe = this.#options.probe;
    const installed = probe ? probe.installed : null;
    const rootError = this.#error(root);
    const lastError = this.#options.lastError.last;
    return {
      time: new Date().toISOString(),
      uptimeSeconds: (Date.now() - this.#createdAt) / 1000,
      health: turn ? this.#health(turn) : this.#healthBetweenTurns(),
      state: typeof root.value === 'string' ? root.value : JSON.stringify(root.value),
      failover: this.#failover(),
      machines,
      snapshot: { inMemory, persisted: rootContext.persisted ?? null },
      committedOffset: rootContext.committed ?? null,
      lastOffsetSeen,
      lag: this.#lag(lastOffsetSeen, inMemory, suffix, queue),
      endOffset,
      unread: endOffset === null || lastOffsetSeen === null ? null : Math.max(0, endOffset - lastOffsetSeen),
      queue,
      suffix: suffix ? { size: suffix.size, head: suffix.head, nextToSend: suffix.nextToSend } : null,
      backpressure: { level: backpressureLevelOf(this.#snapshot('replicator')?.value), sourcePaused: this.#sourcePaused() },
      installs: {
        total: installed,
        failedAttempts: probe ? probe.installFailures : null,
        perSecond: installed !== null && this.#options.rate ? this.#options.rate.rate(installed) : null,
      },
      rejectedRecords: Number(replicatorContext?.rejectedRecords ?? 0),
      // The error that ended the replicator outranks the last warning.
      lastError: rootError !== null && lastError?.message !== rootError ? { level: 'error', message: rootError, at: lastError?.at ?? new Date().toISOString() } : lastError,
    };
  }

  /**
   * Offsets read past the snapshot, or 0 once every candidate read is installed (the decisions
   * after the last candidate are never covered by a snapshot, but leave nothing to do).
   */
  #lag(lastOffsetSeen: Version | null, snapshot: Version | null, suffix: SuffixLike | null, queue: QueueStatus | null): number | null {
    if (lastOffsetSeen === null || snapshot === null) return null;
    const allInstalled = queue !== null && queue.size === 0 && suffix !== null && suffix.nextToSend > suffix.lastOffset;
    return allInstalled ? 0 : Math.max(0, lastOffsetSeen - snapshot);
  }

  #queueData(): QueueLike | null {
    return (this.#snapshot('queue')?.context?.queue ?? null) as QueueLike | null;
  }

  #sourcePaused(): boolean {
    const flow = flowStateOf(this.#snapshot('replicator')?.value);
    return flow !== null && PAUSED_FLOW_STATES.includes(flow);
  }

  #queueStatus(): QueueStatus | null {
    const queue = this.#queueData();
    if (!queue) return null;
    const counts = queue.counts();
    const installerContext = this.#snapshot('installer')?.context as { backlog?: { length: number } } | undefined;
    const backlog = installerContext?.backlog?.length ?? 0;
    const ready = counts['awaiting.ready'] ?? 0;
    const backingOff = counts['awaiting.backingOff'] ?? 0;
    const inflight = counts['inflight'] ?? 0;
    return {
      size: queue.size,
      awaiting: ready + backingOff,
      waitingForSafepoint: Math.min(ready, queue.toJSON().waiting ?? 0),
      backingOff,
      inflight,
      installing: Math.max(0, inflight - backlog),
      installerBacklog: backlog,
      installed: counts['installed'] ?? 0,
      failed: counts['failed'] ?? 0,
    };
  }

  /** What the observable instruments report. */
  gauges(): GaugeSample {
    const s = this.status();
    const q = s.queue;
    return {
      queueSize: q?.size ?? null,
      snapshot: s.snapshot.inMemory,
      installerBacklog: q?.installerBacklog ?? null,
      inflight: q?.inflight ?? null,
      installing: q?.installing ?? null,
      queueItems: q ? { awaiting: q.awaiting, backing_off: q.backingOff, inflight: q.inflight, installed: q.installed, failed: q.failed } : null,
      persisted: s.snapshot.persisted,
      committed: s.committedOffset,
      lastOffsetSeen: s.lastOffsetSeen,
      lag: s.lag,
      endOffset: s.endOffset,
      unread: s.unread,
      suffixSize: s.suffix?.size ?? null,
      backpressureLevel: BACKPRESSURE_RANK[s.backpressure.level],
      sourcePaused: s.backpressure.sourcePaused,
      rejected: s.rejectedRecords,
      live: s.health.live,
      ready: s.health.ready,
    };
  }
}
